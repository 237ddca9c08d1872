"""Channels render Alertmanager, webhook (v4) and Slack payloads; the dispatcher delivers them,
backs off per channel, and remembers in ClickHouse what each was told."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from slas.alert_store import RECORD, AlertStore
from slas.alerts import (
    ESCALATE,
    FIRE,
    FIRING,
    RESOLVE,
    RESOLVED,
    Alert,
    Change,
    TimerAlertFacts,
    fingerprint,
    iso,
    timer_alert,
)
from slas.dispatch import Dispatcher, resend_share
from slas.metrics import NotificationMetrics
from slas.notifiers.alertmanager import AlertmanagerChannel
from slas.notifiers.slack import SlackChannel
from slas.notifiers.webhook import WebhookChannel

NOW = datetime(2026, 9, 9, 12, 0, tzinfo=UTC)
HOOK = "http://receiver.test/hook"
SLACK = "http://slack.test/services/X"
AM = "http://alertmanager.test:9093"


def make_alert(object_id: str, *, breached: bool = True, minutes_ago: float = 0.2) -> Alert:
    crossed = NOW - timedelta(minutes=minutes_ago)
    return timer_alert(
        TimerAlertFacts(
            sla="time-to-invoice-posting",
            severity="critical",
            owner="billing-operations",
            legal_entity="LE-DE01",
            object_type="billing_event",
            object_id=object_id,
            start_event_id=f"billing.ready:{object_id}",
            started_at=crossed - timedelta(days=1),
            deadline=crossed,
            elapsed_hours=25.0,
            target_hours=24.0,
            threshold=1.0 if breached else 0.5,
            crossed_at=crossed,
            breached=breached,
            amount=Decimal("980.5"),
            currency="EUR",
        ),
        public_url="https://syncsight.example",
    )


class Receiver:
    """A recording HTTP endpoint behind ``httpx.MockTransport``; some URLs can be made to fail.
    ``clock``: the dispatcher's monotonic clock, which each POST moves on by ``post_seconds``
    (a slow endpoint, without waiting)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []
        self.failing: set[str] = set()
        self.elapsed = 0.0
        self.post_seconds = 0.0

    def clock(self) -> float:
        return self.elapsed

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.elapsed += self.post_seconds
        url = str(request.url)
        if any(url.startswith(prefix) for prefix in self.failing):
            return httpx.Response(503, text="down for maintenance")
        self.posts.append((url, json.loads(request.content)))
        return httpx.Response(200, json={})

    def to(self, prefix: str) -> list[Any]:
        return [body for url, body in self.posts if url.startswith(prefix)]


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


def dispatcher(
    receiver: Receiver,
    store: AlertStore | None = None,
    metrics: NotificationMetrics | None = None,
    *,
    direct: bool = True,
    budget: timedelta = timedelta(seconds=7.5),
    **delivered: Any,
) -> Dispatcher:
    """Alertmanager, and with ``direct`` the webhook and Slack (a POST an alert each); the
    dispatch's time on ``receiver``'s clock."""
    others = [WebhookChannel(HOOK, external_url="https://s.example"), SlackChannel(SLACK)]
    return Dispatcher(
        [AlertmanagerChannel(AM), *(others if direct else [])],
        store,
        grace=timedelta(minutes=1),
        resend=timedelta(seconds=60),
        http=httpx.Client(transport=httpx.MockTransport(receiver.handle)),
        delivered=delivered or None,
        metrics=metrics,
        budget=budget,
        clock=receiver.clock,
    )


