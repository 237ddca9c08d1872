"""Exporter-shaped ``otel_traces`` rows for tests that write raw spans straight into ClickHouse."""

from __future__ import annotations

from typing import Any

from warehouse.spans import SpanRow

BASE_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def span_row(
    attributes: dict[str, str],
    *,
    trace_id: str = "0af7651916cd43dd8448eb211c80319c",
    span_id: str = "b7ad6b7169203331",
    start_ns: int = BASE_NS,
    duration_ns: int = 250_000_000,
    status_code: str = "Unset",
    status_message: str = "",
    **overrides: Any,
) -> tuple[Any, ...]:
    """One row as the OTel Collector's ClickHouse exporter would write it."""
    row = SpanRow(
        timestamp=start_ns,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id="",
        trace_state="",
        span_name="erp.post",
        span_kind="Client",
        service_name="mw-psa-to-erp",
        resource_attributes={"service.name": "mw-psa-to-erp"},
        scope_name="syncsight.tests",
        scope_version="1",
        span_attributes=attributes,
        duration=duration_ns,
        status_code=status_code,
        status_message=status_message,
        events_timestamp=[],
        events_name=[],
        events_attributes=[],
        links_trace_id=[],
        links_span_id=[],
        links_trace_state=[],
        links_attributes=[],
    )
    return tuple(row._replace(**overrides))
