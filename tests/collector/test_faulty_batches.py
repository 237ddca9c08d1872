"""Faulty batches and faulty loops: rows ClickHouse refuses are quarantined without holding later
spans back, backfills of any length are stored, and the write loops outlive unexpected errors
while telling /readyz and waiting requests about it."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from collector.ingest import IngestPipeline, WireFormat
from collector.limits import DecodeLimits
from collector.metrics import IngestMetrics
from collector.quarantine import Quarantine
from collector.spool import SUFFIX, Spool
from collector.writer import BatchWriter, Durability, Overloaded, WriterLimits
from tests.collector.test_writer import (
    DATABASE,
    FAST,
    GatedSink,
    distinct_spans,
    rows,
    wait_until,
)
from tests.warehouse.spans import BASE_NS, span_row
from warehouse.span_batch import NANOSECONDS_PER_DAY, SpanBatch, encode_rows
from warehouse.span_store import SpanSink, span_sink

UNPARSABLE = SpanBatch(b'["not a timestamp","x"]', 1)
"""A row the engine refuses for its data (CANNOT_PARSE_INPUT_ASSERTION_FAILED)."""


@pytest.fixture
def real_sink(migrated: Client, engine_url: str) -> SpanSink:
    return span_sink(migrated, engine_url)


def open_writer(sink: SpanSink, spool_dir: Path, limits: WriterLimits = FAST) -> BatchWriter:
    writer = BatchWriter(
        sink, Spool(spool_dir, max_bytes=10**7, database=DATABASE), IngestMetrics(), limits
    )
    writer.start()
    return writer


@pytest.fixture
def writer(real_sink: SpanSink, tmp_path: Path) -> Iterator[BatchWriter]:
    w = open_writer(real_sink, tmp_path / "spool")
    yield w
    w.close()


def metric(writer: BatchWriter, name: str, **labels: str) -> float:
    value = writer.metrics.registry.get_sample_value(name, labels)
    return float(value or 0)


class TestBackfill:
    def test_a_backfill_over_150_days_is_acknowledged_and_stored_readable(
        self, writer: BatchWriter, client: Client
    ) -> None:
        """One request holding 150 days: journaled, then stored, every span readable."""
        backfill = encode_rows(
            [
                span_row(
                    {}, span_id=f"{day + 1:016x}", start_ns=BASE_NS - day * NANOSECONDS_PER_DAY
                )
                for day in range(150)
            ]
        )
        assert writer.submit(backfill).result(timeout=60) is Durability.JOURNALED
        wait_until(lambda: writer.spool.file_count == 0)
        assert distinct_spans(client) == 150
        assert writer.spool.file_count == 0
        assert writer.spool.quarantined_count == 0


INSERT_ACKNOWLEDGED = WriterLimits(
    batch_max_rows=1_000,
    batch_max_wait_seconds=0.05,
    replay_interval_seconds=0.05,
    acknowledge_from_journal=False,
)


class TestRefusedRequests:
    def test_a_refused_request_is_quarantined_and_the_requests_beside_it_are_stored(
        self, real_sink: SpanSink, client: Client, tmp_path: Path
    ) -> None:
        """Acknowledged after their insert, requests sharing one insert with unparsable rows are
        stored; only those are set aside, and their sender is told."""
        writer = open_writer(real_sink, tmp_path / "spool", INSERT_ACKNOWLEDGED)
        try:
            futures = [writer.submit(rows(20, "before")), writer.submit(UNPARSABLE)]
            futures += [writer.submit(rows(20, f"after{i}")) for i in range(3)]
            outcomes = [future.result(timeout=60) for future in futures]
        finally:
            writer.close()
        assert outcomes == [Durability.STORED, Durability.QUARANTINED] + [Durability.STORED] * 3
        assert distinct_spans(client) == 80
        (batch,) = Quarantine(tmp_path / "spool", SUFFIX).batches()
        assert batch.reason.startswith("Code: 27.")
        assert writer.spool.file_count == 0
        assert metric(writer, "syncsight_quarantined_batches_total", source="request") == 1
        assert metric(writer, "syncsight_quarantine_files") == 1

    def test_a_refused_request_journaled_with_others_is_quarantined_alone(
        self, real_sink: SpanSink, client: Client, tmp_path: Path
    ) -> None:
        """Requests fsynced in one journal file with unparsable rows are stored; only the
        refused request goes to the quarantine."""
        gated = GatedSink(real_sink)
        limits = WriterLimits(batch_min_rows=1, batch_max_wait_seconds=0.05)
        writer = open_writer(gated, tmp_path / "spool", limits)
        try:
            assert writer.submit(rows(5, "first")).result(timeout=60) is Durability.JOURNALED
            assert gated.inserting.wait(timeout=60)  # the next requests share a journal file
            futures = [writer.submit(rows(20, "before")), writer.submit(UNPARSABLE)]
            futures += [writer.submit(rows(20, f"after{i}")) for i in range(3)]
            assert {future.result(timeout=60) for future in futures} == {Durability.JOURNALED}
            gated.gate.set()
            wait_until(lambda: writer.spool.file_count == 0)
        finally:
            gated.gate.set()
            writer.close()
        assert distinct_spans(client) == 85
        (batch,) = Quarantine(tmp_path / "spool", SUFFIX).batches()
        assert batch.reason.startswith("Code: 27.")
        assert metric(writer, "syncsight_quarantined_batches_total", source="request") == 1

    def test_later_spans_are_stored_after_a_refusal(
        self, writer: BatchWriter, client: Client
    ) -> None:
        """A refusal leaves the writer healthy: the next request is stored, not spooled."""
        assert writer.submit(UNPARSABLE).result(timeout=60) is Durability.JOURNALED
        wait_until(lambda: writer.spool.quarantined_count == 1)
        assert writer.healthy
        assert writer.submit(rows(10, "next")).result(timeout=60) is Durability.JOURNALED
        wait_until(lambda: writer.spool.file_count == 0)
        assert distinct_spans(client) == 10


class TestRefusedSpooledBatches:
    def test_a_spooled_batch_the_engine_refuses_is_quarantined_and_the_rest_replayed(
        self, real_sink: SpanSink, tmp_path: Path, client: Client
    ) -> None:
        """A refused batch in the spool no longer blocks the replay of the batches after it."""
        spool_dir = tmp_path / "spool"
        left_behind = Spool(spool_dir, max_bytes=10**7, database=DATABASE)
        left_behind.append(rows(15, "older"))
        refused = left_behind.append(UNPARSABLE)
        left_behind.append(rows(25, "newer"))
        w = open_writer(real_sink, spool_dir)
        try:
            wait_until(lambda: w.spool.file_count == 0)
            assert w.submit(rows(5, "live")).result(timeout=60) is Durability.JOURNALED
            wait_until(lambda: w.spool.file_count == 0)
        finally:
            w.close()
        assert distinct_spans(client) == 45
        (batch,) = Quarantine(spool_dir, SUFFIX).batches()
        assert batch.name == refused.path.name
        assert "Cannot parse input" in batch.reason
        assert metric(w, "syncsight_quarantined_batches_total", source="spool") == 1

    def test_a_batch_released_from_quarantine_is_replayed_by_the_running_writer(
        self, writer: BatchWriter, client: Client, tmp_path: Path
    ) -> None:
        """`quarantine retry` moves a batch back into the spool; the writer picks it up live."""
        writer.spool.quarantine_batch(rows(12, "fixed"), "refused by an older version")
        area = Quarantine(tmp_path / "spool", SUFFIX)
        (name,) = area.names()
        area.release(name)
        wait_until(lambda: distinct_spans(client) == 12)
        wait_until(lambda: writer.spool.file_count == 0 and writer.spool.quarantined_count == 0)
        assert area.batches() == []

    def test_a_batch_failing_alone_while_others_are_stored_is_quarantined_after_a_few_tries(
        self, real_sink: SpanSink, tmp_path: Path, client: Client
    ) -> None:
        """An error not known as the rows' fault, yet only ever for one batch: set aside in time."""
        sink = RefusesMarkedRows(real_sink)
        spool_dir = tmp_path / "spool"
        Spool(spool_dir, max_bytes=10**7, database=DATABASE).append(rows(3, "poison"))
        limits = WriterLimits(
            batch_max_wait_seconds=0.01, replay_interval_seconds=0.01, quarantine_after_failures=3
        )
        w = open_writer(sink, spool_dir, limits)
        try:
            for i in range(20):  # each live request stored before the next: one round each
                assert (
                    w.submit(rows(4, f"live{i}")).result(timeout=60) is not Durability.QUARANTINED
                )
                wait_until(lambda: distinct_spans(client) == 4 * (i + 1))  # noqa: B023
                if w.spool.quarantined_count:
                    break
            wait_until(lambda: w.spool.file_count == 0)
        finally:
            w.close()
        (batch,) = Quarantine(spool_dir, SUFFIX).batches()
        assert batch.reason.startswith("insert failed 3 times while other batches were stored")
        assert distinct_spans(client) == 4 * (i + 1)


