"""Batches of ``otel_traces`` rows in the form the engine parses: JSONCompactEachRow lines.

One line per row, the exporter's columns in ``OTEL_TRACES_COLUMNS`` order, times as integer
nanoseconds. The compiled OTLP decoder writes these lines directly; ``encode_rows`` writes the same
bytes from row tuples. Writer, spool and sinks carry them unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

JSON_ROW_STRUCTURE: Final = (
    "Timestamp Int64, TraceId String, SpanId String, ParentSpanId String, TraceState String, "
    "SpanName String, SpanKind String, ServiceName String, "
    "ResourceAttributes Map(String, String), ScopeName String, ScopeVersion String, "
    "SpanAttributes Map(String, String), Duration UInt64, StatusCode String, "
    "StatusMessage String, EventsTimestamp Array(Int64), EventsName Array(String), "
    "EventsAttributes Array(Map(String, String)), LinksTraceId Array(String), "
    "LinksSpanId Array(String), LinksTraceState Array(String), "
    "LinksAttributes Array(Map(String, String))"
)
"""The structure of one line, for ClickHouse's ``file()`` and ``input()`` table functions."""
JSON_ROW_SELECT: Final = (
    "fromUnixTimestamp64Nano(Timestamp), TraceId, SpanId, ParentSpanId, TraceState, SpanName, "
    "SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, "
    "Duration, StatusCode, StatusMessage, "
    "arrayMap(t -> fromUnixTimestamp64Nano(t), EventsTimestamp), EventsName, EventsAttributes, "
    "LinksTraceId, LinksSpanId, LinksTraceState, LinksAttributes"
)
"""The ``otel_traces`` columns from those lines: nanoseconds become DateTime64(9) in the engine."""

encode_json_value: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False
).encode
"""The JSON text of one value exactly as it appears inside a line (used for envelope columns)."""


@dataclass(frozen=True, slots=True)
class SpanBatch:
    """Rows for ``otel_traces``: ``row_count`` lines joined by newlines, no trailing newline."""

    json_lines: bytes
    row_count: int

    @classmethod
    def from_json_lines(cls, json_lines: bytes) -> SpanBatch:
        """A batch read back (from the spool): JSON strings escape newlines, so lines are rows."""
        return cls(json_lines, json_lines.count(b"\n") + 1 if json_lines else 0)


def encode_rows(rows: Sequence[Sequence[Any]]) -> SpanBatch:
    """The lines of row tuples (or lists) in ``OTEL_TRACES_COLUMNS`` order."""
    return SpanBatch("\n".join(map(encode_json_value, rows)).encode(), len(rows))


def join_batches(batches: Sequence[SpanBatch]) -> SpanBatch:
    """One batch holding every row of ``batches``, in order."""
    if len(batches) == 1:
        return batches[0]
    filled = [batch for batch in batches if batch.row_count]
    return SpanBatch(
        b"\n".join(batch.json_lines for batch in filled), sum(b.row_count for b in filled)
    )


NANOSECONDS_PER_DAY: Final = 86_400 * 1_000_000_000


def split_by_day(batch: SpanBatch, *, max_days: int) -> list[SpanBatch]:
    """``batch`` cut into batches whose rows' UTC days lie within ``max_days`` consecutive days,
    oldest first: ``otel_traces`` is partitioned by day, and the engine refuses an insert block
    that spans more partitions than its ``max_partitions_per_insert_block``.

    The span is counted in consecutive days, not distinct ones, so that an engine whose partition
    dates are in another time zone (each UTC day then touches two of its dates) sees at most
    ``max_days + 1`` partitions per batch.
    """
    if max_days < 1:
        raise ValueError(f"max_days={max_days}: expected at least 1")
    by_day: dict[int, list[bytes]] = {}
    for line in batch.json_lines.split(b"\n") if batch.row_count else ():
        # every line starts with the Timestamp column in integer nanoseconds: [1767225600000000000,
        timestamp = int(line[1 : line.index(b",")])
        by_day.setdefault(timestamp // NANOSECONDS_PER_DAY, []).append(line)
    parts: list[SpanBatch] = []
    group: list[bytes] = []
    first_day = None
    for day in sorted(by_day):
        if first_day is not None and day - first_day >= max_days:
            parts.append(SpanBatch(b"\n".join(group), len(group)))
            group, first_day = [], None
        if first_day is None:
            first_day = day
        group.extend(by_day[day])
    if group:
        parts.append(SpanBatch(b"\n".join(group), len(group)))
    return parts
