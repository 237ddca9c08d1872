"""The SLA feature on the real engine: spans in, the snapshot read back, the REST API answering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI

from domain import semconv as sc
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas.alerts import FIRING, RESOLVED, Alert
from slas.api import slas_router
from slas.business_state import BusinessState
from slas.close_state import CloseRiskAnswers
from slas.definitions import DEFAULT_SLAS, TIME_TO_PROJECT_CREATION
from slas.id_cache import IdCache
from slas.impact_answers import BlockedInvoiceAnswers
from slas.queries import event_ids, load_snapshot, object_ids
from slas.reference_evaluation import evaluate
from slas.snapshot import object_type_code
from slas.timer_answers import TimerAnswers
from tests.firm import firm_calendar_book
from tests.slas.events import Event, at, event, retried, span_rows
from warehouse.pool import ClientPool
from warehouse.spans import OTEL_TRACES_COLUMNS

AS_OF = at(days=10)


def scenario() -> list[Event]:
    """Two contracts: one activated in time, one never (its activation keeps failing)."""
    never = event(
        sc.PROJECT_ACTIVATED,
        "PRJ-2",
        {sc.PROJECT: "PRJ-2", sc.CONTRACT: "CTR-2"},
        at(hours=2),
        outcome=sc.FAILED,
        legal_entity="LE-DE01",
    )
    never.error = ("master_data", "PROJECT_TEMPLATE_MISSING")
    return [
        event(sc.CONTRACT_SIGNED, "CTR-1", {sc.CONTRACT: "CTR-1"}, at(0), legal_entity="LE-DE01", customer="CUS-1", amount=50_000),
        event(sc.PROJECT_ACTIVATED, "PRJ-1", {sc.PROJECT: "PRJ-1", sc.CONTRACT: "CTR-1"}, at(hours=4), legal_entity="LE-DE01"),
        event(sc.CONTRACT_SIGNED, "CTR-2", {sc.CONTRACT: "CTR-2"}, at(hours=1), legal_entity="LE-DE01", customer="CUS-2", amount=80_000),
        retried(never, (at(days=1), sc.FAILED, "2026-09")),
    ]  # fmt: skip


def insert(client: Client, events: list[Event]) -> None:
    client.insert("otel_traces", span_rows(events), column_names=OTEL_TRACES_COLUMNS)


@pytest.fixture
def loaded(migrated: Client) -> Client:
    insert(migrated, scenario())
    return migrated


class TestSnapshot:
    def test_events_and_references_are_read_back(self, loaded: Client) -> None:
        """Attempts fold into one row per event; hashes lead back to the ids."""
        snapshot = load_snapshot(loaded, AS_OF)
        assert len(snapshot.event) == 4
        assert snapshot.legal_entities == ("LE-DE01",)
        rows = snapshot.rows_of(snapshot.event)
        failed = [bool(snapshot.failed[r]) and not snapshot.took_effect[r] for r in rows]
        assert sum(failed) == 1
        contracts = snapshot.objects[
            snapshot.ref_object_index[snapshot.ref_object_type == object_type_code(sc.CONTRACT)]
        ]
        names = object_ids(loaded, contracts.tolist(), [sc.CONTRACT])
        assert sorted({name for _, name in names.values()}) == ["CTR-1", "CTR-2"]
        ids = event_ids(loaded, snapshot.event.tolist())
        assert "project.activated:PRJ-2" in ids.values()

    def test_ids_are_looked_up_once_and_remembered(self, loaded: Client) -> None:
        """The id cache answers known hashes without the tables; unknown ones stay unknown."""
        snapshot = load_snapshot(loaded, AS_OF)
        ids = IdCache()
        contracts = snapshot.objects[
            snapshot.ref_object_index[snapshot.ref_object_type == object_type_code(sc.CONTRACT)]
        ].tolist()
        first = ids.object_ids(loaded, contracts, [sc.CONTRACT])
        events = ids.event_ids(loaded, snapshot.event.tolist())
        loaded.command("TRUNCATE TABLE biz_event_objects")
        assert ids.object_ids(loaded, contracts, [sc.CONTRACT]) == first
        assert ids.event_ids(loaded, snapshot.event.tolist()) == events
        assert sorted(name for _, name in first.values()) == ["CTR-1", "CTR-2"]
        assert ids.event_ids(loaded, [12345]) == {}

    def test_a_span_delivered_twice_counts_once(self, loaded: Client) -> None:
        """The same spans again (a redelivery) change no timer."""
        insert(loaded, scenario())
        (_, timers) = evaluate(
            loaded, [TIME_TO_PROJECT_CREATION], firm_calendar_book(), AS_OF
        ).timers[TIME_TO_PROJECT_CREATION.name]
        assert len(timers) == 2

    def test_nothing_before_the_first_event(self, loaded: Client) -> None:
        """As of before any span, there is no timer at all."""
        evaluation = evaluate(loaded, DEFAULT_SLAS, firm_calendar_book(), at(days=-1))
        assert all(len(timers) == 0 for _, timers in evaluation.timers.values())

    def test_a_customer_filter_uses_the_stored_customer(self, loaded: Client) -> None:
        """An SLA for CUS-2 only has CUS-2's contract."""
        definition = replace(TIME_TO_PROJECT_CREATION, customers=("CUS-2",))
        (_, timers) = evaluate(loaded, [definition], firm_calendar_book(), AS_OF).timers[
            definition.name
        ]
        names = object_ids(loaded, timers.timers.key.tolist(), [sc.CONTRACT])
        assert [name for _, name in names.values()] == ["CTR-2"]


