"""A tick's narrow unit (``slas.cause_refresh``) on the real engine: events whose window changed
only how their attempts stand refresh the root causes downstream of them, and the versions such a
tick writes are the ones re-deriving their whole components writes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from slas.business_state import WATERMARK_KEY, BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from slas.item_rows import VALUE_COLUMNS, derive_items, item_digests
from slas.state_queries import (
    ITEM_COLUMNS,
    ITEM_HASH_COLUMNS,
    graph_chunks,
    item_hashes,
    load_component,
)
from slas.timer_rows import derive_timers
from tests.slas.test_business_state import current, current_items
from tests.slas.tiny_quarter import SETTLE, Streamed, tick
from warehouse.schema_state import write_state

pytestmark = pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)

ARRIVALS = f"""
INSERT INTO otel_traces
SELECT * REPLACE (
    lower(hex(cityHash64(SpanId, {{seed:UInt64}}))) AS SpanId,
    Timestamp + toIntervalMinute({{minutes:Int64}}) AS Timestamp,
    if({{outcome:String}} = '', SpanAttributes,
       mapUpdate(SpanAttributes, map('{sc.OUTCOME}', {{outcome:String}}))) AS SpanAttributes)
FROM otel_traces
WHERE SpanAttributes['{sc.EVENT_TYPE}'] != ''
  AND (NOT {{never_succeeded:Bool}} OR SpanAttributes['{sc.EVENT_ID}'] IN (
      SELECT EventId FROM biz_events GROUP BY EventId HAVING countIf(Outcome = '{sc.SUCCESS}') = 0))
