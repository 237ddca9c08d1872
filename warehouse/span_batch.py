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