class TestPayloads:
    def test_alertmanager_gets_firing_alerts_with_a_future_end(self) -> None:
        """endsAt = now + 4 x resend, so Alertmanager resolves them if syncsight goes away."""
        alert = make_alert("BE-1")
        (message,) = AlertmanagerChannel(AM).render([Change(FIRE, alert)], [alert], now=NOW)
        (body,) = message.body
        assert message.url == f"{AM}/api/v2/alerts"
        assert body["labels"] == alert.labels
        assert body["endsAt"] == "2026-09-09T12:04:00Z"
        assert body["generatorURL"].startswith("https://syncsight.example/api/v1/slas/")

    def test_alertmanager_gets_a_resolution_with_a_past_end(self) -> None:
        """A resolved alert is pushed once with the instant it resolved as endsAt."""
        resolved = make_alert("BE-1").resolved(NOW - timedelta(seconds=5))
        (message,) = AlertmanagerChannel(AM).render([Change(RESOLVE, resolved)], [], now=NOW)
        assert message.body[0]["endsAt"] == "2026-09-09T11:59:55Z"

    def test_webhook_speaks_alertmanager_version_4(self) -> None:
        """Receivers built for Alertmanager can read it: version, status, fingerprints."""
        alert = make_alert("BE-1")
        (message,) = WebhookChannel(HOOK).render([Change(FIRE, alert)], [], now=NOW)
        body = message.body
        assert set(body) == {
            "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
            "commonLabels", "commonAnnotations", "externalURL", "alerts",
        }  # fmt: skip
        assert (body["version"], body["status"], body["truncatedAlerts"]) == ("4", FIRING, 0)
        (entry,) = body["alerts"]
        assert entry["endsAt"] == "0001-01-01T00:00:00Z"
        assert entry["fingerprint"] == alert.fingerprint
        assert body["commonLabels"]["object_id"] == "BE-1"

    def test_backfilled_alerts_become_one_digest(self) -> None:
        """Stale changes go out together; fresh ones one by one."""
        stale = [
            Change(FIRE, make_alert(f"BE-{n}", minutes_ago=600), stale=True) for n in range(30)
        ]
        fresh = Change(FIRE, make_alert("BE-new"))
        messages = WebhookChannel(HOOK).render([fresh, *stale], [], now=NOW)
        assert [len(m.body["alerts"]) for m in messages] == [1, 30]
        slack = SlackChannel(SLACK).render([fresh, *stale], [], now=NOW)
        assert len(slack) == 2
        assert "30 SLA timers were already past a threshold" in slack[1].body["text"]
        assert "and 15 more" in json.dumps(slack[1].body)

    @pytest.mark.parametrize(
        ("kind", "breached", "words"),
        [
            (FIRE, True, "time-to-invoice-posting breached: billing_event BE-1"),
            (ESCALATE, False, "now at risk (104 % of target)"),
            (RESOLVE, True, "time-to-invoice-posting resolved"),
        ],
    )
    def test_slack_messages_read_well(self, kind: str, breached: bool, words: str) -> None:
        """One line says what happened; blocks add entity, owner, elapsed, deadline, amount."""
        alert = make_alert("BE-1", breached=breached)
        if kind == RESOLVE:
            alert = alert.resolved(NOW)
        (message,) = SlackChannel(SLACK).render([Change(kind, alert)], [], now=NOW)
        assert words in message.body["text"]
        details = message.body["blocks"][1]["text"]["text"]
        assert "billing-operations" in details
        assert "980.50 EUR" in details


