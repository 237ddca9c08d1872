"""The work queue: the fold of an item's actions (pure and in SQL), and the API on the real engine
over a failed posting and breached timers, with every action, the role checks, bad input, paging
and the automatic resolution when the posting succeeds later."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI

from domain import semconv as sc
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BlockedInvoiceAnswers
from slas.timer_answers import TimerAnswers
from slas.work_item_metrics import WorkItemCounts
from slas.work_items import (
    ACKNOWLEDGED,
    ASSIGNED,
    AUTOMATIC,
    BLOCKING_FAILURE,
    BREACHED_TIMER,
    COMMENTED,
    MANUAL,
    OPEN,
    OPENED,
    REOPENED,
    RESOLVED,
    SNOOZED,
    SYNCSIGHT,
    Action,
    ItemKey,
    fold,
)
from slas.work_items_api import work_items_router
from slas.work_queue import COLUMNS, LATEST_ACTIONS, WorkQueue, _action, _row
from syncsight.access import AccessControl, ApiTokens
from tests.slas.events import Event, at, event, retried, span_rows
from tests.slas.tiny_quarter import SETTLE, template_copy
from tests.templates import Templates
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.pool import ClientPool
from warehouse.schema import WORK_ITEM_EVENTS
from warehouse.spans import OTEL_TRACES_COLUMNS

VIEWER = "viewer-token-0123456789abcdef"
AUDITOR = "auditor-token-0123456789abcdef"
OPERATOR = "operator-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
TOKENS = f"{VIEWER}:viewer,{AUDITOR}:auditor,dana.ops={OPERATOR}:operator,{ADMIN}:admin"
KEY = ItemKey(BLOCKING_FAILURE, "invoice.posted:INV-1")
NOW = at(days=6)  # Sunday 09:00 UTC; the posting failed on Monday 11:00


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def action(name: str, minutes: float, **more: Any) -> Action:
    return Action(KEY, name, "dana.ops", NOW + timedelta(minutes=minutes), **more)


class TestFold:
    def test_the_latest_state_changing_action_wins_and_a_comment_changes_nothing(self) -> None:
        """Acknowledged, then assigned, then commented: assigned, with the comment shown."""
        state = fold(
            [
                action(ACKNOWLEDGED, 1),
                action(ASSIGNED, 2, assignee="erp team"),
                action(COMMENTED, 3, text="vendor ticket 42"),
            ],
            still_open=True,
            now=NOW + timedelta(hours=1),
        )
        assert (state.state, state.assignee, state.last_comment) == (
            ASSIGNED,
            "erp team",
            "vendor ticket 42",
        )

    def test_a_snooze_that_ran_out_falls_back_to_the_state_before_it(self) -> None:
        """Snoozed for an hour: snoozed within it, acknowledged again after it."""
        actions = [
            action(ACKNOWLEDGED, 1),
            action(SNOOZED, 2, snoozed_until=NOW + timedelta(hours=1)),
        ]
        during = fold(actions, still_open=True, now=NOW + timedelta(minutes=30))
        after = fold(actions, still_open=True, now=NOW + timedelta(hours=2))
        assert (during.state, during.snoozed_until) == (SNOOZED, NOW + timedelta(hours=1))
        assert (after.state, after.snoozed_until) == (ACKNOWLEDGED, None)

    def test_an_item_the_business_state_no_longer_holds_is_resolved_automatically(self) -> None:
        """Assigned, then the failure succeeded: resolved, automatically; the assignee stays."""
        state = fold([action(ASSIGNED, 1, assignee="erp team")], still_open=False, now=NOW)
        assert (state.state, state.resolution, state.assignee) == (RESOLVED, AUTOMATIC, "erp team")

    def test_a_resolution_by_hand_stays_manual_after_the_condition_ends(self) -> None:
        """Resolved by hand first: it reads as resolved by hand, also once it no longer blocks."""
        actions = [action(RESOLVED, 1, text="posted by hand in the ERP")]
        assert fold(actions, still_open=True, now=NOW).resolution == MANUAL
        assert fold(actions, still_open=False, now=NOW).resolution == MANUAL

    def test_reopening_makes_it_open_again(self) -> None:
        """Resolved, then reopened: open."""
        actions = [action(RESOLVED, 1, text="wrong"), action(REOPENED, 2)]
        assert fold(actions, still_open=True, now=NOW).state == OPEN

    def test_the_sql_fold_reads_what_the_whole_history_gives(self, client: Client) -> None:
        """``LIMIT 1 BY`` keeps each action kind's latest row, and folding those equals folding
        every row, for a history with repeated actions."""
        migrate(client, CorrelationRules.default())
        history = [
            action(OPENED, 0),
            action(ACKNOWLEDGED, 1),
            action(ASSIGNED, 2, assignee="erp team"),
            action(COMMENTED, 3, text="first"),
            action(SNOOZED, 4, snoozed_until=NOW + timedelta(hours=3)),
            action(ASSIGNED, 5, assignee="billing-operations"),
            action(COMMENTED, 6, text="second"),
            action(SNOOZED, 7, snoozed_until=NOW + timedelta(hours=1)),
        ]
        client.insert(
            WORK_ITEM_EVENTS, [_row(KEY.item_id, a) for a in history], column_names=list(COLUMNS)
        )
        rows = client.query(LATEST_ACTIONS, parameters={"items": [KEY.item_id]}).result_rows
        latest = [_action(row) for row in rows]
        assert len(latest) == 5
        for moment in (NOW + timedelta(minutes=30), NOW + timedelta(hours=2)):
            assert fold(latest, still_open=True, now=moment) == fold(
                history, still_open=True, now=moment
            )
        assert fold(latest, still_open=True, now=NOW + timedelta(hours=2)).state == ASSIGNED


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class InProcess:
    """The router in an app, called in-process over ASGI (the engine belongs to this process)."""

    app: FastAPI

    def request(self, method: str, path: str, **more: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://syncsight") as http:
                return await http.request(method, path, **more)

        return asyncio.run(call())

    def get(self, path: str, **more: Any) -> httpx.Response:
        return self.request("GET", path, **more)

    def post(self, path: str, **more: Any) -> httpx.Response:
        return self.request("POST", path, **more)


@dataclass
class Queue:
    http: InProcess
    clock: Clock
    pool: ClientPool
    state: BusinessState
    posting: Event
    work: WorkQueue


def posting_failed() -> list[Event]:
    """A project, its bill-ready billing event (200,000 EUR) and the invoice posting that fails
    (downstream: the integration platform team's), and a contract whose project never comes."""
    project = {sc.PROJECT: "PRJ-1"}
    activated = event(sc.PROJECT_ACTIVATED, "PRJ-1", project, at(), legal_entity="LE-DE01")
    ready = event(
        sc.BILLING_READY,
        "BE-1",
        {sc.BILLING_EVENT: "BE-1", **project},
        at(hours=1),
        amount=200000.0,
    )
    posting = event(
        sc.INVOICE_POSTED,
        "INV-1",
        {sc.INVOICE: "INV-1", sc.BILLING_EVENT: "BE-1", **project},
        at(hours=2),
        outcome=sc.FAILED,
        amount=200000.0,
        legal_entity="LE-DE01",
    )
    posting.error = (sc.DOWNSTREAM, "HTTP 503")
    contract = event(
        sc.CONTRACT_SIGNED,
        "CON-7",
        {sc.CONTRACT: "CON-7"},
        at(),
        amount=50000.0,
        legal_entity="LE-US01",
    )
    contract.currency = "USD"
    return [activated, ready, posting, contract]


def tick(state: BusinessState) -> None:
    time.sleep(0.002)  # every row stored so far is older than the watermark
    state.tick(datetime.now(UTC))


def _posting_failed_ticked(template: Client) -> tuple[BusinessState, None]:
    """``posting_failed``'s spans stored in a migrated database and the state ticked over them:
    what every ``queue`` starts from (a template copied into the test's database)."""
    template.insert("otel_traces", span_rows(posting_failed()), column_names=OTEL_TRACES_COLUMNS)
    keeper = BusinessState(lambda: template, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)
    tick(keeper)
    return keeper, None


@pytest.fixture
def queue(engine_url: str, database: str, client: Client, templates: Templates) -> Iterator[Queue]:
    pool = ClientPool(engine_url, database=database)
    events = posting_failed()
    book = CalendarBook()
    state, _ = template_copy(
        templates,
        engine_url,
        client,
        "work_queue_posting_failed",
        _posting_failed_ticked,
        lambda _, streamer: BusinessState(pool.client, DEFAULT_SLAS, book, settle=SETTLE),
    )
    owners = OwnerRouting()
    work = WorkQueue(
        pool.client,
        BlockedInvoiceAnswers(pool.client, LineageRules.default(), owners, state),
        TimerAnswers(pool.client, DEFAULT_SLAS, book, state),
        book,
        sla_owners={d.name: d.owner for d in DEFAULT_SLAS},
        default_owner=owners.default,
    )
    clock = Clock(NOW)
    app = FastAPI()
    app.include_router(work_items_router(work, clock), prefix="/api/v1")
    app.add_middleware(AccessControl, tokens=ApiTokens.parse(TOKENS))
    try:
        yield Queue(InProcess(app), clock, pool, state, events[2], work)
    finally:
        pool.close()


def items(queue: Queue, token: str = VIEWER, **params: Any) -> dict[str, Any]:
    response = queue.http.get("/api/v1/work-items", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def post(queue: Queue, verb: str, body: Any = None, token: str = OPERATOR) -> Any:
    return queue.http.post(
        f"/api/v1/work-items/{KEY.item_id}/{verb}", json=body, headers=bearer(token)
    )


class TestList:
    def test_the_failed_posting_is_open_with_its_owner_money_and_business_age(
        self, queue: Queue
    ) -> None:
        """One item for the failure: the platform team's, 200,000 EUR as an exact decimal
        string, aged in business time (the default calendar: whole weekdays, UTC), so the
        weekend does not count: Monday 13 h and Tuesday to Friday 4 x 24 h."""
        listed = items(queue, kind=BLOCKING_FAILURE)
        assert listed["total"] == 1
        (item,) = listed["items"]
        assert item["id"] == KEY.item_id
        assert (item["event_id"], item["owner"], item["state"]) == (
            "invoice.posted:INV-1",
            "integration platform team",
            OPEN,
        )
        assert item["detail"] == "downstream: HTTP 503"
        assert item["legal_entities"] == ["LE-DE01"]
        assert Decimal(item["money_blocked"]["EUR"]) == Decimal("200000")
        assert isinstance(item["money_blocked"]["EUR"], str)
        assert item["blocked_items"] == 1
        assert item["age_business_hours"] == pytest.approx(13 + 4 * 24, abs=0.01)

    @pytest.mark.parametrize(
        ("token", "may_act"), [(VIEWER, False), (AUDITOR, False), (OPERATOR, True), (ADMIN, True)]
    )
    def test_the_list_says_whether_the_token_may_act(
        self, queue: Queue, token: str, may_act: bool
    ) -> None:
        """Operators and admins may act, viewers and auditors may only read."""
        assert items(queue, token)["may_act"] is may_act

    def test_breached_timers_are_items_owned_by_their_sla_owner(self, queue: Queue) -> None:
        """The contract without a project and the unposted billing event are breached timers,
        each owned by its SLA's owner, with the timer's amount."""
        listed = items(queue, kind=BREACHED_TIMER)["items"]
        by_sla = {i["sla"]: i for i in listed}
        assert by_sla["time-to-project-creation"]["owner"] == "sales-operations"
        assert by_sla["time-to-project-creation"]["key_id"] == "CON-7"
        assert by_sla["time-to-project-creation"]["money_blocked"] == {"USD": "50000.00"}
        assert by_sla["time-to-invoice-posting"]["owner"] == "billing-operations"

    def test_filters_by_owner_and_legal_entity(self, queue: Queue) -> None:
        """Owner and legal entity filters keep only the matching items."""
        owned = items(queue, owner="sales-operations")["items"]
        assert [i["key_id"] for i in owned] == ["CON-7"]
        assert all(
            "LE-US01" in i["legal_entities"] for i in items(queue, legal_entity="LE-US01")["items"]
        )
        assert items(queue, owner="nobody")["total"] == 0

    def test_pages_walk_every_item_once(self, queue: Queue) -> None:
        """limit=1 with next_cursor visits each item of the full list once, in order."""
        everything = [i["id"] for i in items(queue)["items"]]
        assert len(everything) >= 3
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = items(queue, **params)
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == everything

    def test_each_owner_s_count_and_money_cover_every_page_not_the_listed_one(
        self, queue: Queue
    ) -> None:
        """The work-queue page grouped and summed only the items it had listed (the oldest 2,000
        of 9,302 on the medium quarter, read as each team's total, found from outside): every
        page names each owner's count, money and oldest item over all the matching items."""
        everything = items(queue, limit=1000)["items"]
        assert len({i["owner"] for i in everything}) >= 2
        page = items(queue, limit=1)
        assert len(page["items"]) == 1
        assert page["total"] == len(everything)
        by_owner: dict[str, dict[str, Any]] = {}
        for item in everything:  # oldest first: an owner's first item is its oldest
            owned = by_owner.setdefault(
                item["owner"], {"items": 0, "money": {}, "oldest": item["age_business_hours"]}
            )
            owned["items"] += 1
            for currency, amount in item["money_blocked"].items():
                owned["money"][currency] = owned["money"].get(currency, 0) + Decimal(amount)
        assert [o["owner"] for o in page["owners"]] == list(by_owner)
        for owner in page["owners"]:
            want = by_owner[owner["owner"]]
            assert owner["items"] == want["items"]
            assert {c: Decimal(a) for c, a in owner["money_blocked"].items()} == want["money"]
            assert owner["oldest_business_hours"] == want["oldest"]
        assert page["owners"] == items(queue, limit=2)["owners"], "every page alike"

    @pytest.mark.parametrize(
        ("params", "status", "message"),
        [
            ({"state": "closed"}, 422, "state='closed': expected one of open"),
            ({"kind": "incident"}, 422, "kind='incident': expected one of blocking_failure"),
            ({"cursor": "page-2"}, 400, "cursor='page-2': expected the next_cursor"),
        ],
    )
    def test_bad_filters_are_named(
        self, queue: Queue, params: dict[str, str], status: int, message: str
    ) -> None:
        """A bad state, kind or cursor answers with the parameter, the value and the expectation."""
        response = queue.http.get("/api/v1/work-items", params=params, headers=bearer(VIEWER))
        assert response.status_code == status
        assert message in response.json()["detail"]


class TestMetrics:
    def test_metrics_count_the_items_by_state_and_kind(self, queue: Queue) -> None:
        """The failure and the breached timers, open; an acknowledgement moves one, seen once
        the count is older than its interval (a count is never worked out per scrape: a
        scrape starts it in the background and serves the last one)."""
        counts = WorkItemCounts(queue.work, queue.clock, every=0, busy_share=1.0)
        before = samples(counts)
        breached = len(items(queue, kind=BREACHED_TIMER)["items"])
        assert before == {(OPEN, BLOCKING_FAILURE): 1, (OPEN, BREACHED_TIMER): breached}
        assert post(queue, "acknowledge").status_code == 200
        after = samples(counts)
        assert (OPEN, BLOCKING_FAILURE) not in after
        assert after[("acknowledged", BLOCKING_FAILURE)] == 1
        cached = WorkItemCounts(queue.work, queue.clock, every=3600)
        first = samples(cached)
        assert post(queue, "assign", {"assignee": "erp team"}).status_code == 200
        assert samples(cached) == first  # still "acknowledged": not counted again yet
        assert ("assigned", BLOCKING_FAILURE) in samples(counts)

    def test_the_count_is_the_listing_counted_whatever_people_did_and_whatever_ended(
        self, queue: Queue
    ) -> None:
        """``counts`` (the breached timers counted in the engine, only the items with a history
        folded) gives what counting every listed item gives: with items acknowledged, assigned,
        snoozed and resolved by hand, an extra comment-only history, a snooze that ran out, and
        after the posting succeeds, which ends the failure and the invoice-posting timer alike
        (both then resolve automatically, one of them with a history)."""

        def listing() -> Counter[tuple[str, str]]:
            found = queue.work.listed(queue.clock.now)
            return Counter(
                (i.state.state, i.open_item.key.kind if i.open_item else i.history[0].key.kind)
                for i in found
            )

        def act(item_id: str, verb: str, body: Any = None) -> None:
            response = queue.http.post(
                f"/api/v1/work-items/{item_id}/{verb}", json=body, headers=bearer(OPERATOR)
            )
            assert response.status_code == 200, response.text

        timers = {i["sla"]: i["id"] for i in items(queue, kind=BREACHED_TIMER)["items"]}
        assert set(timers) >= {"time-to-project-creation", "time-to-invoice-posting"}
        assert queue.work.counts(queue.clock.now) == listing()
        act(KEY.item_id, "acknowledge")
        act(timers["time-to-invoice-posting"], "assign", {"assignee": "billing"})
        snooze_until = queue.clock.now + timedelta(hours=2)
        act(timers["time-to-project-creation"], "snooze", {"until": snooze_until.isoformat()})
        seen = [listing()]
        assert queue.work.counts(queue.clock.now) == seen[-1]
        queue.clock.now += timedelta(hours=3)  # the snooze ran out
        seen.append(listing())
        assert queue.work.counts(queue.clock.now) == seen[-1]
        act(timers["time-to-project-creation"], "resolve", {"reason": "handled by hand"})
        seen.append(listing())
        assert queue.work.counts(queue.clock.now) == seen[-1]
        posted = retried(queue.posting, (at(days=2), sc.SUCCESS, "2026-09"))
        queue.pool.client().insert(
            "otel_traces", span_rows([posted]), column_names=OTEL_TRACES_COLUMNS
        )
        tick(queue.state)
        seen.append(listing())
        assert queue.work.counts(queue.clock.now) == seen[-1]
        assert seen[-1][(RESOLVED, BLOCKING_FAILURE)] == 1  # the failure ended
        assert seen[-1][(RESOLVED, BREACHED_TIMER)] >= 2  # by hand, and the posting's timer
        assert len(set(map(frozenset, (c.items() for c in seen)))) == len(seen)  # each step moved

    def test_a_slow_count_never_holds_a_scrape_and_spaces_the_next(self) -> None:
        """A count that takes long runs in the background: scrapes meanwhile answer at once with
        the last counts, and the next count waits until counting has taken no more than its
        share of the time."""

        class SlowQueue:
            calls = 0
            release = threading.Event()

            def counts(self, now: datetime) -> Counter[tuple[str, str]]:
                self.calls += 1
                self.release.wait(30)
                return Counter()

        queue = SlowQueue()
        counts = WorkItemCounts(
            cast(WorkQueue, queue), lambda: datetime.now(UTC), every=0, busy_share=0.01
        )
        list(counts.collect())  # starts the first count, which now waits
        assert not counts.wait(0.2)
        answered = [list(counts.collect()) for _ in range(5)]  # none of them waits for it
        assert all(len(families) == 3 for families in answered)
        assert queue.calls == 1
        time.sleep(0.1)
        queue.release.set()
        assert counts.wait(10)
        list(counts.collect())  # took >= 0.3 s at a 1 % share: the next waits ~30 s, not 0
        assert counts.wait(1)
        assert queue.calls == 1

    def test_a_hung_count_is_flagged_and_its_counts_age(self) -> None:
        """A count that never returns does not hold a scrape, and it does not go unnoticed
        either: past ``stale_after`` the scrape says the count failed, and the counts' age keeps
        growing; once a count completes again both clear."""

        class HungQueue:
            release = threading.Event()

            def counts(self, now: datetime) -> Counter[tuple[str, str]]:
                self.release.wait(30)
                return Counter()

        queue = HungQueue()
        counts = WorkItemCounts(
            cast(WorkQueue, queue),
            lambda: datetime.now(UTC),
            every=0,
            busy_share=1.0,
            stale_after=0.3,
        )
        failed, age = flagged(counts)  # starts the count, which now hangs
        assert failed == 0.0
        assert age == pytest.approx(0.0, abs=0.2)
        time.sleep(0.5)
        failed, age = flagged(counts)
        assert failed == 1.0
        assert age >= 0.5
        queue.release.set()
        assert counts.wait(10)
        failed, age = flagged(counts)  # served: taken when the hung count began; starts one
        assert failed == 0.0
        assert age >= 0.5
        assert counts.wait(10)
        failed, age = flagged(counts)
        assert failed == 0.0
        assert age == pytest.approx(0.0, abs=0.2)


def flagged(counts: WorkItemCounts) -> tuple[float, float]:
    """What a scrape says of the counts themselves: failed (0 or 1) and their age in seconds."""
    _, failed, age = list(counts.collect())
    return failed.samples[0].value, age.samples[0].value


def samples(counts: WorkItemCounts) -> dict[tuple[str, str], float]:
    """``syncsight_work_items`` by (state, kind), once a count started by this scrape (when one
    is due) has finished in the background."""
    assert counts.wait(60)  # a count an earlier scrape started
    list(counts.collect())  # starts one when one is due
    assert counts.wait(60)
    (items_family, failed, _) = list(counts.collect())
    assert failed.samples[0].value == 0
    return {(s.labels["state"], s.labels["kind"]): s.value for s in items_family.samples}


class TestActions:
    def test_every_action_is_recorded_with_its_actor_and_changes_the_state(
        self, queue: Queue
    ) -> None:
        """acknowledge, assign, snooze, comment, resolve, reopen: each answers the item in its new
        state, and the history starts with the opening syncsight records."""
        until = NOW + timedelta(hours=4)
        steps = [
            ("acknowledge", None, ACKNOWLEDGED),
            ("assign", {"assignee": "erp team"}, ASSIGNED),
            ("snooze", {"until": until.isoformat()}, SNOOZED),
            ("comment", {"text": "vendor ticket 42"}, SNOOZED),
            ("resolve", {"reason": "posted by hand in the ERP"}, RESOLVED),
            ("reopen", {"text": "the manual posting was reversed"}, OPEN),
        ]
        for verb, body, state in steps:
            response = post(queue, verb, body)
            assert response.status_code == 200, (verb, response.text)
            assert response.json()["state"] == state, verb
        item = queue.http.get(f"/api/v1/work-items/{KEY.item_id}", headers=bearer(VIEWER)).json()
        assert [(h["action"], h["actor"]) for h in item["history"]] == [
            (OPENED, SYNCSIGHT),
            (ACKNOWLEDGED, "dana.ops"),
            (ASSIGNED, "dana.ops"),
            (SNOOZED, "dana.ops"),
            (COMMENTED, "dana.ops"),
            (RESOLVED, "dana.ops"),
            (REOPENED, "dana.ops"),
        ]
        assert item["history"][0]["at"] == "2026-09-07T11:00:00Z"  # when the failure began
        assert (item["assignee"], item["last_comment"]) == ("erp team", "vendor ticket 42")
        assert item["history"][5]["text"] == "posted by hand in the ERP"

    def test_an_unnamed_admin_token_is_recorded_by_role_and_digest(self, queue: Queue) -> None:
        """Admins may act too; without a name the actor is its SHA-256 prefix (never the token)."""
        response = post(queue, "acknowledge", None, token=ADMIN)
        assert response.status_code == 200
        assert response.json()["history"][-1]["actor"].startswith("sha256:")
        assert ADMIN not in response.text

    @pytest.mark.parametrize(
        ("token", "status", "message"),
        [
            (VIEWER, 403, "needs role operator; this token is viewer"),
            (AUDITOR, 403, "needs role operator; this token is auditor"),
            ("not-a-configured-token-0123", 401, "missing or invalid bearer token"),
        ],
    )
    def test_only_operators_and_admins_may_act(
        self, queue: Queue, token: str, status: int, message: str
    ) -> None:
        """Viewers and auditors get 403 naming the role needed; nothing is recorded."""
        response = post(queue, "acknowledge", None, token=token)
        assert response.status_code == status
        assert message in response.json()["detail"]
        item = queue.http.get(f"/api/v1/work-items/{KEY.item_id}", headers=bearer(VIEWER)).json()
        assert item["history"] == []

    @pytest.mark.parametrize(
        ("verb", "body", "status", "message"),
        [
            ("snooze", {"until": "2026-09-09T08:00:00Z"}, 400, "is not in the future"),
            ("resolve", {"reason": "   "}, 400, "the reason is empty"),
            ("comment", {"text": ""}, 400, "the comment text is empty"),
            ("assign", {"assignee": " "}, 400, "expected a team or person"),
            ("comment", {"text": "x" * 2001}, 422, "at most 2000 characters"),
            ("reopen", None, 409, "the item is open, not resolved"),
        ],
    )
    def test_bad_actions_are_refused_with_a_precise_message(
        self, queue: Queue, verb: str, body: Any, status: int, message: str
    ) -> None:
        """Each bad input names the item or field, the value and what was expected."""
        response = post(queue, verb, body)
        assert response.status_code == status, response.text
        assert message in str(response.json()["detail"])

    def test_an_unknown_item_is_404(self, queue: Queue) -> None:
        """Neither open nor in the history: 404 for reads and actions alike."""
        unknown = ItemKey(BLOCKING_FAILURE, "invoice.posted:NOPE").item_id
        for response in (
            queue.http.get(f"/api/v1/work-items/{unknown}", headers=bearer(VIEWER)),
            queue.http.post(f"/api/v1/work-items/{unknown}/acknowledge", headers=bearer(OPERATOR)),
        ):
            assert response.status_code == 404
            assert unknown in response.json()["detail"]

    def test_a_resolved_item_takes_no_action_but_comments_until_reopened(
        self, queue: Queue
    ) -> None:
        """After a manual resolve, acknowledging is a 409 that says to reopen; comments pass."""
        assert post(queue, "resolve", {"reason": "handled"}).status_code == 200
        refused = post(queue, "acknowledge")
        assert refused.status_code == 409
        assert "reopen it first" in refused.json()["detail"]
        assert post(queue, "comment", {"text": "for the record"}).status_code == 200


class TestAutomaticResolution:
    def test_a_later_successful_posting_resolves_the_item(self, queue: Queue) -> None:
        """The posting succeeds on retry: the assigned item reads as resolved automatically, leaves
        the default list, is listed under state=resolved and cannot be reopened."""
        assert post(queue, "assign", {"assignee": "erp team"}).status_code == 200
        posted = retried(queue.posting, (at(days=2), sc.SUCCESS, "2026-09"))
        queue.pool.client().insert(
            "otel_traces", span_rows([posted]), column_names=OTEL_TRACES_COLUMNS
        )
        tick(queue.state)
        item = queue.http.get(f"/api/v1/work-items/{KEY.item_id}", headers=bearer(VIEWER)).json()
        assert (item["state"], item["resolution"], item["assignee"]) == (
            RESOLVED,
            AUTOMATIC,
            "erp team",
        )
        assert item["money_blocked"] == {}
        assert item["owner"] == "integration platform team"
        assert KEY.item_id not in [i["id"] for i in items(queue)["items"]]
        resolved = items(queue, state=RESOLVED)["items"]
        assert [i["id"] for i in resolved] == [KEY.item_id]
        reopen = post(queue, "reopen")
        assert reopen.status_code == 409
        assert "resolved automatically" in reopen.json()["detail"]