ORDER BY cityHash64(TraceId, SpanId, {{seed:UInt64}})
LIMIT {{count:UInt64}}
"""
"""New attempts of stored events scattered across the quarter: copies of stored spans (new span
ids), ``minutes`` later or earlier, with another outcome when ``outcome`` names one."""

KINDS = (
    # (minutes, outcome, only events that never succeeded, how many)
    (1, "", False, 40),  # retries as they were
    (60, sc.FAILED, False, 40),  # failures after the event's success
    (90, sc.SUCCESS, False, 20),  # successes after a failure
    (24 * 60, sc.SUCCESS, True, 10),  # late first successes
    (-24 * 60, sc.FAILED, False, 5),  # attempts before the first one
)

VERSIONS = """
SELECT {identity}, Deleted, Digest FROM {table}
WHERE KnownAt = {{known_at:DateTime64(3, 'UTC')}} ORDER BY {identity}
"""
TIMER_VERSIONS = VERSIONS.format(identity="KeyType, KeyId, Sla, StartEventId", table="sla_timers")
ITEM_VERSIONS = VERSIONS.format(identity="ItemType, ItemId", table="close_items")


def arrive(client: Client, seed: int) -> None:
    for number, (minutes, outcome, never_succeeded, count) in enumerate(KINDS):
        client.command(
            ARRIVALS,
            parameters={
                "seed": seed * 100 + number,
                "minutes": minutes,
                "outcome": outcome,
                "never_succeeded": never_succeeded,
                "count": count,
            },
        )


def versions_at(client: Client, known_at: datetime) -> tuple[list[tuple[object, ...]], ...]:
    return tuple(
        [tuple(row) for row in client.query(sql, parameters={"known_at": known_at}).result_rows]
        for sql in (TIMER_VERSIONS, ITEM_VERSIONS)
    )


Quarter = tuple[Client, BusinessState]


@pytest.fixture
def quarter(streamed_quarter: Streamed) -> Quarter:
    """The tiny quarter streamed in, a keeper ticking after each insert: the state current."""
    return streamed_quarter.client, streamed_quarter.keeper


class TestNarrowTick:
    @pytest.mark.parametrize("seed", [3, 4])
    def test_scattered_new_attempts_write_what_re_deriving_their_components_writes(
        self, quarter: Quarter, seed: int
    ) -> None:
        """Retries, failures after a success, successes after a failure, late first successes
        and attempts before the first, scattered across the quarter: the tick refreshes root
        causes where only outcomes changed and writes exactly the versions that a tick
        re-deriving every changed event's component writes for the same window; ticks and a
        derivation from scratch still end in the same state."""
        client, state = quarter
        before = state.watermark()
        arrive(client, seed)
        narrow = tick(state)
        assert narrow.late_rows == 0
        assert narrow.refreshed > 0
        written = versions_at(client, narrow.until)
        assert written[1]
        for table in ("sla_timers", "close_items"):
            client.command(
                f"ALTER TABLE {table} DELETE WHERE KnownAt = {{known_at:DateTime64(3, 'UTC')}}",
                parameters={"known_at": narrow.until},
                settings={"mutations_sync": 2},
            )
        write_state(client, WATERMARK_KEY, before.isoformat(), at=datetime.now(UTC))
        wide = BusinessState(
            lambda: client, DEFAULT_SLAS, CalendarBook(), settle=SETTLE, refresh_outcomes=False
        )
        reference = tick(wide)
        assert (reference.since, reference.refreshed) == (before, 0)
        assert reference.events > narrow.events
        assert versions_at(client, reference.until) == written
        incremental, incremental_items = current(client), current_items(client)
        client.command("TRUNCATE TABLE sla_timers")
        client.command("TRUNCATE TABLE close_items")
        state.reset(datetime.now(UTC))
        tick(state)
        assert (current(client), current_items(client)) == (incremental, incremental_items)


class TestWhatAnOutcomeMoves:
    """The premises of the narrow unit, on the whole tiny quarter's snapshot."""

    def test_no_timer_and_no_item_field_but_the_root_cause_reads_how_attempts_stand(
        self, streamed: Quarter
    ) -> None:
        """Whether each event's latest attempt failed, and since when, drawn at random: every
        timer is the same, every item the same but for its upstream fields, and some of those
        move."""
        client, state = streamed
        until = state.watermark()
        graph_chunks(client, until, until, max_events=10**9, everything=True)
        snapshot, names = load_component(client, until, chunk=0)
        rng = np.random.default_rng(5)
        failed = rng.random(len(snapshot.event)) < 0.2
        drawn = dataclasses.replace(
            snapshot,
            failed=failed,
            failing_since_us=np.where(failed, snapshot.first_us + 1, -1).astype(np.int64),
        )
        calendars = CalendarBook()
        for timers, other in zip(
            derive_timers(snapshot, DEFAULT_SLAS, calendars, names),
            derive_timers(drawn, DEFAULT_SLAS, calendars, names),
            strict=True,
        ):
            assert np.array_equal(timers.identities, other.identities)
            assert np.array_equal(timers.digests, other.digests)
        items = derive_items(snapshot, calendars, state.rules, names)
        others = derive_items(drawn, calendars, state.rules, names)
        assert len(items) > 100
        mine, theirs = (
            {name: _listed(column) for name, column in d.columns(np.arange(len(d))).items()}
            for d in (items, others)
        )
        upstream = {name for name in mine if name.startswith("Upstream")} | {"Digest"}
        assert {n: c for n, c in mine.items() if n not in upstream} == {
            n: c for n, c in theirs.items() if n not in upstream
        }
        assert mine["UpstreamEventId"] != theirs["UpstreamEventId"]

    def test_a_stored_item_reads_back_as_its_derivation_spells_it(self, streamed: Quarter) -> None:
        """Every stored item version digested from its columns as the table gives them back has
        the digest stored with it."""
        stored = streamed[0].query_arrow(
            f"SELECT {', '.join(ITEM_COLUMNS)}, {ITEM_HASH_COLUMNS} FROM close_items WHERE NOT Deleted"
        )
        assert stored.num_rows > 100
        digests = item_digests(
            {name: stored[name] for name in VALUE_COLUMNS}, item_hashes(stored), stored.num_rows
        )
        assert np.array_equal(digests, stored["Digest"].to_numpy())


def _listed(column: Any) -> list[Any]:
    """A column as Python values, whether Arrow, numpy or a list."""
    return column.to_pylist() if isinstance(column, pa.Array) else list(column)
