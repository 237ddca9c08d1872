"""The durable write path: batching, spooling while ClickHouse fails, replay, back-pressure."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from collector.metrics import IngestMetrics
from collector.spool import Spool
from collector.writer import BatchWriter, Durability, Overloaded, WriterLimits
from domain import semconv as sc
from tests.warehouse.spans import span_row
from warehouse.span_batch import SpanBatch, encode_rows
from warehouse.span_store import SpanSink, span_sink

DATABASE = "chdb:///tests database test_writer"
FAST = WriterLimits(batch_max_rows=1_000, batch_max_wait_seconds=0.05, replay_interval_seconds=0.05)


class SwitchableSink:
    """The real ClickHouse sink behind a switch that makes writes fail like an unreachable server."""

    def __init__(self, inner: SpanSink) -> None:
        self.inner = inner
        self.failing = False
        self.writes: list[int] = []
        self.lock = threading.Lock()

    def write(self, batch: SpanBatch) -> None:
        with self.lock:
            if self.failing:
                raise ConnectionError("ClickHouse unreachable (test switch)")
            self.inner.write(batch)
            self.writes.append(batch.row_count)


def rows(count: int, prefix: str) -> SpanBatch:
    return encode_rows(
        [
            span_row(
                {sc.EVENT_TYPE: sc.TIME_APPROVED, sc.EVENT_ID: f"{prefix}-{i}"},
                trace_id=f"{abs(hash(prefix)) % 10**8:08x}{i:024x}",
                span_id=f"{i + 1:016x}",
            )
            for i in range(count)
        ]
    )


def distinct_spans(client: Client) -> int:
    return int(client.query("SELECT uniqExact(TraceId, SpanId) FROM otel_traces").result_rows[0][0])


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    event = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def sink(migrated: Client, engine_url: str) -> SwitchableSink:
    return SwitchableSink(span_sink(migrated, engine_url))


@pytest.fixture
def writer(sink: SwitchableSink, tmp_path: Path) -> Iterator[BatchWriter]:
    w = BatchWriter(
        sink,
        Spool(tmp_path / "spool", max_bytes=10_000_000, database=DATABASE),
        IngestMetrics(),
        FAST,
    )
    w.start()
    yield w
    w.close()


class TestBatching:
    def test_requests_arriving_together_share_one_insert(
        self, sink: SwitchableSink, tmp_path: Path, client: Client
    ) -> None:
        """Ten small requests are acknowledged from the journal and stored by one insert."""
        limits = WriterLimits(batch_min_rows=500, batch_max_wait_seconds=30)
        w = BatchWriter(
            sink, Spool(tmp_path / "s", max_bytes=10**7, database=DATABASE), IngestMetrics(), limits
        )
        w.start()
        try:
            futures = [w.submit(rows(50, f"r{i}")) for i in range(10)]
            assert [f.result(timeout=20) for f in futures] == [Durability.JOURNALED] * 10
            wait_until(lambda: w.spool.file_count == 0)
        finally:
            w.close()
        assert sink.writes == [500]
        assert distinct_spans(client) == 500

    def test_close_writes_everything_still_queued(
        self, sink: SwitchableSink, tmp_path: Path, client: Client
    ) -> None:
        """Shutdown inserts what was acknowledged but not yet inserted before the writer stops."""
        slow = WriterLimits(batch_max_rows=10_000, batch_max_wait_seconds=30)
        w = BatchWriter(
            sink, Spool(tmp_path / "s", max_bytes=10**7, database=DATABASE), IngestMetrics(), slow
        )
        w.start()
        future = w.submit(rows(20, "late"))
        assert future.result(timeout=20) is Durability.JOURNALED
        assert sink.writes == []
        w.close()
        assert distinct_spans(client) == 20
        assert w.spool.file_count == 0


class SlowSink:
    """The real sink, taking ``seconds`` per insert like a busy engine."""

    def __init__(self, inner: SpanSink, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds
        self.inserting = threading.Event()
        self.writes: list[int] = []

    def write(self, batch: SpanBatch) -> None:
        self.inserting.set()
        threading.Event().wait(self.seconds)
        self.inner.write(batch)
        self.writes.append(batch.row_count)
        self.inserting.clear()


class GatedSink:
    """The real sink, except that each insert waits until the test opens the gate."""

    def __init__(self, inner: SpanSink) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.inserting = threading.Event()

    def write(self, batch: SpanBatch) -> None:
        self.inserting.set()
        self.gate.wait(timeout=120)
        self.inner.write(batch)


class TestJournal:
    def test_requests_are_acknowledged_from_the_journal_while_an_insert_runs_and_inserted_together(
        self, sink: SwitchableSink, tmp_path: Path, client: Client
    ) -> None:
        """Requests are fsynced and acknowledged without waiting for any insert; those arriving
        during an insert are taken by the next one together, every span stored exactly once."""
        slow = SlowSink(sink, seconds=1.5)
        limits = WriterLimits(batch_min_rows=20, batch_max_wait_seconds=0.05)
        w = BatchWriter(
            slow,
            Spool(tmp_path / "spool", max_bytes=10**7, database=DATABASE),
            IngestMetrics(),
            limits,
        )
        w.start()
        try:
            assert w.submit(rows(30, "first")).result(timeout=20) is Durability.JOURNALED
            assert slow.inserting.wait(timeout=20)
            later = [w.submit(rows(30, f"later{i}")) for i in range(4)]
            assert {f.result(timeout=1.0) for f in later} == {Durability.JOURNALED}
            assert slow.writes == []  # still inserting the first: nothing waited for it
            wait_until(lambda: w.spool.file_count == 0 and len(slow.writes) == 2)
        finally:
            w.close()
        assert slow.writes == [30, 120]
        assert distinct_spans(client) == 150

    def test_a_journal_file_stays_until_its_insert_has_returned(
        self, sink: SwitchableSink, tmp_path: Path, client: Client
    ) -> None:
        """Acknowledged spans are on disk in the journal for as long as their insert runs."""
        gated = GatedSink(sink)
        w = BatchWriter(
            gated,
            Spool(tmp_path / "spool", max_bytes=10**7, database=DATABASE),
            IngestMetrics(),
            WriterLimits(batch_min_rows=1),
        )
        w.start()
        try:
            assert w.submit(rows(10, "held")).result(timeout=20) is Durability.JOURNALED
            assert gated.inserting.wait(timeout=20)
            (journaled,) = w.spool.oldest_first()
            assert Spool(tmp_path / "other", max_bytes=10**7, database=DATABASE).read(
                journaled
            ) == rows(10, "held")
            gated.gate.set()
            wait_until(lambda: w.spool.file_count == 0)
            assert not journaled.path.exists()
        finally:
            gated.gate.set()
            w.close()
        assert distinct_spans(client) == 10

    def test_without_the_journal_requests_wait_for_their_insert(
        self, sink: SwitchableSink, tmp_path: Path
    ) -> None:
        """acknowledge_from_journal=False keeps every acknowledgement behind its insert."""
        slow = SlowSink(sink, seconds=0.5)
        limits = WriterLimits(
            batch_min_rows=20, batch_max_wait_seconds=0.05, acknowledge_from_journal=False
        )
        w = BatchWriter(
            slow,
            Spool(tmp_path / "spool", max_bytes=10**7, database=DATABASE),
            IngestMetrics(),
            limits,
        )
        w.start()
        try:
            first = w.submit(rows(30, "first"))
            assert slow.inserting.wait(timeout=20)
            assert not first.done()
            later = w.submit(rows(30, "later"))
            assert first.result(timeout=20) is Durability.STORED
            assert later.result(timeout=20) is Durability.STORED
        finally:
            w.close()
        assert w.spool.file_count == 0

    def test_close_inserts_what_the_journal_acknowledged(
        self, sink: SwitchableSink, tmp_path: Path, client: Client
    ) -> None:
        """Shutdown leaves nothing the journal acknowledged behind: it is inserted before exit."""
        slow = SlowSink(sink, seconds=1.0)
        limits = WriterLimits(batch_min_rows=20, batch_max_wait_seconds=0.05)
        w = BatchWriter(
            slow,
            Spool(tmp_path / "spool", max_bytes=10**7, database=DATABASE),
            IngestMetrics(),
            limits,
        )
        w.start()
        w.submit(rows(30, "first"))
        assert slow.inserting.wait(timeout=20)
        assert w.submit(rows(40, "journaled")).result(timeout=1.0) is Durability.JOURNALED
        w.close()
        assert w.spool.file_count == 0
        assert distinct_spans(client) == 70

    def test_a_journal_that_cannot_write_hands_its_requests_to_the_insert(
        self, sink: SwitchableSink, tmp_path: Path, client: Client
    ) -> None:
        """When the journal's file cannot be written (an OS error) while ClickHouse takes
        writes, the request is stored by the writer and acknowledged once inserted."""
        spool = Spool(tmp_path / "spool", max_bytes=10**7, database=DATABASE)
        # The journal's first file cannot be created: its temporary name is taken by a directory.
        (tmp_path / "spool" / f"{1:020d}.spool.tmp").mkdir()
        w = BatchWriter(sink, spool, IngestMetrics(), WriterLimits(batch_max_wait_seconds=0.05))
        w.start()
        try:
            assert w.submit(rows(5, "direct")).result(timeout=20) is Durability.STORED
            assert w.submit(rows(5, "after")).result(timeout=20) is Durability.JOURNALED
            wait_until(lambda: w.spool.file_count == 0)
        finally:
            w.close()
        assert distinct_spans(client) == 10


class TestSpool:
    def test_failed_writes_are_acknowledged_from_the_spool_and_replayed_once(
        self, writer: BatchWriter, sink: SwitchableSink, client: Client
    ) -> None:
        """While ClickHouse fails, batches are fsynced to the spool and kept out of memory; later
        they drain exactly once."""
        sink.failing = True
        assert writer.submit(rows(30, "first")).result(timeout=20) is Durability.JOURNALED
        wait_until(lambda: not writer.healthy)
        spooled = [writer.submit(rows(30, f"down{i}")) for i in range(3)]
        assert {f.result(timeout=20) for f in spooled} == {Durability.SPOOLED}
        assert writer.spool.file_count >= 2
        assert writer.spool.kept_rows == 0
        assert distinct_spans(client) == 0
        sink.failing = False
        wait_until(lambda: writer.spool.file_count == 0)
        assert distinct_spans(client) == 120
        assert client.query("SELECT count() FROM biz_events FINAL").result_rows[0][0] == 120

    def test_a_spool_left_by_a_previous_process_is_replayed_at_start(
        self, sink: SwitchableSink, tmp_path: Path, client: Client
    ) -> None:
        """Spool files survive a restart and drain when a new writer starts."""
        spool_dir = tmp_path / "spool"
        Spool(spool_dir, max_bytes=10**7, database=DATABASE).append(rows(40, "previous"))
        w = BatchWriter(
            sink, Spool(spool_dir, max_bytes=10**7, database=DATABASE), IngestMetrics(), FAST
        )
        w.start()
        try:
            wait_until(lambda: w.spool.file_count == 0)
        finally:
            w.close()
        assert distinct_spans(client) == 40

    @pytest.mark.parametrize("older_format", ["zlib row lists", "zlib JSON lines"])
    def test_a_spool_file_in_an_older_format_is_replayed(
        self, sink: SwitchableSink, tmp_path: Path, client: Client, older_format: str
    ) -> None:
        """Batches spooled by earlier versions (zlib, row lists or JSON lines) still drain."""
        spool_dir = tmp_path / "spool"
        spool_dir.mkdir()
        json_lines = rows(25, "old").json_lines
        if older_format == "zlib row lists":
            json_lines = json.dumps([json.loads(line) for line in json_lines.split(b"\n")]).encode()
        (spool_dir / f"{1:020d}.spool").write_bytes(zlib.compress(json_lines))
        w = BatchWriter(
            sink, Spool(spool_dir, max_bytes=10**7, database=DATABASE), IngestMetrics(), FAST
        )
        w.start()
        try:
            wait_until(lambda: w.spool.file_count == 0)
        finally:
            w.close()
        assert distinct_spans(client) == 25
        assert not (spool_dir / "quarantine").exists()

    def test_a_full_spool_with_clickhouse_down_pushes_back(
        self, sink: SwitchableSink, tmp_path: Path
    ) -> None:
        """Over the spool limit the writer refuses with a retry hint instead of accepting."""
        w = BatchWriter(
            sink, Spool(tmp_path / "tiny", max_bytes=1, database=DATABASE), IngestMetrics(), FAST
        )
        w.start()
        try:
            sink.failing = True
            assert w.submit(rows(5, "first")).result(timeout=20) is Durability.JOURNALED
            wait_until(lambda: not w.healthy)
            with pytest.raises(Overloaded, match="spool is full") as refused:
                w.submit(rows(5, "second"))
            assert refused.value.retry_after_seconds > 0
        finally:
            sink.failing = False
            w.close()

    def test_an_unreadable_spool_file_is_quarantined_not_retried_forever(
        self, sink: SwitchableSink, tmp_path: Path
    ) -> None:
        """A corrupt batch moves to quarantine/ and stops blocking the replay."""
        spool_dir = tmp_path / "spool"
        spool_dir.mkdir()
        (spool_dir / f"{1:020d}.spool").write_bytes(b"not zlib")
        w = BatchWriter(
            sink, Spool(spool_dir, max_bytes=10**7, database=DATABASE), IngestMetrics(), FAST
        )
        w.start()
        try:
            wait_until(lambda: w.spool.file_count == 0)
        finally:
            w.close()
        assert (spool_dir / "quarantine" / f"{1:020d}.spool").exists()


class TestBackPressure:
    def test_memory_over_the_pending_limit_is_refused(
        self, sink: SwitchableSink, tmp_path: Path
    ) -> None:
        """Without the journal, queued spans are bounded: a request over the bound is refused."""
        limits = WriterLimits(
            batch_max_rows=10_000,
            batch_max_wait_seconds=30,
            max_pending_rows=100,
            acknowledge_from_journal=False,
        )
        w = BatchWriter(
            sink, Spool(tmp_path / "s", max_bytes=10**7, database=DATABASE), IngestMetrics(), limits
        )
        w.start()
        try:
            first = w.submit(rows(80, "a"))
            with pytest.raises(Overloaded, match="waiting to be written"):
                w.submit(rows(30, "b"))
        finally:
            w.close()
        assert first.result(timeout=1) is Durability.STORED

    def test_the_journal_holds_two_inserts_in_memory_then_requests_wait_then_are_refused(
        self, sink: SwitchableSink, tmp_path: Path, client: Client
    ) -> None:
        """With inserts stalled, the journal keeps at most twice batch_max_rows in memory; later
        requests wait unacknowledged up to max_pending_rows, beyond which they are refused."""
        gated = GatedSink(sink)
        limits = WriterLimits(batch_min_rows=1, batch_max_rows=100, max_pending_rows=100)
        w = BatchWriter(
            gated,
            Spool(tmp_path / "s", max_bytes=10**7, database=DATABASE),
            IngestMetrics(),
            limits,
        )
        w.start()
        try:
            assert w.submit(rows(100, "a")).result(timeout=20) is Durability.JOURNALED
            assert gated.inserting.wait(timeout=20)
            assert w.submit(rows(100, "b")).result(timeout=20) is Durability.JOURNALED
            waiting = w.submit(rows(80, "c"))
            with pytest.raises(Overloaded, match="waiting to be written"):
                w.submit(rows(30, "d"))
            assert not waiting.done()
            assert w.spool.kept_rows == 200
            gated.gate.set()
            assert waiting.result(timeout=20) is Durability.JOURNALED
            wait_until(lambda: w.spool.file_count == 0)
        finally:
            gated.gate.set()
            w.close()
        assert distinct_spans(client) == 280
