"""The evaluator loop on the real engine: each threshold is told once as it is crossed, a breach
found late (backfill) goes into one digest, the alert record is persisted, and the close-risk
tables are merged once the state goes quiet."""

from __future__ import annotations

import gc
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from lineage import evidence_spans
from slas.alert_groups import EACH, GROUPED
from slas.alert_store import RECORD, AlertStore
from slas.alerts import FIRING, Alert
from slas.business_state import (
    MAX_EXPANSION_EVENTS,
    MAX_WINDOW_EVENTS,
    RECORDED,
    BusinessState,
    DerivationStopped,
    TickReport,
)
from slas.calendars import CalendarBook, EntityCalendar
from slas.definitions import TIME_TO_PROJECT_CREATION
from slas.dispatch import Dispatcher
from slas.evaluator import ALERTS_REFRESH, KEEP_RESOLVED, SlaEvaluator
from slas.lease import Lease
from slas.notifiers.webhook import WebhookChannel
from slas.timer_answers import AlertingRead, AlertingTimer, TimerAnswers
from tests.slas.events import at, event, span_rows
from warehouse.compaction import QuietCompaction
from warehouse.schema import Topology
from warehouse.schema_state import write_state
from warehouse.spans import OTEL_TRACES_COLUMNS

BOOK = CalendarBook({"LE-DE01": EntityCalendar("Europe/Berlin", holiday_country="DE")})
HOOK = "http://receiver.test/hook"
SETTLE = timedelta(milliseconds=1)


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200)

    def told(self) -> list[tuple[str, list[str]]]:
        """Per message: its group, and the alert names and objects it carries."""
        return [
            (
                body["groupKey"].split('"')[1],
                [
                    f"{a['labels']['alertname']} {a['status']} {a['labels'].get('object_id')}"
                    for a in body["alerts"]
                ],
            )
            for body in self.bodies
        ]


@pytest.fixture
def store(migrated: Client) -> AlertStore:
    return AlertStore(lambda: migrated)


class QuietTicks(QuietCompaction):
    """The evaluator's compaction, keeping what each tick told it and whether it merged."""

    def __init__(self) -> None:
        super().__init__(Topology())
        self.told: list[tuple[bool, bool]] = []

    def after_tick(self, client: Client, *, wrote: bool) -> bool:
        merged = super().after_tick(client, wrote=wrote)
        self.told.append((wrote, merged))
        return merged


class CountedAnswers(TimerAnswers):
    """The real answers, counting the alerting reads: of every open timer, of what changed."""

    full = 0
    changes = 0

    def alerting_read(self, now: datetime) -> AlertingRead:
        self.full += 1
        return super().alerting_read(now)

    def alerting_changes(self, now: datetime, since: AlertingRead) -> AlertingRead:
        self.changes += 1
        return super().alerting_changes(now, since)


def evaluator(
    client: Client,
    store: AlertStore,
    recorder: Recorder,
    answers: type[TimerAnswers] = TimerAnswers,
    max_window_events: int = MAX_WINDOW_EVENTS,
    alerts_refresh: timedelta = ALERTS_REFRESH,
    max_expansion_events: int = MAX_EXPANSION_EVENTS,
    timer_alerts: str = EACH,
    compaction: QuietCompaction | None = None,
    lease: Lease | None = None,
) -> SlaEvaluator:
    state = store.load(now=at(days=30), keep=KEEP_RESOLVED)
    dispatcher = Dispatcher(
        [WebhookChannel(HOOK)],
        store,
        grace=timedelta(minutes=1),
        resend=timedelta(minutes=1),
        http=httpx.Client(transport=httpx.MockTransport(recorder.handle)),
        delivered=state,
    )
    business_state = BusinessState(
        lambda: client,
        [TIME_TO_PROJECT_CREATION],
        BOOK,
        settle=SETTLE,
        max_window_events=max_window_events,
        max_expansion_events=max_expansion_events,
    )
    return SlaEvaluator(
        lambda: client,
        business_state,
        answers(lambda: client, [TIME_TO_PROJECT_CREATION], BOOK, business_state),
        dispatcher,
        store,
        interval=timedelta(seconds=15),
        public_url="http://syncsight.test",
        record=state.get(RECORD, {}),
        knowledge_clock=knowledge_now,
        alerts_refresh=alerts_refresh,
        timer_alerts=timer_alerts,
        compaction=compaction,
        lease=lease,
    )


