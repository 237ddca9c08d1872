"""Writing raw spans into ``otel_traces``: one insert per batch (the views derive the rest).

Two sinks with one contract: a ``SpanBatch`` of JSONCompactEachRow lines, which the engine parses
with the GIL released, converting times inside ClickHouse. In the embedded engine the lines reach it
through a scratch file read with ``file()``; a ClickHouse server receives them as the body of an
``INSERT … SELECT … FROM input()``. A batch spanning more days than the engine takes in one insert
(a backfill) is written as one insert per group of days.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final, Protocol

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from warehouse.client import chdb_data_path
from warehouse.correlation_rules import sql_string
from warehouse.durable_parts import InsertQuorum, insert_settings
from warehouse.insert_errors import is_too_many_partitions
from warehouse.schema import OTEL_TRACES
from warehouse.span_batch import JSON_ROW_SELECT, JSON_ROW_STRUCTURE, SpanBatch, split_by_day
from warehouse.spans import OTEL_TRACES_COLUMNS

_INSERT_INTO: Final = (
    f"INSERT INTO {OTEL_TRACES} ({', '.join(f'`{name}`' for name in OTEL_TRACES_COLUMNS)}) "
    # The derived tables are ReplacingMergeTree, read with FINAL (or de-duplicated by the reader)
    # everywhere: collapsing repeats inside each inserted block as well cost a fifth of the
    # engine's CPU per span at the benchmark's batch sizes (benchmarks/history/ingest.md, "Ingest").
    "SETTINGS optimize_on_insert = 0 "
)
_INSERT_FROM_INPUT: Final = (
    f"{_INSERT_INTO}SELECT {JSON_ROW_SELECT} "
    f"FROM input({sql_string(JSON_ROW_STRUCTURE)}) FORMAT JSONCompactEachRow"
)


class SpanSink(Protocol):
    """Where batches of exporter-shaped rows go."""

    def write(self, batch: SpanBatch) -> None: ...


_MAX_PARTITIONS_SETTING: Final = "SELECT getSetting('max_partitions_per_insert_block')"


class _DaySplittingSink:
    """One insert per batch; when the engine refuses it for spanning too many days, one insert
    per group of days that its ``max_partitions_per_insert_block`` allows.

    Splitting only after a refusal keeps the common case (today's spans) free of the cost of
    reading every row's timestamp.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self._max_days: int | None = None

    def write(self, batch: SpanBatch) -> None:
        if not batch.row_count:
            return
        try:
            self._insert(batch)
        except DatabaseError as error:
            if not is_too_many_partitions(error):
                raise
            for part in split_by_day(batch, max_days=self._days_per_insert()):
                self._insert(part)

    def _days_per_insert(self) -> int:
        if self._max_days is None:
            limit = int(self.client.query(_MAX_PARTITIONS_SETTING).result_rows[0][0])
            # one day less: if the engine dates partitions in another zone, N UTC days touch N+1
            self._max_days = max(limit - 1, 1)
        return self._max_days

    def _insert(self, batch: SpanBatch) -> None:
        raise NotImplementedError


class ServerSpanSink(_DaySplittingSink):
    """The lines as the body of one insert: right for a ClickHouse server."""

    def __init__(self, client: Client, insert_quorum: InsertQuorum = 0) -> None:
        super().__init__(client)
        self.settings = insert_settings(insert_quorum)

    def _insert(self, batch: SpanBatch) -> None:
        self.client.command(_INSERT_FROM_INPUT, data=batch.json_lines, settings=self.settings)


class EmbeddedSpanSink(_DaySplittingSink):
    """The lines through a scratch file that the in-process engine reads with ``file()``."""

    def __init__(self, client: Client, scratch_dir: Path) -> None:
        super().__init__(client)
        scratch_dir.mkdir(parents=True, exist_ok=True)
        self.scratch_dir = scratch_dir

    def _insert(self, batch: SpanBatch) -> None:
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


def span_sink(client: Client, url: str, *, insert_quorum: InsertQuorum = 0) -> SpanSink:
    """The sink for the engine behind ``url``; ``insert_quorum`` applies to a server (the
    embedded engine has no replicas: its parts are fsynced, ``durable_parts``)."""
    data_path = chdb_data_path(url)
    if data_path is not None:
        return EmbeddedSpanSink(client, data_path.parent / "scratch")
    return ServerSpanSink(client, insert_quorum)