class Api:
    """The router in an app, called in-process over ASGI (the engine belongs to this process)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://syncsight") as http:
                return await http.get(path, params=params)

        return asyncio.run(call())


def serving(
    engine_url: str, database: str, alerts: list[Alert] | None = None
) -> tuple[Api, ClientPool]:
    """The SLA router alone, on the test's database (with ``alerts`` as the evaluator's)."""
    pool = ClientPool(engine_url, database=database)
    business_state = BusinessState(
        pool.client, DEFAULT_SLAS, firm_calendar_book(), settle=timedelta(0)
    )
    time.sleep(0.002)
    business_state.tick(datetime.now(UTC))  # what the service's evaluator does every interval
    answers = TimerAnswers(pool.client, DEFAULT_SLAS, firm_calendar_book(), business_state)
    app = FastAPI()
    close_risk = CloseRiskAnswers(pool.client, firm_calendar_book(), business_state)
    blocked = BlockedInvoiceAnswers(
        pool.client, LineageRules.default(), OwnerRouting(), business_state
    )
    router = slas_router(answers, close_risk, blocked, alerts=(lambda: alerts) if alerts else None)
    app.include_router(router, prefix="/api/v1")
    return Api(app), pool


@pytest.fixture
def api(loaded: Client, engine_url: str, database: str) -> Iterator[Api]:
    served, pool = serving(engine_url, database)
    yield served
    pool.close()


def get(api: Api, path: str, **params: Any) -> Any:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


class TestApi:
    def test_slas_summarise_every_timer(self, api: Api) -> None:
        """One met and one breached contract; the other SLAs have no timers."""
        (creation, *others) = get(api, "/api/v1/slas", as_of=AS_OF.isoformat())
        assert creation["name"] == "time-to-project-creation"
        assert creation["counts"] == {"met": 1, "breached": 1, "at_risk": 0, "on_track": 0}
        assert creation["attainment"] == 0.5
        assert [o["counts"]["met"] + o["counts"]["breached"] for o in others] == [0, 0, 0]

    def test_timers_name_their_key_and_events(self, api: Api) -> None:
        """The breached contract: its key, the missing stop, deadline and amount."""
        (timer,) = get(
            api,
            "/api/v1/slas/time-to-project-creation/timers",
            state="breached",
            legal_entity="LE-DE01",
            as_of=AS_OF.isoformat(),
        )
        assert timer["key"] == {"type": "contract", "id": "CTR-2"}
        assert timer["breach_reason"] == "missing"
        assert timer["stopped_at"] is None
        assert timer["deadline"].startswith("2026-09-09T10:00:00")
        assert (timer["amount"], timer["currency"]) == ("80000.00", "EUR")
        assert timer["start_event_id"] == "contract.signed:CTR-2"

    def test_as_of_before_the_deadline_shows_it_at_risk(self, api: Api) -> None:
        """Auditors can ask what the state was at an earlier instant."""
        timers = get(
            api,
            "/api/v1/slas/time-to-project-creation/timers",
            as_of=at(days=1, hours=12).isoformat(),
        )
        assert {t["key"]["id"]: t["state"] for t in timers} == {"CTR-1": "met", "CTR-2": "at_risk"}

    @pytest.mark.parametrize(
        ("path", "params", "status", "words"),
        [
            ("/api/v1/slas/time-to-nothing/timers", {}, 404, "unknown SLA 'time-to-nothing'"),
            (
                "/api/v1/slas/time-to-project-creation/timers",
                {"state": "late"},
                422,
                "state='late'",
            ),
            ("/api/v1/close-risk", {"period": "2026-9"}, 422, "pattern"),
            (
                "/api/v1/close-risk",
                {"period": "2026-13"},
                422,
                "period '2026-13': expected YYYY-MM",
            ),
            ("/api/v1/alerts", {"status": "maybe"}, 422, "status='maybe'"),
        ],
    )
    def test_bad_requests_say_what_is_wrong(
        self, api: Api, path: str, params: dict[str, str], status: int, words: str
    ) -> None:
        """The detail names the parameter, the value and what was expected."""
        response = api.get(path, params=params)
        assert response.status_code == status
        assert words in response.text

    def test_close_risk_lists_entities_with_items_due(self, api: Api) -> None:
        """No billing or revenue item is due: no entity is at risk."""
        assert get(api, "/api/v1/close-risk", period="2026-09", as_of=AS_OF.isoformat()) == []

    def test_alerts_are_empty_without_an_evaluator(self, api: Api) -> None:
        """The router alone serves an empty alert list."""
        assert get(api, "/api/v1/alerts") == []


def alert(sla: str, entity: str, severity: str, started_day: int, *, resolved: bool) -> Alert:
    labels = {"alertname": "SlaBreached", "sla": sla, "legal_entity": entity, "severity": severity}
    fired = at(days=started_day)
    return Alert(
        labels={**labels, "cycle": f"{sla}:{entity}:{started_day}"},
        annotations={},
        starts_at=fired,
        status=RESOLVED if resolved else FIRING,
        ends_at=fired + timedelta(days=1) if resolved else None,
    )


ALERTS = [
    alert("time-to-bill-readiness", "LE-DE01", "critical", 1, resolved=False),
    alert("time-to-bill-readiness", "LE-US01", "warning", 3, resolved=False),
    alert("time-to-invoice-posting", "LE-DE01", "critical", 2, resolved=True),
    alert("time-to-invoice-posting", "LE-DE01", "critical", 4, resolved=False),
]


@pytest.fixture
def alerting_api(loaded: Client, engine_url: str, database: str) -> Iterator[Api]:
    served, pool = serving(engine_url, database, ALERTS)
    yield served
    pool.close()


class TestAlertsApi:
    def test_firing_first_then_the_newest_first(self, alerting_api: Api) -> None:
        """Firing before resolved; within each, the latest start first."""
        listed = get(alerting_api, "/api/v1/alerts")
        assert [(a["status"], a["starts_at"][:10]) for a in listed] == [
            ("firing", at(days=4).date().isoformat()),
            ("firing", at(days=3).date().isoformat()),
            ("firing", at(days=1).date().isoformat()),
            ("resolved", at(days=2).date().isoformat()),
        ]

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"status": "firing", "limit": "2"}, [("firing", "LE-DE01"), ("firing", "LE-US01")]),
            ({"legal_entity": "LE-US01"}, [("firing", "LE-US01")]),
            ({"status": "resolved"}, [("resolved", "LE-DE01")]),
        ],
        ids=["limit", "legal-entity", "status"],
    )
    def test_filters_and_limit(
        self, alerting_api: Api, params: dict[str, str], expected: list[tuple[str, str]]
    ) -> None:
        """status, legal_entity and limit narrow the list."""
        listed = get(alerting_api, "/api/v1/alerts", **params)
        assert [(a["status"], a["labels"]["legal_entity"]) for a in listed] == expected

    def test_the_summary_counts_every_alert(self, alerting_api: Api) -> None:
        """Counts by status, by SLA and status, and firing ones by severity."""
        assert get(alerting_api, "/api/v1/alerts/summary") == {
            "firing": 3,
            "resolved": 1,
            "by_sla": {
                "time-to-bill-readiness": {"firing": 2, "resolved": 0},
                "time-to-invoice-posting": {"firing": 1, "resolved": 1},
            },
            "by_severity": {"critical": 2, "warning": 1},
        }
        narrowed = get(alerting_api, "/api/v1/alerts/summary", legal_entity="LE-US01")
        assert (narrowed["firing"], narrowed["resolved"]) == (1, 0)