def described(alerts: list[Alert]) -> frozenset[tuple[str, float, datetime | None, datetime]]:
    return frozenset((a.fingerprint, a.threshold, a.crossed_at, a.starts_at) for a in alerts)


def activate(client: Client, contract: str, when: datetime) -> None:
    """The contract's project activated at ``when``: its timer stops."""
    project = f"PRJ-{contract}"
    activated = event(
        sc.PROJECT_ACTIVATED,
        project,
        {sc.PROJECT: project, sc.CONTRACT: contract},
        when,
        legal_entity="LE-DE01",
    )
    client.insert("otel_traces", span_rows([activated]), column_names=OTEL_TRACES_COLUMNS)


def knowledge_now() -> datetime:
    """Knowledge time is the wall clock; the tests' ``now`` is event time in the past."""
    time.sleep(0.002)
    return datetime.now(UTC)


def sign(client: Client, contract: str, when_days: float) -> None:
    signed = event(
        sc.CONTRACT_SIGNED,
        contract,
        {sc.CONTRACT: contract},
        at(days=when_days),
        legal_entity="LE-DE01",
    )
    client.insert("otel_traces", span_rows([signed]), column_names=OTEL_TRACES_COLUMNS)


def held_of_kind(root: object, kind: type) -> list[object]:
    """The objects of ``kind`` reachable from ``root`` through containers and instances (not
    through modules, classes or functions, which reach the whole program)."""
    seen, todo, found = {id(root)}, [root], []
    while todo:
        for referent in gc.get_referents(todo.pop()):
            if id(referent) in seen or isinstance(referent, type | type(gc) | type(at)):
                continue
            seen.add(id(referent))
            if isinstance(referent, kind):
                found.append(referent)
            todo.append(referent)
    return found


