"""The row shape of ``otel_traces``: the OTel Collector ClickHouse exporter's 22 insert columns.

Rows are plain tuples in ``OTEL_TRACES_COLUMNS`` order, because ingest builds hundreds of thousands
of them a second; ``SpanRow`` names the positions for readers and type checkers.
"""

from __future__ import annotations

from typing import Final, NamedTuple

OTEL_TRACES_COLUMNS: Final = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
)


class SpanRow(NamedTuple):
    """One ``otel_traces`` row. Times are integer nanoseconds since the Unix epoch (UTC)."""

    timestamp: int
    trace_id: str
    span_id: str
    parent_span_id: str
    trace_state: str
    span_name: str
    span_kind: str
    service_name: str
    resource_attributes: dict[str, str]
    scope_name: str
    scope_version: str
    span_attributes: dict[str, str]
    duration: int
    status_code: str
    status_message: str
    events_timestamp: list[int]
    events_name: list[str]
    events_attributes: list[dict[str, str]]
    links_trace_id: list[str]
    links_span_id: list[str]
    links_trace_state: list[str]
    links_attributes: list[dict[str, str]]


# The spellings we write (the exporter's current ones); readers accept the older ones too.
SPAN_KIND_NAMES: Final = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
"""Indexed by the OTLP ``Span.SpanKind`` enum value."""
STATUS_CODE_NAMES: Final = ("Unset", "Ok", "Error")
"""Indexed by the OTLP ``Status.StatusCode`` enum value."""
