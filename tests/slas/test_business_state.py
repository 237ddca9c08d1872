"""The incremental SLA timer state on the real engine: ticks that read only what was stored since
their watermark end where a derivation from scratch ends, and what was known at an instant stays
what was known at it."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from domain import semconv as sc
from domain.instants import EPOCH
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas import close_item_pieces, item_versions, state_queries, timer_changes
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.close_items import INVOICE_ITEM
from slas.close_risk import close_risk_report
from slas.close_state import ITEMS_AT, CloseRiskAnswers, items_at
from slas.definitions import DEFAULT_SLAS
from slas.event_dimensions import LATEST_DIMENSIONS_OF_NAMED
from slas.id_cache import IdCache
from slas.impact_answers import BlockedInvoiceAnswers
from slas.queries import NAMED_REFERENCES, code_tables
from slas.reference_evaluation import evaluate
from slas.snapshot import EventSnapshot
from slas.state_queries import WindowChanges, changed_events, component, load_component
from slas.timer_answers import TimerAnswers
from slas.timer_rows import SnapshotNames
from slas.timers import STATES
from syncsight.bulk_load import WarehouseSpanExporter
from tests.slas.events import at, event, retried, span_rows
from tests.slas.tiny_quarter import (
    END,
    SETTLE,
    Streamed,
    load_tiny_quarter,
    streamed_copy,
    tick,
    tiny_quarter_spans,
)
from tests.templates import Templates, database_of
from warehouse.correlation_rules import CorrelationRules
from warehouse.pool import ClientPool
from warehouse.rebuild import rebuild
from warehouse.schema_state import REBUILD_KEY, read_state, write_state
from warehouse.span_store import span_sink
from warehouse.spans import OTEL_TRACES_COLUMNS


class ReadsRecorded:
    """A client that keeps the text of every statement it passes on (reads and commands)."""

    def __init__(self, client: Client, reads: list[str]) -> None:
        self._client = client
        self._reads = reads

    def __getattr__(self, name: str) -> Any:
        inner = getattr(self._client, name)
        if not name.startswith(("query", "command")):
            return inner

        def recorded(statement: str, *args: Any, **kwargs: Any) -> Any:
            self._reads.append(statement)
            return inner(statement, *args, **kwargs)

        return recorded


REFERENCE_COLUMNS = ("event_hash", "object_hash", "object_type", "object_type_name", "object_id")


def _changed_windows(client: Client) -> Iterator[tuple[datetime, datetime, WindowChanges]]:
    """The events one window of the whole quarter changed, then those of each window of four
    inserts: (the window's end, the last insert, its changes), windows that changed none left
    out."""
    instants = sorted(
        {row[0] for row in client.query("SELECT DISTINCT IngestedAt FROM biz_events").result_rows}
    )
    windows = [(instants[0] - timedelta(milliseconds=1), instants[-1])]
    for since, end in [*windows, *itertools.pairwise(instants[::4])]:
        changed = changed_events(client, since, end, outcomes_apart=True)
        if len(changed):
            yield end, instants[-1], changed


def _changes(changed: WindowChanges) -> tuple[object, ...]:
    """A window's changes as comparable values: the outcome-only events, the objects, the seeds
    and their references (as rows)."""
    references = zip(
        *(np.asarray(changed.seed_references[name]).tolist() for name in REFERENCE_COLUMNS),
        strict=True,
    )
    return (
        sorted(changed.outcomes, key=lambda e: e.event_id),
        sorted(changed.objects()),
        sorted(changed.event_ids.to_pylist()),
        sorted(references),
    )


def _snapshot_rows(loaded: tuple[EventSnapshot, SnapshotNames]) -> tuple[object, ...]:
    """A component read as comparable values: its event columns, its references as a set of
    (event, object, type) rows (their order and repeats are the read's), and its names."""
    snapshot, names = loaded
    columns = {  # floats by their bits: a missing amount is NaN, which equals nothing
        name: (value.view(np.uint64) if value.dtype.kind == "f" else value).tolist()
        for name, value in vars(snapshot).items()
        if isinstance(value, np.ndarray) and not name.startswith("ref_")
    }
    objects = snapshot.objects[snapshot.ref_object_index]
    references = set(
        zip(
            snapshot.event[snapshot.ref_row].tolist(),
            objects.tolist(),
            snapshot.ref_object_type.tolist(),
            strict=True,
        )
    )
    tables = (snapshot.legal_entities, snapshot.currencies)
    return (
        columns,
        references,
        tables,
        dict(names.events),
        dict(names.objects),
        dict(names.customers),
        dict(names.failures),
    )


pytestmark = pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)

CURRENT = """
SELECT KeyType, KeyId, Sla, StartEventId, argMax((Deleted, Digest), KnownAt) AS latest
FROM sla_timers GROUP BY KeyType, KeyId, Sla, StartEventId
HAVING latest.1 = 0 ORDER BY KeyType, KeyId, Sla, StartEventId
"""
CURRENT_ITEMS = """
SELECT ItemType, ItemId, argMax((Deleted, Digest), KnownAt) AS latest
FROM close_items GROUP BY ItemType, ItemId
HAVING latest.1 = 0 ORDER BY ItemType, ItemId
"""


CURRENT_DIMENSIONS = """
SELECT EventId, argMax((LegalEntity, Period), KnownAt) FROM event_dimensions
GROUP BY EventId ORDER BY EventId
"""
TABLES = ("sla_timers", "close_items", "event_dimensions")
STORED_BEFORE = """
SELECT uniqExact(EventId) FROM biz_events
WHERE IngestedAt <= {since:DateTime64(3, 'UTC')} AND EventId IN (
    SELECT EventId FROM biz_events
    WHERE IngestedAt > {since:DateTime64(3, 'UTC')} AND IngestedAt <= {until:DateTime64(3, 'UTC')})
"""
"""How many events of a window have rows stored before it."""


def current(client: Client) -> list[tuple[object, ...]]:
    return [tuple(row) for row in client.query(CURRENT).result_rows]


def current_items(client: Client) -> list[tuple[object, ...]]:
    return [tuple(row) for row in client.query(CURRENT_ITEMS).result_rows]


def _keeper_recording(client: Client, reads: list[str]) -> BusinessState:
    """A keeper whose client keeps the text of every statement in ``reads``."""
    return BusinessState(
        lambda: ReadsRecorded(client, reads),  # type: ignore[arg-type,return-value]
        DEFAULT_SLAS,
        CalendarBook(),
        settle=SETTLE,
    )


def _billed(entry: str) -> list[tuple[object, ...]]:
    """A time entry approved and ready to bill a day later (in LE-DE01): new work, its own."""
    ready = event(
        sc.BILLING_READY,
        f"BR-{entry}",
        {sc.BILLING_EVENT: f"BE-{entry}", sc.TIME_ENTRY: entry},
        at(1),
        legal_entity="LE-DE01",
    )
    return span_rows([event(sc.TIME_APPROVED, entry, {sc.TIME_ENTRY: entry}, at(0)), ready])


def _timer_changes_netted(client: Client) -> list[tuple[Any, ...]]:
    """Every row of ``sla_timer_changes`` netted by its columns but ``Delta`` (key id first)."""
    columns = ", ".join(c for c in timer_changes.CHANGE_COLUMNS if c != "Delta")
    return [
        tuple(row)
        for row in client.query(
            f"SELECT KeyId, {columns}, sum(Delta) AS delta FROM sla_timer_changes "
            f"GROUP BY KeyId, {columns} HAVING delta != 0 ORDER BY KeyId, {columns}"
        ).result_rows
    ]


def _pieces_netted(client: Client) -> list[tuple[Any, ...]]:
    """Every row of ``close_item_pieces`` netted by its columns but ``Delta``."""
    return [
        tuple(row)
        for row in client.query(
            "SELECT * EXCEPT Delta, sum(Delta) AS delta FROM close_item_pieces "
            "GROUP BY ALL HAVING delta != 0 ORDER BY ALL"
        ).result_rows
    ]


def _item_versions_at(client: Client, known_at: datetime) -> int:
    """How many ``close_items`` versions were stored at ``known_at``."""
    return int(
        client.query(
            "SELECT count() FROM close_items WHERE KnownAt = {k:DateTime64(3, 'UTC')}",
            parameters={"k": known_at},
        ).result_rows[0][0]
    )


def _superseded(client: Client) -> list[tuple[object, ...]]:
    return [
        tuple(row)
        for row in client.query("SELECT * FROM close_item_superseded ORDER BY ALL").result_rows
    ]


class TestIncremental:
    def test_ticks_end_where_a_derivation_from_scratch_ends(
        self, streamed_quarter: Streamed
    ) -> None:
        """Every timer and close item derived tick by tick equals the one derived once from
        everything, and so do the SLA answers summed from their state pieces."""
        quarter = streamed_quarter
        migrated, state, ticks = quarter.client, quarter.keeper, quarter.ticks
        incremental, incremental_items = current(migrated), current_items(migrated)
        answers = TimerAnswers(lambda: migrated, DEFAULT_SLAS, CalendarBook(), state)
        instants = [END - timedelta(days=d) for d in (60, 30, 9, 0)]
        answered = [answers.summaries(i, None).summaries for i in instants]
        trend = answers.trend(END, None, instants)[1]
        migrated.command("TRUNCATE TABLE sla_timers")
        migrated.command("TRUNCATE TABLE close_items")
        timer_changes.reset(migrated, at=datetime.now(UTC))
        state.reset(datetime.now(UTC))
        tick(state)
        assert len(ticks) > 10
        assert len(incremental) > 100
        assert len(incremental_items) > 100
        assert current(migrated) == incremental
        assert current_items(migrated) == incremental_items
        assert answers._known(None)[1]
        assert [answers.summaries(i, None).summaries for i in instants] == answered
        assert answers.trend(END, None, instants)[1] == trend

    @pytest.mark.parametrize(
        ("max_events_per_chunk", "max_expansion_events", "path"),
        [
            # the default: closed in the engine, read through the scratch tables
            (None, None, "index"),
            # every component too large: the graph read
            (1, 1, "graph"),
            # chunks of a derivation from scratch do not bound what a tick closes by index reads
            (1, None, "index"),
        ],
    )
    def test_each_way_of_closing_a_window_ends_where_a_derivation_from_scratch_ends(
        self,
        client: Client,
        engine_url: str,
        templates: Templates,
        max_events_per_chunk: int | None,
        max_expansion_events: int | None,
        path: str,
    ) -> None:
        """A window whose components are closed in the engine, or whose components are closed
        by the graph read, derives what a derivation from scratch derives."""
        quarter = streamed_copy(
            templates,
            engine_url,
            client,
            max_events_per_chunk=max_events_per_chunk,
            max_expansion_events=max_expansion_events,
            # the default settings' quarter is shared with other tests; the others, streamed for
            # this test alone, in fewer and larger inserts
            chunk=120 if max_events_per_chunk is None else 200,
        )
        migrated, state, ticks = quarter.client, quarter.keeper, quarter.ticks
        incremental, incremental_items = current(migrated), current_items(migrated)
        assert len(ticks) > 20
        assert {t.path for t in ticks[1:] if t.touched} == {path}
        migrated.command("TRUNCATE TABLE sla_timers")
        migrated.command("TRUNCATE TABLE close_items")
        state.reset(datetime.now(UTC))
        tick(state)
        assert len(incremental) > 100
        assert current(migrated) == incremental
        assert current_items(migrated) == incremental_items

    def test_windows_cut_at_a_row_budget_end_where_a_derivation_from_scratch_ends(
        self, migrated: Client, engine_url: str
    ) -> None:
        """A tick that is behind reads at most ``max_window_events`` event rows and says so; the
        ticks after it catch up, and the state they reach is the state derived from scratch."""
        state = BusinessState(
            lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=SETTLE, max_window_events=40
        )
        ticks = load_tiny_quarter(migrated, engine_url, state, chunk=300)
        for _ in range(200):
            ticks.append(tick(state))
            if not ticks[-1].capped:
                break
        cut = [t for t in ticks if t.capped]
        assert len(cut) > 10
        assert not ticks[-1].capped
        assert all(t.until < ticks[-1].until for t in cut)
        incremental, incremental_items = current(migrated), current_items(migrated)
        migrated.command("TRUNCATE TABLE sla_timers")
        migrated.command("TRUNCATE TABLE close_items")
        state.reset(datetime.now(UTC))
        assert not tick(state).capped  # a derivation from scratch is never cut
        assert len(incremental) > 100
        assert current(migrated) == incremental
        assert current_items(migrated) == incremental_items

    @pytest.mark.parametrize("emptied", [False, True])
    @pytest.mark.parametrize("clients", ["pool", "shared"])
    def test_a_derivation_from_scratch_in_chunks_writes_only_what_moved(
        self,
        client: Client,
        engine_url: str,
        templates: Templates,
        emptied: bool,
        clients: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A reset derives everything again in chunks of a few components, staged in many
        ranges of event ids: over the stored versions it writes none (nothing moved) and the past stays
        as it was; over emptied state tables (nothing to compare with, none read) it writes
        every timer, item and event's dimensions again, equal to those ticks wrote. The same
        whether each chunk is read ahead on a reader thread with a client of its own (a pool's)
        or, with one client shared by every thread, in turn on the tick's."""
        quarter = streamed_copy(templates, engine_url, client)
        migrated = quarter.client
        pool = ClientPool(engine_url, database=database_of(migrated))
        factory = pool.client if clients == "pool" else lambda: migrated
        state = BusinessState(factory, DEFAULT_SLAS, CalendarBook(), settle=SETTLE,
                              max_events_per_chunk=40)  # fmt: skip
        incremental, incremental_items = current(migrated), current_items(migrated)
        dimensions = migrated.query(CURRENT_DIMENSIONS).result_rows
        counts = [migrated.query(f"SELECT count() FROM {t}").result_rows[0][0] for t in TABLES]
        if emptied:
            for table in TABLES:
                migrated.command(f"TRUNCATE TABLE {table}")
        monkeypatch.setattr(state_queries, "STAGE_RANGE_ROWS", 50)
        state.reset(datetime.now(UTC))
        try:
            report = tick(state)
            # the tick's own client and a reader thread's (or both READERS threads') when each
            # thread has its own
            assert pool.open_clients() in ((2, 3) if clients == "pool" else (0,))
        finally:
            pool.close()
        assert report.path == "graph"
        chunks = migrated.query("SELECT uniqExact(Chunk) FROM syncsight_state_chunks")
        assert chunks.result_rows[0][0] > 10
        # the staging's copy of the events is emptied once its chunks are derived
        for staged in (state_queries.STAGED_EVENTS, state_queries.STAGED_REFERENCES):
            assert migrated.query(f"SELECT count() FROM {staged}").result_rows[0][0] == 0
        assert len(incremental) > 100
        assert current(migrated) == incremental
        assert current_items(migrated) == incremental_items
        assert migrated.query(CURRENT_DIMENSIONS).result_rows == dimensions
        written = [migrated.query(f"SELECT count() FROM {t}").result_rows[0][0] for t in TABLES]
        if emptied:
            assert report.versions == sum(written) > 0
        else:
            assert (report.versions, written) == (0, counts)

    def test_state_counts_agree_with_a_full_evaluation(
        self, streamed: tuple[Client, BusinessState]
    ) -> None:
        """The SQL answer at as_of counts each state as the vectorised evaluation does."""
        migrated, state = streamed
        answers = TimerAnswers(lambda: migrated, DEFAULT_SLAS, CalendarBook(), state)
        for as_of in (END - timedelta(days=40), END):
            full = evaluate(migrated, DEFAULT_SLAS, CalendarBook(), as_of)
            by_sla = {s.name: s.counts for s in answers.summaries(as_of, None).summaries}
            for name, (_, evaluated) in full.timers.items():
                expected = {s: int((evaluated.state == i).sum()) for i, s in enumerate(STATES)}
                assert by_sla[name] == expected, (name, as_of)

    def test_a_closure_around_the_changed_events_is_the_closure_around_their_objects(
        self, streamed: tuple[Client, BusinessState]
    ) -> None:
        """Seeded with the events a window changed, the closure of their objects holds the same
        events and objects as without (it stops after the first round when the first round finds
        no other event): in windows of four inserts, which reach stored events, and in one window
        of the whole quarter, which holds every event of its components."""
        migrated, _ = streamed
        closures = (
            "SELECT DISTINCT EventId FROM syncsight_state_component_events ORDER BY 1",
            "SELECT DISTINCT ObjectType, ObjectId FROM syncsight_state_component_objects "
            "ORDER BY 1, 2",
        )
        kinds = set()
        for _, until, changed in _changed_windows(migrated):
            objects = (changed.object_types, changed.object_ids)
            seeded = component(migrated, objects, until, max_rounds=64, seeds=changed.event_ids)
            assert seeded is not None
            read = [migrated.query(sql).result_rows for sql in closures]
            unseeded = component(migrated, objects, until, max_rounds=64)
            assert unseeded is not None
            assert unseeded.event_ids == seeded.event_ids
            assert [migrated.query(sql).result_rows for sql in closures] == read
            assert seeded.at_seeds == (seeded.event_ids == set(changed.event_ids.to_pylist()))
            kinds.add(seeded.at_seeds)
        assert kinds == {True, False}

    def test_a_closure_stopped_at_its_seeds_reads_the_component_it_would_read_unaided(
        self, streamed: tuple[Client, BusinessState]
    ) -> None:
        """When the closure of a window's changed events stops at them, the references the
        changed-events read gives them are the ones the component read finds (as rows, each
        once), and the component read with them is the one read without: in one window of the
        whole quarter (whose closure stops at its seeds), and in those windows of four inserts
        whose closure does."""
        migrated, _ = streamed
        compared = 0
        for end, _, changed in _changed_windows(migrated):
            objects = (changed.object_types, changed.object_ids)
            closure = component(migrated, objects, end, max_rounds=64, seeds=changed.event_ids)
            if closure is None or not closure.at_seeds:
                continue
            parameters = {**code_tables((), ())[2], "known_at": end}
            read = migrated.query(NAMED_REFERENCES, parameters=parameters).result_rows
            known = changed.seed_references
            given = zip(
                *(np.asarray(known[name]).tolist() for name in REFERENCE_COLUMNS), strict=True
            )
            assert {tuple(row) for row in read} == set(given)
            unaided = load_component(migrated, end, named=True)
            aided = load_component(migrated, end, named=True, references=known)
            assert _snapshot_rows(aided) == _snapshot_rows(unaided)
            compared += 1
        assert compared

    def test_a_window_of_new_events_only_reads_the_changes_without_comparing_stored_states(
        self, streamed: tuple[Client, BusinessState]
    ) -> None:
        """The unresolved-events read says whether some event of a window has rows stored
        before it; where none has, the read of new events alone finds the changes the full read
        finds: in the window of each insert, some of each kind."""
        migrated, _ = streamed
        instants = sorted(
            row[0]
            for row in migrated.query("SELECT DISTINCT IngestedAt FROM biz_events").result_rows
        )
        kinds = set()
        for since, until in itertools.pairwise(instants):
            _, _, stored_before = state_queries.unresolved_events(migrated, since, until, [])
            events_stored_before = migrated.query(
                STORED_BEFORE, parameters={"since": since, "until": until}
            ).result_rows[0][0]
            assert stored_before == (events_stored_before > 0)
            kinds.add(stored_before)
            if stored_before:
                continue
            full = changed_events(migrated, since, until, outcomes_apart=True)
            new = changed_events(migrated, since, until, outcomes_apart=True, stored_before=False)
            assert _changes(new) == _changes(full)
        assert kinds == {True, False}
        # from the epoch (a derivation from scratch) nothing is stored before the window, and the
        # read leaves that check out: the count and the sample are the full read's
        epoch, until = datetime(1970, 1, 1, tzinfo=UTC), instants[-1]
        parameters = {"since": epoch, "until": until, "setup_types": []}
        count, sample, _ = migrated.query(
            state_queries.UNRESOLVED, parameters=parameters
        ).result_rows[0]
        assert count
        assert state_queries.unresolved_events(migrated, epoch, until, []) == (
            count,
            sorted(sample),
            False,
        )

    def test_close_risk_from_the_state_is_the_full_evaluations(
        self, streamed: tuple[Client, BusinessState]
    ) -> None:
        """Every period's entities, amounts, levels and contributors agree with a full
        evaluation, before and after close deadlines."""
        migrated, state = streamed
        answers = CloseRiskAnswers(lambda: migrated, CalendarBook(), state)
        contributors = 0
        for days_before_end in (45, 20, 0):
            as_of = END - timedelta(days=days_before_end)
            full = close_risk_report(
                migrated,
                evaluate(migrated, DEFAULT_SLAS, CalendarBook(), as_of),
                CalendarBook(),
                None,
                IdCache(),
            )
            known, from_state = answers.report(None, as_of, None)
            assert known == state.watermark()
            assert len(full) >= 3
            assert from_state == full, as_of
            contributors += sum(len(entity["contributors"]) for entity in full)
        assert contributors > 0

    def test_impact_and_close_risk_hold_the_same_blocked_items(
        self, migrated: Client, state: BusinessState, engine_url: str
    ) -> None:
        """One rule of "blocked": the invoice items close risk counts as blocked are exactly the
        items the blocked-invoice impact lists, at every instant asked (the small quarter: the
        tiny one has no blocked item)."""
        load_tiny_quarter(migrated, engine_url, state, scale="small", chunk=8000)
        impact = BlockedInvoiceAnswers(
            lambda: migrated, LineageRules.default(), OwnerRouting(), state
        )
        known = state.watermark()
        blocked_seen = 0
        for days_before_end in (60, 30, 10, 0):
            as_of = END - timedelta(days=days_before_end)
            rows = migrated.query(
                ITEMS_AT, parameters={"as_of": as_of, "known_at": known, "periods": []}
            ).result_rows
            found = items_at(rows, as_of)
            in_close_risk = {
                found.names[row]
                for row in np.flatnonzero(found.items.blocked & (found.items.kind == INVOICE_ITEM))
            }
            _, answer = impact.report(period=None, legal_entity=None, as_of=as_of, known_at=None)
            in_impact = {(item.object.type, item.object.id) for item in answer.items}
            assert in_close_risk == in_impact, as_of
            blocked_seen += len(in_impact)
        assert blocked_seen > 0

    def test_a_tick_with_nothing_new_writes_nothing(
        self, streamed: tuple[Client, BusinessState]
    ) -> None:
        """Idle: the window is empty, no component is read and no version written."""
        _, state = streamed
        time.sleep(0.002)
        report = state.tick(datetime.now(UTC))
        assert (report.touched, report.events, report.versions) == (0, 0, 0)
        assert report.until > report.since

    def test_an_answer_for_a_past_known_at_never_changes(
        self, migrated: Client, state: BusinessState, engine_url: str
    ) -> None:
        """Late spans arrive after an answer was given: the answer for that known_at holds."""
        spans = tiny_quarter_spans()
        half = len(spans) // 2
        loader = WarehouseSpanExporter(span_sink(migrated, engine_url))
        loader.export(spans[:half])
        loader.force_flush()
        tick(state)
        known_at = state.watermark()
        answers = TimerAnswers(lambda: migrated, DEFAULT_SLAS, CalendarBook(), state)
        before = answers.summaries(END, known_at)
        loader.export(spans[half:])
        loader.force_flush()
        tick(state)
        after = answers.summaries(END, known_at)
        latest = answers.summaries(END, None)
        assert after == before
        assert latest.known_at > known_at
        assert sum(s.counts["met"] for s in latest.summaries) > sum(
            s.counts["met"] for s in before.summaries
        )

    def test_a_re_sent_span_touches_nothing_whatever_its_content(
        self, migrated: Client, state: BusinessState
    ) -> None:
        """An exporter's retry stores the same row again, and a span re-sent with another outcome
        is a conflicting version: the first stored fact stands, so neither touches a component,
        and a derivation from scratch ends with the same timers (the stop still took effect)."""
        start = event(sc.TIME_APPROVED, "TE-9", {sc.TIME_ENTRY: "TE-9"}, at(0))
        stop = event(
            sc.BILLING_READY, "BR-9", {sc.TIME_ENTRY: "TE-9"}, at(1), legal_entity="LE-DE01"
        )
        rows = span_rows([start, stop])
        migrated.insert("otel_traces", rows, column_names=OTEL_TRACES_COLUMNS)
        tick(state)
        timers = current(migrated)
        migrated.insert("otel_traces", rows, column_names=OTEL_TRACES_COLUMNS)
        time.sleep(0.002)
        redelivered = state.tick(datetime.now(UTC))
        assert (redelivered.touched, redelivered.events, redelivered.versions) == (0, 0, 0)
        stop.attempts = [(at(1), sc.FAILED, "2026-09")]
        failed = span_rows([start, stop])[1:]  # the same trace and span ids as before
        migrated.insert("otel_traces", failed, column_names=OTEL_TRACES_COLUMNS)
        time.sleep(0.002)
        changed = state.tick(datetime.now(UTC))
        assert (changed.touched, changed.events, changed.versions) == (0, 0, 0)
        migrated.command("TRUNCATE TABLE sla_timers")
        state.reset(datetime.now(UTC))
        tick(state)
        assert timers
        assert current(migrated) == timers

    def test_a_new_attempt_touches_only_when_it_changes_what_is_derived(
        self, migrated: Client, state: BusinessState
    ) -> None:
        """billing.ready failed, and fails again (a new span): it still has not taken effect and
        still fails since its first attempt, so the tick touches nothing. A third attempt
        succeeds and stops the timer: the tick touches the time entry and ends where a
        derivation from scratch ends."""
        start = event(sc.TIME_APPROVED, "TE-9", {sc.TIME_ENTRY: "TE-9"}, at(0))
        stop = event(sc.BILLING_READY, "BR-9", {sc.TIME_ENTRY: "TE-9"}, at(1), outcome=sc.FAILED)
        migrated.insert("otel_traces", span_rows([start, stop]), column_names=OTEL_TRACES_COLUMNS)
        tick(state)
        timers = current(migrated)
        again = retried(stop, (at(1, hours=2), sc.FAILED, "2026-09"))
        rows = span_rows([start, again])[2:]  # its first attempt's row again, and the new one
        migrated.insert("otel_traces", rows, column_names=OTEL_TRACES_COLUMNS)
        same = tick(state)
        assert (same.touched, same.events, same.versions) == (0, 0, 0)
        assert current(migrated) == timers
        succeeded = retried(again, (at(2), sc.SUCCESS, "2026-09"))
        rows = span_rows([start, succeeded])[3:]
        migrated.insert("otel_traces", rows, column_names=OTEL_TRACES_COLUMNS)
        changed = tick(state)
        assert (changed.touched, changed.events) == (1, 2)  # the time entry, both its events
        assert changed.versions > 0
        incremental, incremental_items = current(migrated), current_items(migrated)
        assert incremental != timers
        migrated.command("TRUNCATE TABLE sla_timers")
        migrated.command("TRUNCATE TABLE close_items")
        state.reset(datetime.now(UTC))
        tick(state)
        assert (current(migrated), current_items(migrated)) == (incremental, incremental_items)

    def test_an_object_only_a_conflicting_version_names_keys_nothing(
        self, migrated: Client, state: BusinessState
    ) -> None:
        """billing.ready re-sent with the same ids and a second time entry: the first stored
        version stands, so it stops the first entry's timer only, in a tick and from scratch."""
        first = event(sc.TIME_APPROVED, "TE-9", {sc.TIME_ENTRY: "TE-9"}, at(0))
        other = event(sc.TIME_APPROVED, "TE-8", {sc.TIME_ENTRY: "TE-8"}, at(0))
        stop = event(sc.BILLING_READY, "BR-9", {sc.TIME_ENTRY: "TE-9"}, at(1))
        migrated.insert(
            "otel_traces", span_rows([first, other, stop]), column_names=OTEL_TRACES_COLUMNS
        )
        tick(state)
        stop.objects = {sc.TIME_ENTRY: ["TE-9", "TE-8"]}
        resent = span_rows([first, other, stop])[2:]  # the same trace and span ids as before
        migrated.insert("otel_traces", resent, column_names=OTEL_TRACES_COLUMNS)
        stops_query = (
            "SELECT KeyId, argMax(StopEventId, KnownAt) FROM sla_timers "
            "WHERE Sla = 'time-to-bill-readiness' GROUP BY KeyId ORDER BY KeyId"
        )
        tick(state)
        after_tick = migrated.query(stops_query).result_rows
        migrated.command("TRUNCATE TABLE sla_timers")
        state.reset(datetime.now(UTC))
        tick(state)
        assert after_tick == migrated.query(stops_query).result_rows
        assert after_tick == [("TE-8", ""), ("TE-9", stop.event_id)]

    def test_a_replay_under_a_new_event_id_is_not_a_second_event(
        self, migrated: Client, state: BusinessState
    ) -> None:
        """billing.ready failed, and the middleware replayed it under a new event id naming the
        original: one time-to-invoice-posting timer starts, at the original event, and the
        time-to-bill-readiness timer stops there."""
        start = event(sc.TIME_APPROVED, "TE-9", {sc.TIME_ENTRY: "TE-9"}, at(0))
        failed = event(
            sc.BILLING_READY,
            "BR-9",
            {sc.TIME_ENTRY: "TE-9", sc.BILLING_EVENT: "BE-9"},
            at(1),
            outcome=sc.FAILED,
        )
        replay = event(
            sc.BILLING_READY,
            "BR-9-replay",
            {sc.TIME_ENTRY: "TE-9", sc.BILLING_EVENT: "BE-9"},
            at(2),
        )
        replay.extra = {sc.REPLAY_OF: failed.event_id}
        migrated.insert(
            "otel_traces", span_rows([start, failed, replay]), column_names=OTEL_TRACES_COLUMNS
        )
        tick(state)
        starts = sorted({(str(row[2]), str(row[3])) for row in current(migrated)})
        assert starts == [
            ("time-to-bill-readiness", start.event_id),
            ("time-to-invoice-posting", failed.event_id),
        ]
        stops = migrated.query(
            "SELECT DISTINCT StopEventId FROM sla_timers WHERE Sla = 'time-to-bill-readiness'"
        ).result_rows
        assert stops == [(failed.event_id,)]

    def test_rows_visible_only_after_their_window_was_read_are_not_lost(
        self, migrated: Client, state: BusinessState
    ) -> None:
        """An insert slower than the settle time (or a replica behind) makes rows visible after the
        tick that read their knowledge time's window: the next tick reads that window again."""
        start = event(sc.TIME_APPROVED, "TE-5", {sc.TIME_ENTRY: "TE-5"}, at(0))
        stop = event(
            sc.BILLING_READY, "BR-5", {sc.TIME_ENTRY: "TE-5"}, at(1), legal_entity="LE-DE01"
        )
        tick(state)  # a window read before
        migrated.insert("otel_traces", span_rows([start, stop]), column_names=OTEL_TRACES_COLUMNS)
        held = {
            table: migrated.query(f"SELECT * FROM {table}")
            for table in ("biz_events", "biz_event_objects")
        }
        for table in held:
            migrated.command(f"TRUNCATE TABLE {table}")
        tick(state)  # reads the window of the rows' knowledge time while they are not visible
        assert current(migrated) == []
        # the event rows come back with their knowledge time; the view on them derives the
        # object rows, which carry the event rows' IngestedAt
        events = held["biz_events"]
        migrated.insert("biz_events", events.result_rows, column_names=list(events.column_names))
        time.sleep(0.002)
        report = state.tick(datetime.now(UTC))
        assert report.late_rows == sum(len(rows.result_rows) for rows in held.values())
        assert [row[:3] for row in current(migrated)] == [
            (sc.TIME_ENTRY, "TE-5", "time-to-bill-readiness"),
            (sc.TIME_ENTRY, "TE-5", "time-to-invoice-posting"),
        ]

    def test_an_event_that_names_no_object_is_counted_not_dropped(
        self, migrated: Client, state: BusinessState
    ) -> None:
        """A time.approved carrying only its legal entity or customer, or no reference at all,
        keys nothing: the tick counts it and names it; one that also names an object is keyed,
        and a customer.synced (a dimension set-up) is not such an event."""
        orphans = [
            event(sc.TIME_APPROVED, "TE-LOST", {}, at(0), legal_entity="LE-DE01"),
            event(sc.TIME_APPROVED, "TE-BARE", {}, at(0)),
            event(sc.EXPENSE_APPROVED, "EX-LOST", {}, at(0), customer="CUS-1"),
        ]
        keyed = event(
            sc.TIME_APPROVED, "TE-1", {sc.PROJECT: "PRJ-1"}, at(0), legal_entity="LE-DE01"
        )
        setup = event(sc.CUSTOMER_SYNCED, "CUS-1", {sc.CUSTOMER: "CUS-1"}, at(0))
        migrated.insert(
            "otel_traces",
            span_rows([*orphans, keyed, setup]),
            column_names=OTEL_TRACES_COLUMNS,
        )
        time.sleep(0.002)
        report = state.tick(datetime.now(UTC))
        assert (report.unresolved, report.unresolved_sample) == (
            3,
            ("expense.approved:EX-LOST", "time.approved:TE-BARE", "time.approved:TE-LOST"),
        )

    def test_new_work_alone_reads_no_stored_version_and_a_rebuild_re_derives_once(
        self, migrated: Client
    ) -> None:
        """A window whose every event is new and names objects no earlier event named: the tick
        reads no latest stored version (there can be none) and ends where a derivation from
        scratch ends. A rebuild keeps every row's knowledge time, so no window shows its rows:
        the tick after it re-derives every timer, compared with the stored versions, and writes
        nothing; the ticks after that go on from the watermark."""
        reads: list[str] = []
        keeper = _keeper_recording(migrated, reads)

        def engagement(entry: str) -> list[tuple[object, ...]]:
            start = event(sc.TIME_APPROVED, entry, {sc.TIME_ENTRY: entry}, at(0))
            stop = event(
                sc.BILLING_READY,
                f"BR-{entry}",
                {sc.TIME_ENTRY: entry},
                at(1),
                legal_entity="LE-DE01",
            )
            return span_rows([start, stop])

        latest = (
            state_queries.LATEST_DIGESTS_OF_NAMED,
            state_queries.LATEST_ITEM_DIGESTS_OF_NAMED,
            LATEST_DIMENSIONS_OF_NAMED,
        )
        migrated.insert("otel_traces", engagement("TE-1"), column_names=OTEL_TRACES_COLUMNS)
        tick(keeper)  # from scratch
        migrated.insert("otel_traces", engagement("TE-2"), column_names=OTEL_TRACES_COLUMNS)
        reads.clear()
        new = tick(keeper)
        assert (new.path, new.events, new.versions > 0) == ("index", 2, True)
        assert not set(latest) & set(reads)
        incremental = current(migrated)
        migrated.command("TRUNCATE TABLE sla_timers")
        keeper.reset(datetime.now(UTC))
        tick(keeper)
        assert [row[:3] for row in incremental] == [
            (sc.TIME_ENTRY, entry, sla)
            for entry in ("TE-1", "TE-2")
            for sla in ("time-to-bill-readiness", "time-to-invoice-posting")
        ]
        assert current(migrated) == incremental
        rebuild(migrated, CorrelationRules.default())
        again = tick(keeper)
        assert (again.since, again.path, again.events, again.versions) == (EPOCH, "graph", 4, 0)
        assert current(migrated) == incremental
        migrated.insert("otel_traces", engagement("TE-3"), column_names=OTEL_TRACES_COLUMNS)
        reads.clear()
        after = tick(keeper)
        assert (after.since, after.path, after.events) == (again.until, "index", 2)
        assert not set(latest) & set(reads)

    def test_new_work_alone_reads_no_replaced_version_when_recording(
        self, migrated: Client
    ) -> None:
        """A tick of new work alone writes every item's and timer's first version: the replaced
        item versions' statement is not run, and the item pieces and timer changes are recorded
        from the window's versions alone (the ``RECORD_FIRST`` statements), the rows a record
        from every stored version gives. With versions stored in the window before the tick's
        own (as a tick that died leaves them) the full statements run; either way the rows are
        the same."""
        reads: list[str] = []
        keeper = _keeper_recording(migrated, reads)
        migrated.insert("otel_traces", _billed("TE-1"), column_names=OTEL_TRACES_COLUMNS)
        tick(keeper)  # from scratch
        assert {item_versions.RECORD, timer_changes.RECORD, close_item_pieces.RECORD} <= set(reads)
        migrated.insert("otel_traces", _billed("TE-2"), column_names=OTEL_TRACES_COLUMNS)
        reads.clear()
        new = tick(keeper)
        assert (new.path, _item_versions_at(migrated, new.until)) == ("index", 1)
        firsts = (close_item_pieces.RECORD_FIRST, timer_changes.RECORD_FIRST)
        fulls = (close_item_pieces.RECORD, timer_changes.RECORD, item_versions.RECORD)
        assert [s in reads for s in firsts + fulls] == [True, True, False, False, False]
        superseded, changes = _superseded(migrated), _timer_changes_netted(migrated)
        pieces = _pieces_netted(migrated)
        assert {row[0] for row in changes} == {"TE-1", "TE-2", "BE-TE-1", "BE-TE-2"}
        assert {row[6] for row in pieces} == {"BE-TE-1", "BE-TE-2"}
        timer_changes.reset(migrated, at=datetime.now(UTC))
        timer_changes.record(migrated, new.until, at=datetime.now(UTC))
        item_versions.reset(migrated, at=datetime.now(UTC))
        item_versions.record(migrated, new.until, at=datetime.now(UTC))
        assert (_timer_changes_netted(migrated), _pieces_netted(migrated)) == (changes, pieces)
        reads.clear()
        for record_window in (item_versions.record_window, timer_changes.record_window):
            recording = ReadsRecorded(migrated, reads)
            record_window(recording, EPOCH, new.until, first=True)  # type: ignore[arg-type]
        assert [s in reads for s in firsts + fulls] == [False, False, True, True, True]
        assert (_superseded(migrated), _timer_changes_netted(migrated)) == (superseded, changes)
        assert _pieces_netted(migrated) == pieces

    def test_a_running_rebuild_pauses_the_keeper(
        self, migrated: Client, state: BusinessState
    ) -> None:
        """While the business tables are re-derived the keeper neither reads nor writes."""
        write_state(migrated, REBUILD_KEY, "running", at=datetime.now(UTC))
        report = state.tick(datetime.now(UTC) + timedelta(seconds=1))
        assert report.skipped.startswith("rebuild running since")
        write_state(migrated, REBUILD_KEY, "done", at=datetime.now(UTC) + timedelta(seconds=1))
        assert state.tick(datetime.now(UTC) + timedelta(seconds=2)).skipped == ""

    def test_a_rebuild_the_engine_fails_keeps_the_keeper_waiting_until_one_finishes(
        self, migrated: Client, state: BusinessState
    ) -> None:
        """A rebuild that fails mid-way (here: its knowledge-time table is not the one it
        expects, a real engine error) records ``failed``, not ``done``: the rows it emptied are
        missing, and a keeper told ``done`` would mark every timer of theirs deleted. The keeper
        waits, saying so, until a rebuild finishes."""
        migrated.insert("otel_traces", _billed("TE-1"), column_names=OTEL_TRACES_COLUMNS)
        assert state.tick(datetime.now(UTC)).versions > 0
        migrated.command(
            "CREATE TABLE biz_events_first_known (Other UInt8) ENGINE = MergeTree ORDER BY Other"
        )
        with pytest.raises(DatabaseError):
            rebuild(migrated, CorrelationRules.default())
        assert read_state(migrated, REBUILD_KEY)[REBUILD_KEY][0] == "failed"
        paused = state.tick(datetime.now(UTC))
        assert paused.skipped.startswith("rebuild failed at")
        migrated.command("DROP TABLE biz_events_first_known SYNC")
        rebuild(migrated, CorrelationRules.default())
        again = state.tick(datetime.now(UTC))
        assert (again.skipped, again.since, again.versions) == ("", EPOCH, 0)

    def test_a_rebuild_after_the_window_start_is_re_derived_once_an_earlier_one_not_at_all(
        self, migrated: Client, state: BusinessState
    ) -> None:
        """The keeper re-derives every timer after a rebuild it has not derived after, once: also
        when its last tick began before the rebuild and ended after it (that tick read
        half-filled tables, and records the rebuild it read). A rebuild that finished before the
        window's start with no tick recording it (an upgrade from a release whose rebuild gave
        every row a new knowledge time) re-derives nothing."""
        migrated.insert("otel_traces", _billed("TE-1"), column_names=OTEL_TRACES_COLUMNS)
        clock = datetime.now(UTC) + timedelta(seconds=1)
        assert state.tick(clock).since == EPOCH
        first = state.tick(clock + timedelta(seconds=1))
        write_state(migrated, REBUILD_KEY, "done", at=first.since - timedelta(seconds=1))
        assert state.tick(clock + timedelta(seconds=2)).since == first.until
        # a rebuild done after the watermark's instant, though the schema state holds a later
        # tick's write than the rebuild's (the tick that overlapped it)
        write_state(migrated, REBUILD_KEY, "done", at=clock + timedelta(seconds=2))
        again = state.tick(clock + timedelta(seconds=3))
        assert (again.since, again.versions) == (EPOCH, 0)
        assert state.tick(clock + timedelta(seconds=4)).since == again.until
