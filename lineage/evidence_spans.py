"""The raw spans evidence packs show and hash, copied into ``evidence_spans`` (migration 25) and
read from there by the pack's key; what is not copied yet is read from ``otel_traces`` as before,
so a pack is the same either way.

Since migration 30 the insert that stores a business span writes its copy (a view on
``otel_traces``). The SLA evaluator's tick records each window it read that starts before then
(rows stored earlier, or stored anew by a rebuild; ``slas.business_state.RECORDED``): for every
``biz_events`` row stored in the window with a raw span hash, the ``otel_traces`` rows of its span
with that hash. A pack then decompresses one 64-row granule per span instead of one wide granule
of ``otel_traces`` (benchmarks/history/evidence.md, "Evidence pack, sixth
pass").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from clickhouse_connect.driver.client import Client

from lineage.facts import StoredFact
from lineage.queries import RAW_SPAN_FIELDS, raw_span_records, raw_spans
from warehouse.queries import window_cut
from warehouse.schema import (
    BIZ_EVENTS,
    EVIDENCE_COPY_COLUMNS,
    EVIDENCE_COPY_SELECT,
    EVIDENCE_SPANS,
    EVIDENCE_SPANS_AT_INGEST,
    EVIDENCE_SPANS_WATERMARK,
    OTEL_TRACES,
)

WATERMARK_KEY: Final = EVIDENCE_SPANS_WATERMARK

AT_INGEST_KEY: Final = EVIDENCE_SPANS_AT_INGEST
"""The instant from which the insert that stores a business row writes its copy too (migration 30:
a view on ``otel_traces``); the windows stored after it need no copy from the tick."""

CHUNK_ROWS: Final = 200_000
"""Business rows one copy statement takes at most (whole days of event time, unless one day holds
more)."""

TICK_ROWS: Final = 100_000
"""Business rows one tick copies the spans of at most: the first ticks after migration 25 (or
after the copies fell behind) copy every stored span a bounded window at a time, so each tick
still ends in seconds and the evaluator's other work goes on; a pack reads what is not copied
yet from ``otel_traces``, the same records either way."""

_WINDOW = f"""{BIZ_EVENTS}
WHERE IngestedAt > {{since:DateTime64(3, 'UTC')}} AND IngestedAt <= {{until:DateTime64(3, 'UTC')}}
  AND RawSpanHash != 0
  AND EventTime >= {{start:DateTime64(9, 'UTC')}} AND EventTime < {{end:DateTime64(9, 'UTC')}}"""
"""The business rows stored in ``(since, until]`` whose span started in ``[start, end)``."""

WINDOW_DAYS = f"""
SELECT toStartOfDay(EventTime, 'UTC') AS day, count()
FROM {BIZ_EVENTS}
WHERE IngestedAt > {{since:DateTime64(3, 'UTC')}} AND IngestedAt <= {{until:DateTime64(3, 'UTC')}}
  AND RawSpanHash != 0
GROUP BY day ORDER BY day
"""
"""The days of event time the window's business rows fall on, with their counts."""

RECORD = f"""
INSERT INTO {EVIDENCE_SPANS} ({EVIDENCE_COPY_COLUMNS})
SELECT {EVIDENCE_COPY_SELECT}
FROM {OTEL_TRACES}
PREWHERE Timestamp >= {{start:DateTime64(9, 'UTC')}} AND Timestamp < {{end:DateTime64(9, 'UTC')}}
  AND (ServiceName, SpanName, toDateTime(Timestamp), TraceId)
      IN (SELECT ServiceName, SpanName, toDateTime(EventTime), TraceId FROM {_WINDOW})
WHERE (TraceId, SpanId, RawSpanHash) IN (SELECT TraceId, SpanId, RawSpanHash FROM {_WINDOW})
"""
"""The raw rows of the window's business rows, each under the hash its business row names: found
through ``otel_traces``' sort key and partitions (a fact's event time is its span's start), as a
pack finds them (``lineage.queries.RAW_SPANS``). The sort key and the trace id are matched by one
set: one read of the window fewer to plan and run than a set each (2-3 ms of a small tick's 20,
benchmarks/history/business-state-tick.md, "Eleventh pass")."""

COPIES = f"""
SELECT {RAW_SPAN_FIELDS}, RawSpanHash
FROM {EVIDENCE_SPANS}
PREWHERE (TraceId, SpanId, RawSpanHash) IN {{copies:Array(Tuple(String, String, UInt64))}}
"""
"""The copies of the given (trace id, span id, raw span hash), as ``RAW_SPANS`` shows them."""

Copies = dict[tuple[str, str, int], dict[str, Any]]


def record_window(
    client: Client,
    since: datetime,
    until: datetime,
    *,
    chunk_rows: int = CHUNK_ROWS,
    most: int = TICK_ROWS,
) -> datetime:
    """Copy the raw spans of the business rows stored in ``(since, until]``, ``since`` being the
    copies' watermark, in statements of at most ``chunk_rows`` rows' days; when the window holds
    more than ``most`` rows, only those stored up to where about ``most`` rows end. Returns the
    end of what was copied (the caller moves the copies' watermark there: the keeper's tick, with
    its own). Recorded again after a tick that died first, a copy is the same row, which the
    table's merges keep once (a pack reads either)."""
    days = _days(client, since, until)
    if sum(rows for _, rows in days) > most:
        cut = window_cut(client, since, until, most)
        if cut is not None:
            until = cut
            days = _days(client, since, until)
    for start, end in day_runs(days, chunk_rows):
        client.command(
            RECORD, parameters={"since": since, "until": until, "start": start, "end": end}
        )
    return until


def _days(client: Client, since: datetime, until: datetime) -> list[tuple[datetime, int]]:
    rows = client.query(WINDOW_DAYS, parameters={"since": since, "until": until}).result_rows
    return [(day, int(count)) for day, count in rows]


def day_runs(days: list[tuple[datetime, int]], most: int) -> list[tuple[datetime, datetime]]:
    """Runs of the (ordered) days with their row counts, each holding at most ``most`` rows
    unless a single day does: the ``[start, end)`` of each run."""
    chunks: list[tuple[datetime, datetime]] = []
    start: datetime | None = None
    held = 0
    for day, rows in days:
        if start is not None and held + rows > most:
            chunks.append((start, day))
            start, held = None, 0
        if start is None:
            start = day
        held += rows
    if start is not None:
        chunks.append((start, days[-1][0] + timedelta(days=1)))
    return chunks


def pack_spans(client: Client, facts: Iterable[StoredFact]) -> Copies:
    """``lineage.queries.raw_spans`` of the facts: the copy a fact's raw hash names from
    ``evidence_spans``, and from ``otel_traces`` every copy of the spans with a fact that names
    none (stored before migration 13) or whose copy is not recorded yet."""
    facts = list(facts)
    wanted = {
        (f.texts["trace_id"], f.texts["span_id"], f.raw_span_hash) for f in facts if f.raw_span_hash
    }
    found: Copies = {}
    if wanted:
        rows = client.query(COPIES, parameters={"copies": sorted(wanted)}).result_rows
        found = raw_span_records(rows)
    missing = {
        (f.texts["trace_id"], f.texts["span_id"])
        for f in facts
        if (f.texts["trace_id"], f.texts["span_id"], f.raw_span_hash) not in found
    }
    if missing:
        found.update(raw_spans(client, facts, only=missing))
    return found
