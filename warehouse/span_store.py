"""Writing raw spans into ``otel_traces``: one insert per batch (the views derive the rest).

Two sinks with one contract. On a ClickHouse server the driver's native-format insert is used. In
the embedded engine the rows are serialised as JSON arrays by the C JSON encoder and parsed by the
engine, which releases the GIL, converting times inside ClickHouse: about three times less Python
work per span than the driver's pure-Python native encoder (benchmarks/README.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client

from warehouse.client import chdb_data_path
from warehouse.correlation import sql_string
from warehouse.schema import OTEL_TRACES
from warehouse.spans import OTEL_TRACES_COLUMNS

# The structure of one JSON row: the exporter's columns with times as integer nanoseconds.
_JSON_ROW_STRUCTURE = (
    "Timestamp Int64, TraceId String, SpanId String, ParentSpanId String, TraceState String, "
    "SpanName String, SpanKind String, ServiceName String, "
    "ResourceAttributes Map(String, String), ScopeName String, ScopeVersion String, "
    "SpanAttributes Map(String, String), Duration UInt64, StatusCode String, "
    "StatusMessage String, EventsTimestamp Array(Int64), EventsName Array(String), "
    "EventsAttributes Array(Map(String, String)), LinksTraceId Array(String), "
    "LinksSpanId Array(String), LinksTraceState Array(String), "
    "LinksAttributes Array(Map(String, String))"
)
_JSON_ROW_SELECT = (
    "fromUnixTimestamp64Nano(Timestamp), TraceId, SpanId, ParentSpanId, TraceState, SpanName, "
    "SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, "
    "Duration, StatusCode, StatusMessage, "
    "arrayMap(t -> fromUnixTimestamp64Nano(t), EventsTimestamp), EventsName, EventsAttributes, "
    "LinksTraceId, LinksSpanId, LinksTraceState, LinksAttributes"
)
_INSERT_COLUMNS = ", ".join(f"`{name}`" for name in OTEL_TRACES_COLUMNS)
_encode_row = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False
).encode


class SpanSink(Protocol):
    """Where batches of exporter-shaped rows go."""

    def write(self, rows: Sequence[Sequence[Any]]) -> None: ...


class NativeSpanSink:
    """The driver's native insert: right for a ClickHouse server."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        self.client.insert(OTEL_TRACES, rows, column_names=OTEL_TRACES_COLUMNS)


class EmbeddedSpanSink:
    """JSON rows through a scratch file that the in-process engine reads with ``file()``."""

    def __init__(self, client: Client, scratch_dir: Path) -> None:
        self.client = client
        scratch_dir.mkdir(parents=True, exist_ok=True)
        self.scratch_dir = scratch_dir

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        handle, name = tempfile.mkstemp(prefix="batch-", suffix=".jsonl", dir=self.scratch_dir)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as scratch:
                scratch.write("\n".join(map(_encode_row, rows)))
            self.client.command(
                f"INSERT INTO {OTEL_TRACES} ({_INSERT_COLUMNS}) SELECT {_JSON_ROW_SELECT} "
                f"FROM file({sql_string(name)}, 'JSONCompactEachRow', "
                f"{sql_string(_JSON_ROW_STRUCTURE)})"
            )
        finally:
            os.unlink(name)


def span_sink(client: Client, url: str) -> SpanSink:
    """The fastest sink for the engine behind ``url``."""
    data_path = chdb_data_path(url)
    if data_path is not None:
        return EmbeddedSpanSink(client, data_path.parent / "scratch")
    return NativeSpanSink(client)
