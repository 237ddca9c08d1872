"""The business state when ClickHouse fails in the middle of a tick: a statement refused before
it ran, or one that ran but whose answer never came back (a timeout after the engine did the
work). Either leaves a tick half done: scratch tables half filled, timers written but not the
items, dimensions written but not the watermark. The ticks that follow must still end where a
derivation from scratch ends."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from domain.instants import EPOCH
from slas import timer_changes
from slas.business_state import BusinessState, DerivationStopped
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from syncsight.bulk_load import WarehouseSpanExporter
from tests.slas.test_business_state import current, current_items
from tests.slas.tiny_quarter import SETTLE, streamed_copy, tick, tiny_quarter_spans
from tests.templates import Templates, database_of
from warehouse.pool import ClientPool
from warehouse.span_store import span_sink

pytestmark = pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)

STATEMENTS = (
    "query",
    "query_np",
    "query_arrow",
    "query_df",
    "command",
    "insert",
    "insert_arrow",
    "raw_query",
)


class InjectedFault(OperationalError):
    """What the failing client raises: the engine unavailable, or its answer lost."""


class FailingClient:
    """The real client, but statement number ``fail_at`` of those since the last ``arm`` fails:
    before it reaches the engine (``after`` False) or after the engine ran it (True)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._seen = 0
        self.fail_at = 0
        self.after = False
        self.failed = 0

    def arm(self, fail_at: int, *, after: bool) -> None:
        self._seen, self.fail_at, self.after = 0, fail_at, after

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in STATEMENTS:
            return method

        def statement(*args: Any, **kwargs: Any) -> Any:
            self._seen += 1
            if self._seen != self.fail_at:
                return method(*args, **kwargs)
            self.failed += 1
            if self.after:
                method(*args, **kwargs)
            raise InjectedFault(f"injected: statement {self._seen} {name} failed")

        return statement


def test_ticks_that_fail_midway_end_where_a_derivation_from_scratch_ends(
    migrated: Client, engine_url: str
) -> None:
    """The tiny quarter streamed in 150-span inserts; after each, a tick that fails at a random
    statement (half of them before it ran, half after) about two times in three, retried until
    one completes, as the evaluator retries at its next interval."""
    failing = FailingClient(migrated)
    state = BusinessState(lambda: failing, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)  # type: ignore[arg-type, return-value]
    spans = tiny_quarter_spans()
    loader = WarehouseSpanExporter(span_sink(migrated, engine_url))
    draw = random.Random(5)
    completed = 0
    for first in range(0, len(spans), 150):
        loader.export(spans[first : first + 150])
        loader.force_flush()
        while True:
            failing.arm(
                draw.randint(1, 45) if draw.random() < 0.65 else 0, after=draw.random() < 0.5
            )
            try:
                tick(state)
            except InjectedFault:
                continue
            completed += 1
            break
    incremental, incremental_items = current(migrated), current_items(migrated)
    migrated.command("TRUNCATE TABLE sla_timers")
    migrated.command("TRUNCATE TABLE close_items")
    timer_changes.reset(migrated, at=datetime.now(UTC))
    scratch = BusinessState(lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)
    scratch.reset(datetime.now(UTC))
    tick(scratch)
    assert failing.failed > 20  # faults landed in many kinds of statement
    assert completed > 10
    assert len(incremental) > 100
    assert len(incremental_items) > 100
    assert current(migrated) == incremental
    assert current_items(migrated) == incremental_items


class ThreadsClient:
    """The pool's client of whichever thread calls (each thread its own)."""

    def __init__(self, pool: ClientPool) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool.client(), name)


@pytest.mark.parametrize(("fail_at", "after"), [(1, False), (8, False), (12, True)])
def test_a_chunk_read_that_fails_on_the_reader_thread_fails_the_tick(
    client: Client, engine_url: str, templates: Templates, fail_at: int, after: bool
) -> None:
    """A derivation in chunks reads each chunk ahead on a reader thread: a statement failing
    there (the first chunk's read, or one read while the tick derives the chunk before) raises
    in the tick, which neither hangs nor moves its watermark, and the tick after it ends where
    a derivation from scratch ends."""
    quarter = streamed_copy(templates, engine_url, client)
    migrated = quarter.client
    pool = ClientPool(engine_url, database=database_of(migrated))
    failing = FailingClient(ThreadsClient(pool))  # type: ignore[arg-type]
    tick_thread = threading.current_thread()

    def client_of() -> Any:
        return migrated if threading.current_thread() is tick_thread else failing

    state = BusinessState(client_of, DEFAULT_SLAS, CalendarBook(), settle=SETTLE,
                          max_events_per_chunk=40)  # fmt: skip
    incremental, incremental_items = current(migrated), current_items(migrated)
    state.reset(datetime.now(UTC))
    try:
        failing.arm(fail_at, after=after)
        with pytest.raises(InjectedFault):
            tick(state)
        assert failing.failed == 1
        assert state.watermark() == EPOCH
        failing.arm(0, after=False)
        report = tick(state)
    finally:
        pool.close()
    assert report.path == "graph"
    assert report.versions == 0  # the chunks written before the failure moved nothing either
    assert len(incremental) > 100
    assert current(migrated) == incremental
    assert current_items(migrated) == incremental_items


def test_a_derivation_asked_to_stop_ends_after_its_chunk_and_the_next_tick_goes_on(
    client: Client, engine_url: str, templates: Templates
) -> None:
    """A stopping service asks the derivation in chunks to stop: it ends after the chunk it is
    writing (not after every chunk), its watermark where it was; the next keeper's tick derives
    the window again, the chunks written then move nothing, and the rows are those of a
    derivation that was never stopped."""
    quarter = streamed_copy(templates, engine_url, client, max_events_per_chunk=40)
    migrated = quarter.client
    incremental, incremental_items = current(migrated), current_items(migrated)
    stopping = BusinessState(lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=SETTLE,
                             max_events_per_chunk=40)  # fmt: skip
    stopping.reset(datetime.now(UTC))
    stopping.stop_deriving()
    with pytest.raises(DerivationStopped) as stopped:
        tick(stopping)
    assert stopped.value.done == 1
    assert stopped.value.count > 2
    assert stopping.watermark() == EPOCH
    going_on = BusinessState(lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=SETTLE,
                             max_events_per_chunk=40)  # fmt: skip
    report = tick(going_on)
    assert report.path == "graph"
    assert report.versions == 0
    assert current(migrated) == incremental
    assert current_items(migrated) == incremental_items