class TestEvaluator:
    def test_thresholds_are_told_as_they_are_crossed(
        self, client: Client, store: AlertStore
    ) -> None:
        """Signed Monday 11:00 Berlin: 50 % Tuesday 11:00, 75 % Tuesday 23:00, breach Wednesday."""
        sign(client, "CTR-1", 0)
        recorder = Recorder()
        loop = evaluator(client, store, recorder)
        crossings = [timedelta(days=1), timedelta(days=1, hours=12), timedelta(days=2)]
        for crossing in crossings:
            for later in (timedelta(seconds=10), timedelta(seconds=40)):
                loop.evaluate_once(at(0) + crossing + later)
        assert recorder.told() == [
            ("timer", ["SlaAtRisk firing CTR-1"]),
            ("timer", ["SlaAtRisk firing CTR-1"]),
            ("timer", ["SlaBreached firing CTR-1"]),
        ]
        assert recorder.bodies[1]["alerts"][0]["annotations"]["threshold"] == "0.75"

    def test_a_breach_found_late_is_one_digest_and_survives_a_restart(
        self, client: Client, store: AlertStore
    ) -> None:
        """Two contracts already overdue when first seen: one digest; a new evaluator is silent."""
        sign(client, "CTR-A", 0)
        sign(client, "CTR-B", 0.5)
        recorder = Recorder()
        evaluator(client, store, recorder).evaluate_once(at(days=9))
        assert recorder.told() == [
            ("backfill-digest", ["SlaBreached firing CTR-A", "SlaBreached firing CTR-B"])
        ]
        restarted = evaluator(client, store, recorder)
        restarted.evaluate_once(at(days=9, hours=1))
        assert len(recorder.bodies) == 1
        assert {a.labels["object_id"] for a in restarted.alerts()} == {"CTR-A", "CTR-B"}

    def test_switching_to_grouped_alerts_resolves_each_timers_alert_once(
        self, client: Client, store: AlertStore
    ) -> None:
        """Restarted grouped: the two timers' alerts resolve and their group fires, which says
        it (one digest; the resolutions are not told apart); restarted again, the group is
        restored and nobody is told anything; a tick that changed no timer keeps the very alert
        objects."""
        sign(client, "CTR-A", 0)
        sign(client, "CTR-B", 0.5)
        recorder = Recorder()
        evaluator(client, store, recorder).evaluate_once(at(days=9))
        grouped = evaluator(client, store, recorder, timer_alerts=GROUPED)
        grouped.evaluate_once(at(days=9, hours=1))
        assert recorder.told()[1:] == [("backfill-digest", ["SlaBreached firing None"])]
        resolved = {a.labels.get("object_id") for a in grouped.alerts() if a.status != FIRING}
        assert resolved == {"CTR-A", "CTR-B"}
        (group,) = [a for a in grouped.alerts() if a.status == FIRING]
        assert (group.annotations["timers"], "object_id" in group.labels) == ("2", False)
        before = {id(a) for a in grouped.alerts()}
        grouped.evaluate_once(at(days=9, hours=1.02))
        assert {id(a) for a in grouped.alerts()} == before
        again = evaluator(client, store, recorder, timer_alerts=GROUPED)
        again.evaluate_once(at(days=9, hours=2))
        assert len(recorder.bodies) == 2
        assert [(a.fingerprint, a.status) for a in again.alerts() if a.status == FIRING] == [
            (group.fingerprint, FIRING)
        ]

    def test_open_timers_are_read_again_only_when_something_can_have_changed(
        self, client: Client, store: AlertStore
    ) -> None:
        """Held between ticks with no new version and no threshold passed; after a new version
        and at the next threshold (75 % Tuesday 23:00) only what changed is read; every open
        timer is read again once ``alerts_refresh`` went by (13 hours here)."""
        sign(client, "CTR-1", 0)
        recorder = Recorder()
        refresh = timedelta(hours=13)
        quiet = QuietTicks()
        loop = evaluator(
            client, store, recorder, CountedAnswers, alerts_refresh=refresh, compaction=quiet
        )
        answers = loop._answers
        assert isinstance(answers, CountedAnswers)
        first = at(0) + timedelta(days=1, seconds=10)
        reads = []

        def tick(now: datetime) -> None:
            loop.evaluate_once(now)
            reads.append((answers.full, answers.changes))
            assert loop._timer_alerts is not None
            assert loop._timer_alerts.by_timer
            assert not held_of_kind(loop._timer_alerts, AlertingTimer)  # only their alerts

        for now in (first, first + timedelta(seconds=30), first + timedelta(minutes=1)):
            tick(now)
        sign(client, "CTR-2", 0.9)  # a new version: what changed is read
        tick(first + timedelta(minutes=2))
        tick(first + timedelta(minutes=2, seconds=30))
        seventy_five = at(0) + timedelta(days=1, hours=12, seconds=10)
        tick(seventy_five)  # CTR-1 passed 75 %: what changed is read
        tick(seventy_five + timedelta(minutes=30))
        tick(first + refresh)  # every open timer again
        assert reads == [(1, 0), (1, 0), (1, 0), (1, 1), (1, 1), (1, 2), (1, 2), (2, 2)]
        # the close-risk tables merged on the first tick that wrote nothing, and not again within
        # ten minutes of it (the next quiet ticks come sooner)
        wrote, merged, quiet_again = (True, False), (False, True), (False, False)
        assert quiet.told[:5] == [wrote, merged, quiet_again, wrote, quiet_again]
        assert recorder.told() == [
            ("timer", ["SlaAtRisk firing CTR-1"]),
            ("timer", ["SlaAtRisk firing CTR-1"]),
        ]
        assert recorder.bodies[1]["alerts"][0]["annotations"]["threshold"] == "0.75"
        assert {a.labels["object_id"] for a in loop.alerts()} == {"CTR-1"}

    def test_alerts_kept_from_what_changed_are_those_a_read_of_every_timer_gives(
        self, client: Client, store: AlertStore
    ) -> None:
        """Contracts signed between ticks, time passing their thresholds and deadlines, a
        project that stops one timer: after every tick the evaluator's timer alerts (label set,
        level, start) are what reading every open timer at that instant gives, though it read
        every timer only once; alerts of timers that did not change stay the same objects."""
        signed_days = [0, 0.4, 0.9, 1.3, 2.2, 2.9, 3.5, 4.1]
        loop = evaluator(
            client, store, Recorder(), CountedAnswers, alerts_refresh=timedelta(days=30)
        )
        answers = loop._answers
        assert isinstance(answers, CountedAnswers)
        oracle = TimerAnswers(lambda: client, answers.definitions, BOOK, answers._state)
        signed: set[str] = set()
        seen, reused = [], []
        now = at(0)
        for step in range(24):
            now += timedelta(hours=5, minutes=17)
            for number, day in enumerate(signed_days):
                if at(days=day) <= now and f"CTR-{number}" not in signed:
                    sign(client, f"CTR-{number}", day)
                    signed.add(f"CTR-{number}")
            if step == 12:
                activate(client, "CTR-3", now - timedelta(hours=1))
            before = loop._timer_alerts.by_timer.values() if loop._timer_alerts else []
            held = {id(a) for a in before}
            loop.evaluate_once(now)
            assert loop._timer_alerts is not None
            alerts = list(loop._timer_alerts.by_timer.values())
            full = [loop._alert(t, None) for t in oracle.alerting(now)]
            assert described(alerts) == described(full), step
            seen.append(described(alerts))
            reused.append(sum(id(a) in held for a in alerts))
            # what it holds to the next tick: the alerts, not the timers read to build them
            assert not held_of_kind(loop._timer_alerts, AlertingTimer), step
        assert answers.full == 1
        assert answers.changes > 5
        assert len(set(seen)) > 5  # the alerts moved many times
        assert "CTR-3" not in {a.labels["object_id"] for a in alerts}  # its project stopped it
        assert any(reused)  # unchanged timers kept their alert objects

    def test_a_restarted_evaluator_records_the_alerts_it_holds_not_copies(
        self, client: Client, store: AlertStore
    ) -> None:
        """A timer alert starts at the millisecond its record keeps: read back after a restart,
        the record's start is the alert's own, nobody is told anything again, and the record
        holds the evaluator's alert objects themselves (one object per open timer, not two)."""
        sign(client, "CTR-1", 0.1234567)  # a crossing with microseconds
        recorder = Recorder()
        first = evaluator(client, store, recorder)
        first.evaluate_once(at(days=1, hours=6))
        (told,) = first.alerts()
        assert told.crossed_at is not None
        assert told.crossed_at.microsecond % 1000  # the crossing has them; the start does not
        assert told.starts_at == told.crossed_at.replace(
            microsecond=told.crossed_at.microsecond // 1000 * 1000
        )
        restarted = evaluator(client, store, recorder)
        restarted.evaluate_once(at(days=1, hours=6) + timedelta(minutes=1))
        assert len(recorder.bodies) == 1
        (recorded,) = restarted.alerts()
        assert restarted._timer_alerts is not None
        (held,) = restarted._timer_alerts.by_timer.values()
        assert recorded is held
        assert recorded.starts_at == told.starts_at

    def test_a_resolved_alert_is_kept_a_day_then_dropped_though_nothing_changed(
        self, client: Client, store: AlertStore
    ) -> None:
        """At risk, then breached (the at-risk alert resolves): the resolved alert stays in the
        record for ``KEEP_RESOLVED`` and is dropped by the first tick after, a tick at which
        no alert changed."""
        sign(client, "CTR-1", 0)
        loop = evaluator(client, store, Recorder())
        breached = at(days=2, hours=1)
        for now in (at(days=1) + timedelta(seconds=10), breached, breached + timedelta(hours=1)):
            loop.evaluate_once(now)
        names = sorted((a.name, a.status) for a in loop.alerts())
        assert names == [("SlaAtRisk", "resolved"), ("SlaBreached", "firing")]
        loop.evaluate_once(breached + KEEP_RESOLVED + timedelta(minutes=1))
        assert [(a.name, a.status) for a in loop.alerts()] == [("SlaBreached", "firing")]

    def test_a_loop_behind_ticks_again_at_once_until_it_has_caught_up(
        self, client: Client, store: AlertStore
    ) -> None:
        """A window cut at the row budget brings the next tick at once (no interval's wait);
        once a window is read whole, the loop waits its interval again."""
        sign(client, "CTR-0", 0)
        loop = evaluator(client, store, Recorder(), max_window_events=2)
        assert 0.0 < loop._evaluate_now() <= 15.0  # from scratch: never cut
        for number in range(1, 8):
            sign(client, f"CTR-{number}", 0)
        waits = [loop._evaluate_now()]
        while waits[-1] == 0.0 and len(waits) < 20:
            waits.append(loop._evaluate_now())
        assert waits[:3] == [0.0, 0.0, 0.0]
        assert 0.0 < waits[-1] <= 15.0
        assert loop.last_error is None
        assert {a.labels["object_id"] for a in loop.alerts()} >= {f"CTR-{n}" for n in range(8)}

    @pytest.mark.parametrize(
        ("took", "wait"),
        [(4.0, 11.0), (7.5, 7.5), (14.0, 14.0), (15.0, 15.0), (40.0, 15.0), (240.0, 15.0)],
    )
    def test_ticks_begin_an_interval_apart(
        self,
        client: Client,
        store: AlertStore,
        monkeypatch: pytest.MonkeyPatch,
        took: float,
        wait: float,
    ) -> None:
        """The wait after a tick is what is left of the interval since it began, so that a passed
        deadline waits at most about one interval for its alert; after a tick longer than half an
        interval, as long as the tick took (at most half a core), but never more than an interval
        (a tick that long, such as a derivation from scratch, left the state behind already)."""
        loop = evaluator(client, store, Recorder())
        clock = iter([100.0, 100.0 + took])
        monkeypatch.setattr("slas.evaluator.time.monotonic", lambda: next(clock))
        monkeypatch.setattr(loop, "evaluate_once", lambda now: None)
        assert loop._evaluate_now() == wait

    @pytest.mark.parametrize(
        ("max_expansion_events", "after_the_first"),
        [(MAX_EXPANSION_EVENTS, {"graph": 1.0, "index": 3.0}), (0, {"graph": 4.0, "index": 0.0})],
    )
    def test_metrics_say_how_each_window_was_closed(
        self,
        client: Client,
        store: AlertStore,
        max_expansion_events: int,
        after_the_first: dict[str, float],
    ) -> None:
        """``/metrics`` counts the windows by path: the first derivation reads the graph; later
        windows close their components by index reads, or read the whole graph when the
        components outgrow the tick's budget (a cost that follows history; a budget of 0 events:
        every component outgrows it)."""
        sign(client, "CTR-0", 0)
        loop = evaluator(client, store, Recorder(), max_expansion_events=max_expansion_events)

        def counts() -> dict[str, float]:
            sample = loop.metrics.registry.get_sample_value
            return {
                path: sample("syncsight_evaluator_window_paths_total", {"path": path}) or 0.0
                for path in ("graph", "index")
            }

        loop.evaluate_once(at(days=1))
        assert counts() == {"graph": 1.0, "index": 0.0}  # from scratch
        for number in range(1, 4):
            sign(client, f"CTR-{number}", 0)
            loop.evaluate_once(at(days=1) + timedelta(seconds=15 * number))
        assert counts() == after_the_first

    def test_a_recorder_catching_up_shows_until_it_has(
        self, client: Client, store: AlertStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The evidence spans copied one business row a tick: the gauge says so for that
        recorder (and not for the others) until a tick has copied the rest."""
        monkeypatch.setitem(
            RECORDED, evidence_spans.WATERMARK_KEY, partial(evidence_spans.record_window, most=1)
        )
        sign(client, "CTR-1", 0)
        sign(client, "CTR-2", 0)
        # stored before the copies were written at ingest (migration 30's instant after them):
        # the tick copies them; rows stored after it are the view's
        now = datetime.now(UTC)
        write_state(client, evidence_spans.AT_INGEST_KEY, now.isoformat(), at=now)
        loop = evaluator(client, store, Recorder())

        def behind() -> dict[str, float | None]:
            return {
                key: loop.metrics.registry.get_sample_value(
                    "syncsight_evaluator_recorders_behind", {"recorder": key}
                )
                for key in RECORDED
            }

        loop.evaluate_once(at(days=1))
        assert behind() == {key: float(key == evidence_spans.WATERMARK_KEY) for key in RECORDED}
        for number in range(1, 10):
            loop.evaluate_once(at(days=1) + timedelta(seconds=15 * number))
            if not any(behind().values()):
                break
        assert behind() == dict.fromkeys(RECORDED, 0.0)

    def test_lag_grows_while_no_tick_completes(self, client: Client, store: AlertStore) -> None:
        """The lag gauge is the watermark's age when scraped, not a value frozen at the last tick:
        a tick that runs long (or a loop that stopped) shows as growing lag."""
        sign(client, "CTR-1", 0)
        loop = evaluator(client, store, Recorder())

        def lag() -> float:
            value = loop.metrics.registry.get_sample_value("syncsight_evaluator_lag_seconds")
            assert value is not None
            return value

        assert lag() == 0.0  # no tick yet
        loop.evaluate_once(at(days=1))
        first = lag()
        time.sleep(1.0)
        assert lag() >= first + 1.0
        loop.evaluate_once(at(days=1) + timedelta(seconds=15))
        assert lag() < first + 1.0

    def test_lag_before_the_first_tick_ends_is_the_stored_states_age(
        self, client: Client, store: AlertStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A process whose first tick runs long (a derivation from scratch after a changed
        config) reports the age of the state it found stored, not 0: a service started on a
        loaded directory showed lag 0 for the minutes it re-derived."""
        sign(client, "CTR-1", 0)
        evaluator(client, store, Recorder()).evaluate_once(at(days=1))
        time.sleep(1.0)
        loop = evaluator(client, store, Recorder())
        stored = loop._state.watermark()
        began, release = threading.Event(), threading.Event()
        tick = loop._state.tick

        def long_tick(now: datetime) -> Any:
            began.set()
            assert release.wait(30)
            return tick(now)

        monkeypatch.setattr(loop._state, "tick", long_tick)
        first = threading.Thread(
            target=loop.evaluate_once, args=(at(days=1) + timedelta(seconds=15),)
        )
        first.start()
        try:
            assert began.wait(30)
            lag = loop.metrics.registry.get_sample_value("syncsight_evaluator_lag_seconds")
            assert lag is not None
            assert lag >= (datetime.now(UTC) - stored).total_seconds() - 0.5
            assert lag >= SETTLE.total_seconds() + 1.0
        finally:
            release.set()
            first.join(30)
        after = loop.metrics.registry.get_sample_value("syncsight_evaluator_lag_seconds")
        assert after is not None
        assert after < lag, "the tick that ended moved the watermark"


class TestStopping:
    def test_a_tick_that_outlives_the_stop_keeps_the_lease(
        self, client: Client, store: AlertStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Stopped while a tick still writes (longer than the stop waits), the evaluator does
        not hand its lease over: no other replica evaluates beside that tick. Once ticks end
        with the stop, it hands over at once."""
        ttl = timedelta(minutes=5)
        mine = Lease(lambda: client, ttl=ttl, holder="stopping")
        other = Lease(lambda: client, ttl=ttl, holder="other")
        loop = evaluator(client, store, Recorder(), lease=mine)
        entered, finish = threading.Event(), threading.Event()

        def long_tick(now: datetime) -> TickReport:
            entered.set()
            finish.wait(30)
            raise DerivationStopped(1, 2)

        monkeypatch.setattr(loop._state, "tick", long_tick)
        loop.start()
        assert entered.wait(30), "the loop never ticked"
        loop.stop(timeout=0.2)
        assert not other.hold(datetime.now(UTC)), "the lease was handed over mid-tick"
        finish.set()
        assert mine.current(datetime.now(UTC)) == "stopping"

        quick = evaluator(client, store, Recorder(), lease=mine)
        quick.start()
        deadline = time.monotonic() + 30
        while not quick.holds_lease:
            assert time.monotonic() < deadline, "the lease was never taken back"
            time.sleep(0.05)
        quick.stop()
        assert other.hold(datetime.now(UTC)), "a clean stop hands over at once"