class TestDispatcher:
    def test_each_channel_is_told_once(self, receiver: Receiver) -> None:
        """Two dispatches of the same record notify the direct channels once."""
        alert = make_alert("BE-1")
        sender = dispatcher(receiver)
        for _ in range(2):
            sender.dispatch({alert.fingerprint: alert}, now=NOW)
        assert len(receiver.to(HOOK)) == 1
        assert len(receiver.to(SLACK)) == 1
        assert len(receiver.to(AM)) == 1, "the next push waits for the resend interval"
        sender.dispatch({alert.fingerprint: alert}, now=NOW + timedelta(seconds=61))
        assert len(receiver.to(AM)) == 2, "Alertmanager hears it again while it fires"
        assert len(receiver.to(HOOK)) == 1

    def test_alertmanager_hears_a_new_breach_in_the_first_post_of_a_resend(
        self, receiver: Receiver
    ) -> None:
        """1,200 firing alerts, every one due again, and one new breach: the breach is the first
        alert of the first POST, not behind the re-sends."""
        firing = {a.fingerprint: a for a in (make_alert(f"BE-{i}") for i in range(1_200))}
        sender = dispatcher(receiver)
        sender.dispatch(firing, now=NOW)
        receiver.posts.clear()
        new = make_alert("BE-NEW")
        sender.dispatch({**firing, new.fingerprint: new}, now=NOW + timedelta(minutes=2))
        first, *rest = receiver.to(AM)
        assert first[0]["labels"]["object_id"] == "BE-NEW"
        assert sum(len(body) for body in (first, *rest)) == 1_201, "and every one re-sent"

    def test_alertmanager_resends_are_spread_over_the_interval(self, receiver: Receiver) -> None:
        """Alerts pushed together are pushed again between half the interval and the interval
        after, then every interval, a slice at each dispatch: never all in one."""
        firing = {a.fingerprint: a for a in (make_alert(f"BE-{i}") for i in range(2_000))}
        sender = dispatcher(receiver)
        sender.dispatch(firing, now=NOW)
        receiver.posts.clear()
        seen: list[str] = []
        slices = []
        for seconds in range(15, 121, 15):  # ticks every 15 s for two intervals, resend 60 s
            sender.dispatch(firing, now=NOW + timedelta(seconds=seconds))
            bodies = [alert for body in receiver.to(AM) for alert in body]
            receiver.posts.clear()
            assert {a["endsAt"] for a in bodies} <= {iso(NOW + timedelta(seconds=seconds + 240))}
            slices.append(len(bodies))
            seen += [a["labels"]["object_id"] for a in bodies]
        assert slices[0] == 0, "none is due before half the interval"
        names = sorted(a.labels["object_id"] for a in firing.values())
        assert sorted(seen[: sum(slices[:4])]) == names, "each once in the first interval"
        assert sorted(seen[sum(slices[:4]) :]) == names, "and once in the second"
        assert max(slices) < 1_200, f"the re-sends came in one slice: {slices}"

    def test_a_slow_alertmanager_holds_a_dispatch_for_its_budget_only(
        self, receiver: Receiver
    ) -> None:
        """3,000 new breaches (six POSTs) to an Alertmanager that takes 2 s a POST, 5 s to
        dispatch: three POSTs go, three wait for the next dispatch (counted ``deferred``), and
        every breach is told once. Without the budget the tick waited for all six."""
        metrics = NotificationMetrics()
        firing = {a.fingerprint: a for a in (make_alert(f"BE-{i}") for i in range(3_000))}
        sender = dispatcher(receiver, metrics=metrics, direct=False, budget=timedelta(seconds=5))
        receiver.post_seconds = 2.0
        sender.dispatch(firing, now=NOW)
        assert (len(receiver.to(AM)), receiver.elapsed) == (3, 6.0)
        deferred = metrics.deliveries.labels("alertmanager", "deferred")
        assert deferred._value.get() == 3
        sender.dispatch(firing, now=NOW + timedelta(seconds=15))
        told = [alert["labels"]["object_id"] for body in receiver.to(AM) for alert in body]
        assert sorted(told) == sorted(a.labels["object_id"] for a in firing.values())
        assert deferred._value.get() == 3, "the second dispatch had time for the rest"

    def test_re_sends_out_of_time_go_longest_due_first(self, receiver: Receiver) -> None:
        """1,500 alerts all due again, time for one POST a dispatch: each dispatch pushes the 500
        due longest (so an Alertmanager slower than the re-sends lets none expire while others go
        twice), and three dispatches push each alert once."""
        firing = {a.fingerprint: a for a in (make_alert(f"BE-{i}") for i in range(1_500))}
        sender = dispatcher(receiver, direct=False, budget=timedelta(seconds=1))
        sender.dispatch(firing, now=NOW)
        assert len(receiver.to(AM)) == 3, "new alerts: each POST took no time"
        receiver.posts.clear()
        receiver.post_seconds = 2.0
        by_due = sorted(firing, key=resend_share)
        for step in range(3):  # every one due (after 30-60 s), none overdue by an interval
            sender.dispatch(firing, now=NOW + timedelta(seconds=61 + step))
            (body,) = receiver.to(AM)
            receiver.posts.clear()
            pushed = {fingerprint(entry["labels"]) for entry in body}
            assert pushed == set(by_due[500 * step : 500 * (step + 1)]), f"dispatch {step}"

    def test_a_re_send_overdue_by_an_interval_goes_whatever_the_time_spent(
        self, receiver: Receiver
    ) -> None:
        """Re-sends that fell a whole interval behind (Alertmanager resolves an alert four
        intervals after its last push) go in the dispatch however long it takes: time for one
        POST, three POSTs of overdue alerts, all three sent."""
        metrics = NotificationMetrics()
        firing = {a.fingerprint: a for a in (make_alert(f"BE-{i}") for i in range(1_500))}
        sender = dispatcher(receiver, metrics=metrics, direct=False, budget=timedelta(seconds=1))
        sender.dispatch(firing, now=NOW)
        receiver.posts.clear()
        receiver.post_seconds = 2.0
        sender.dispatch(firing, now=NOW + timedelta(seconds=121))
        assert sum(len(body) for body in receiver.to(AM)) == 1_500
        assert metrics.deliveries.labels("alertmanager", "deferred")._value.get() == 0
        # pushed late together, they are spread again over the next interval: not all due at once
        receiver.posts.clear()
        receiver.post_seconds = 0.0
        slices = []
        for seconds in range(136, 182, 15):
            sender.dispatch(firing, now=NOW + timedelta(seconds=seconds))
            slices.append(sum(len(body) for body in receiver.to(AM)))
            receiver.posts.clear()
        assert sum(slices) == 1_500, f"each once in the next interval: {slices}"
        assert max(slices) < 1_000, f"the late re-sends came due together: {slices}"

    def test_alerts_that_left_the_record_unresolved_are_not_kept_due(
        self, receiver: Receiver
    ) -> None:
        """Alerts pushed while Alertmanager took them, then dropped from the record before their
        resolution got through (a channel down longer than resolved alerts are kept): their
        re-send times are forgotten, so the dispatcher's memory follows what fires."""
        firing = {a.fingerprint: a for a in (make_alert(f"BE-{i}") for i in range(600))}
        sender = dispatcher(receiver, direct=False)
        sender.dispatch(firing, now=NOW)
        kept = dict(list(firing.items())[:100])
        receiver.failing.add(AM)
        sender.dispatch(kept, now=NOW + timedelta(seconds=1))  # resolutions refused
        receiver.failing.clear()
        sender.dispatch(kept, now=NOW + timedelta(minutes=5))
        assert set(sender._state["alertmanager"].due) == set(kept)

    def test_a_failing_channel_does_not_stop_the_others_and_retries_later(
        self, receiver: Receiver
    ) -> None:
        """The webhook is down: Slack and Alertmanager are still told; the webhook after back-off."""
        alert = make_alert("BE-1")
        receiver.failing.add(HOOK)
        sender = dispatcher(receiver)
        sender.dispatch({alert.fingerprint: alert}, now=NOW)
        assert (len(receiver.to(SLACK)), len(receiver.to(AM)), len(receiver.to(HOOK))) == (1, 1, 0)
        receiver.failing.clear()
        sender.dispatch({alert.fingerprint: alert}, now=NOW + timedelta(seconds=1))
        assert receiver.to(HOOK) == [], "still backing off"
        sender.dispatch({alert.fingerprint: alert}, now=NOW + timedelta(seconds=6))
        assert len(receiver.to(HOOK)) == 1
        assert len(receiver.to(SLACK)) == 1

    def test_a_superseded_at_risk_resolution_is_not_posted_to_direct_channels(
        self, receiver: Receiver
    ) -> None:
        """At risk → breached: Slack hears of the breach only; Alertmanager of both."""
        at_risk = make_alert("BE-1", breached=False)
        breach = make_alert("BE-1", breached=True)
        sender = dispatcher(receiver)
        sender.dispatch({at_risk.fingerprint: at_risk}, now=NOW)
        record = {at_risk.fingerprint: at_risk.resolved(NOW), breach.fingerprint: breach}
        sender.dispatch(record, now=NOW + timedelta(seconds=2))
        later = [message["text"] for message in receiver.to(SLACK)][1:]
        assert len(later) == 1
        assert "time-to-invoice-posting breached" in later[0]
        pushed = [entry["labels"]["alertname"] for body in receiver.to(AM)[1:] for entry in body]
        assert sorted(pushed) == ["SlaAtRisk", "SlaBreached"]