class RefusesMarkedRows:
    """The real sink, except that a batch holding a ``poison`` event fails like a flaky link."""

    def __init__(self, inner: SpanSink) -> None:
        self.inner = inner

    def write(self, batch: SpanBatch) -> None:
        if b'"poison-' in batch.json_lines:
            raise ConnectionError("connection reset by peer")
        self.inner.write(batch)


class HangingSink:
    """The real sink, except that inserts wait until the test releases them (a hung engine)."""

    def __init__(self, inner: SpanSink) -> None:
        self.inner = inner
        self.release = threading.Event()
        self.entered = threading.Event()

    def write(self, batch: SpanBatch) -> None:
        self.entered.set()
        self.release.wait(timeout=120)
        self.inner.write(batch)


def otlp_json_body() -> bytes:
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "erp.invoice.post",
        "startTimeUnixNano": str(BASE_NS),
        "endTimeUnixNano": str(BASE_NS + 1),
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


class TestLoopsThatCannotDieSilently:
    def test_a_hung_insert_is_reported_stuck_and_waiting_requests_get_503(
        self, real_sink: SpanSink, tmp_path: Path, client: Client
    ) -> None:
        """The export gives up after its timeout with a retry hint; /readyz names the stuck loop."""
        sink = HangingSink(real_sink)
        limits = WriterLimits(
            batch_max_wait_seconds=0.01, stuck_after_seconds=0.2, acknowledge_from_journal=False
        )
        w = open_writer(sink, tmp_path / "spool", limits)
        pipeline = IngestPipeline(w, DecodeLimits(), w.metrics, ack_timeout_seconds=0.5)
        try:
            with pytest.raises(Overloaded, match=r"not durable within 0\.5 s") as refused:
                asyncio.run(pipeline.export(otlp_json_body(), WireFormat.JSON))
            assert refused.value.retry_after_seconds > 0
            assert sink.entered.is_set()
            wait_until(lambda: "writer_loop" in w.problems())
            assert "has not come round" in w.problems()["writer_loop"]
        finally:
            sink.release.set()
            w.close()
        assert distinct_spans(client) == 1  # the late insert still landed
        time.sleep(2 * limits.stuck_after_seconds)  # a loop that ended as asked is not stuck
        assert w.problems() == {}

    def test_the_writer_outlives_its_spool_directory_vanishing(
        self, real_sink: SpanSink, tmp_path: Path, client: Client
    ) -> None:
        """An unexpected error is logged, counted and reported, requests are refused meanwhile,
        and the loop carries on once the cause is gone."""
        spool_dir = tmp_path / "spool"
        spooled = Spool(spool_dir, max_bytes=10**7, database=DATABASE).append(rows(7, "saved"))
        saved = spooled.path.read_bytes()
        spool = Spool(spool_dir, max_bytes=10**7, database=DATABASE)
        shutil.rmtree(spool_dir)  # the spool still lists the file: reading and moving it fail
        w = BatchWriter(real_sink, spool, IngestMetrics(), FAST)
        w.start()
        try:
            wait_until(lambda: metric(w, "syncsight_loop_errors_total", loop="writer") >= 2)
            assert "the writer loop failed" in w.problems()["writer_loop"]
            with pytest.raises(Overloaded, match="span writer is failing"):
                w.submit(rows(1, "meanwhile"))
            spool_dir.mkdir()
            spooled.path.write_bytes(saved)
            wait_until(lambda: w.problems() == {})
            assert w.submit(rows(3, "after")).result(timeout=60) is Durability.JOURNALED
            wait_until(lambda: w.spool.file_count == 0)
        finally:
            w.close()
        assert distinct_spans(client) == 10


class RefusesEverything:
    """A sink whose engine refuses every row for its data, as ClickHouse words it."""

    def write(self, batch: SpanBatch) -> None:
        raise ValueError(
            "Code: 53. DB::Exception: Type mismatch in column Duration. (TYPE_MISMATCH)"
        )


class TestExportAnswer:
    def test_an_export_whose_spans_are_quarantined_is_answered_with_a_warning(
        self, tmp_path: Path
    ) -> None:
        """Acknowledged after the insert, the sender learns that its spans are kept aside, with nothing counted as rejected."""
        w = open_writer(RefusesEverything(), tmp_path / "spool", INSERT_ACKNOWLEDGED)
        pipeline = IngestPipeline(w, DecodeLimits(), w.metrics, ack_timeout_seconds=30)
        try:
            outcome = asyncio.run(pipeline.export(otlp_json_body(), WireFormat.JSON))
        finally:
            w.close()
        assert outcome.durability is Durability.QUARANTINED
        assert outcome.rejected_spans == 0
        assert "kept in the quarantine" in outcome.error_message
