"""Writing raw spans into ``otel_traces``: one insert per batch (the views derive the rest).

Two sinks with one contract: a ``SpanBatch`` of JSONCompactEachRow lines, which the engine parses
with the GIL released, converting times inside ClickHouse. In the embedded engine the lines reach it
through a scratch file read with ``file()``; a ClickHouse server receives them as the body of an
``INSERT … SELECT … FROM input()``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final, Protocol

from clickhouse_connect.driver.client import Client

from warehouse.client import chdb_data_path
from warehouse.correlation import sql_string
from warehouse.schema import OTEL_TRACES
from warehouse.span_batch import JSON_ROW_SELECT, JSON_ROW_STRUCTURE, SpanBatch
from warehouse.spans import OTEL_TRACES_COLUMNS

_INSERT_INTO: Final = (
    f"INSERT INTO {OTEL_TRACES} ({', '.join(f'`{name}`' for name in OTEL_TRACES_COLUMNS)}) "
    # The derived tables are ReplacingMergeTree, read with FINAL (or de-duplicated by the reader)
    # everywhere: collapsing repeats inside each inserted block as well cost a fifth of the
    # engine's CPU per span at the benchmark's batch sizes (benchmarks/README.md, Ingest).
    "SETTINGS optimize_on_insert = 0 "
)
_INSERT_FROM_INPUT: Final = (
    f"{_INSERT_INTO}SELECT {JSON_ROW_SELECT} "
    f"FROM input({sql_string(JSON_ROW_STRUCTURE)}) FORMAT JSONCompactEachRow"
)


class SpanSink(Protocol):
    """Where batches of exporter-shaped rows go."""

    def write(self, batch: SpanBatch) -> None: ...


class ServerSpanSink:
    """The lines as the body of one insert: right for a ClickHouse server."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def write(self, batch: SpanBatch) -> None:
        if batch.row_count:
            self.client.command(_INSERT_FROM_INPUT, data=batch.json_lines)


class EmbeddedSpanSink:
    """The lines through a scratch file that the in-process engine reads with ``file()``."""

    def __init__(self, client: Client, scratch_dir: Path) -> None:
        self.client = client
        scratch_dir.mkdir(parents=True, exist_ok=True)
        self.scratch_dir = scratch_dir

    def write(self, batch: SpanBatch) -> None:
        if not batch.row_count:
            return
        handle, name = tempfile.mkstemp(prefix="batch-", suffix=".jsonl", dir=self.scratch_dir)
        try:
            with os.fdopen(handle, "wb") as scratch:
                scratch.write(batch.json_lines)
            self.client.command(
                f"{_INSERT_INTO}SELECT {JSON_ROW_SELECT} FROM file({sql_string(name)}, "
                f"'JSONCompactEachRow', {sql_string(JSON_ROW_STRUCTURE)})"
            )
        finally:
            os.unlink(name)


def span_sink(client: Client, url: str) -> SpanSink:
    """The sink for the engine behind ``url``."""
    data_path = chdb_data_path(url)
    if data_path is not None:
        return EmbeddedSpanSink(client, data_path.parent / "scratch")
    return ServerSpanSink(client)
