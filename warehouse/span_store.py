"""Writing raw spans: one insert per batch into ``otel_traces`` (the views derive the rest)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from warehouse.schema import OTEL_TRACES
from warehouse.spans import OTEL_TRACES_COLUMNS


class ClickHouseSpanSink:
    """Inserts exporter-shaped rows through one client (used by one writer thread only)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        self.client.insert(OTEL_TRACES, rows, column_names=OTEL_TRACES_COLUMNS)