class TestPersistence:
    @pytest.fixture
    def store(self, migrated: Client) -> AlertStore:
        return AlertStore(lambda: migrated)

    def test_state_survives_a_restart(self, store: AlertStore, receiver: Receiver) -> None:
        """A new dispatcher built from the stored state does not notify again."""
        alert = make_alert("BE-1")
        store.save(RECORD, [alert], now=NOW)
        dispatcher(receiver, store).dispatch({alert.fingerprint: alert}, now=NOW)
        state = store.load(now=NOW, keep=timedelta(days=1))
        assert set(state) == {RECORD, "alertmanager", "webhook", "slack"}
        restarted = dispatcher(receiver, store, **{k: v for k, v in state.items() if k != RECORD})
        restarted.dispatch(state[RECORD], now=NOW + timedelta(seconds=1))
        assert (len(receiver.to(HOOK)), len(receiver.to(SLACK))) == (1, 1)

    def test_a_restart_pushes_what_alertmanager_was_told_again_over_half_an_interval(
        self, store: AlertStore, receiver: Receiver
    ) -> None:
        """After a restart the firing alerts Alertmanager was told are pushed again within half
        the resend interval, a slice a dispatch, a new breach in the first POST: not all in the
        first dispatch, which held the first tick of a large quarter for minutes."""
        firing = {a.fingerprint: a for a in (make_alert(f"BE-{i}") for i in range(1_500))}
        dispatcher(receiver, store, direct=False).dispatch(firing, now=NOW)
        state = store.load(now=NOW, keep=timedelta(days=1))
        restarted = dispatcher(receiver, store, direct=False, alertmanager=state["alertmanager"])
        receiver.posts.clear()
        new = make_alert("BE-NEW")
        slices = []
        for seconds in range(0, 31, 15):
            record = {**firing, new.fingerprint: new} if seconds else firing
            restarted.dispatch(record, now=NOW + timedelta(minutes=5, seconds=seconds))
            bodies = [alert for body in receiver.to(AM) for alert in body]
            if seconds == 15:
                assert bodies[0]["labels"]["object_id"] == "BE-NEW"
            slices.append(len(bodies))
            receiver.posts.clear()
        assert sum(slices) == 1_501, f"each once in half an interval: {slices}"
        assert max(slices) < 1_000, f"the re-sends came in one slice: {slices}"

    def test_the_latest_state_wins_and_old_resolutions_are_dropped(self, store: AlertStore) -> None:
        """Rows append; load returns the newest per channel and alert, within the keep window."""
        firing, gone = make_alert("BE-1"), make_alert("BE-2")
        store.save(RECORD, [firing, gone], now=NOW)
        store.save(RECORD, [gone.resolved(NOW)], now=NOW + timedelta(seconds=1))
        store.save(RECORD, [firing.resolved(NOW + timedelta(days=3))], now=NOW + timedelta(days=3))
        state = store.load(now=NOW + timedelta(days=3), keep=timedelta(days=1))[RECORD]
        assert [(a.labels["object_id"], a.status) for a in state.values()] == [("BE-1", RESOLVED)]
        loaded = state[firing.fingerprint]
        assert loaded.labels == firing.labels
        assert loaded.annotations == firing.annotations
        assert replace(loaded, crossed_at=None).starts_at == firing.starts_at
