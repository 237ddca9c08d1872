"""The durable write path: requests hand in span batches, one thread joins them into large inserts,
and each request's future resolves only once its rows are in ClickHouse or fsynced in the spool.
Memory is bounded by ``max_pending_rows``; over it, or with a full spool, callers are told to back
off instead of being queued.

While an insert runs, a second thread fsyncs what queues up to the spool and acknowledges it, so
clients are not held for the insert and the next insert takes all of it at once: with few
requests in flight, inserts otherwise stay small and the engine's cost per span doubles."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from collector.metrics import IngestMetrics
from collector.spool import Spool, SpoolFile, SpoolFull
from warehouse.span_batch import SpanBatch, join_batches
from warehouse.span_store import SpanSink

logger = logging.getLogger(__name__)


class Durability(enum.Enum):
    """Where an acknowledged batch lives."""

    STORED = "stored"
    SPOOLED = "spooled"


class Overloaded(RuntimeError):
    """Accepting the request would exceed memory or spool bounds; the client should retry later."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class WriterLimits:
    """Batching and back-pressure bounds of one writer."""

    batch_min_rows: int = 5_000
    """Rows that are worth an insert of their own: with this many queued, write at once."""
    batch_max_rows: int = 100_000
    """Under load an insert takes what queued up during the one before, up to this: at 60,000
    spans/s 100,000 rather than 50,000 leaves the engine a fifth less to merge (benchmarks/README.md)."""
    batch_max_wait_seconds: float = 0.2
    """How long fewer than ``batch_min_rows`` rows wait for company."""
    max_pending_rows: int = 200_000
    replay_interval_seconds: float = 2.0
    retry_after_seconds: int = 5
    journal_during_inserts: bool = True
    """Spool and acknowledge, while an insert runs, each ``batch_min_rows`` that queue up (at
    most ``batch_max_rows`` waiting in the spool), for the next insert to take together."""


class BatchWriter:
    """Joins the batches of many requests into few inserts, falling back to the spool on failure."""

    def __init__(
        self, sink: SpanSink, spool: Spool, metrics: IngestMetrics, limits: WriterLimits
    ) -> None:
        self.sink = sink
        self.spool = spool
        self.metrics = metrics
        self.limits = limits
        self._queue: deque[tuple[SpanBatch, Future[Durability]]] = deque()
        self._pending_rows = 0
        self._condition = threading.Condition()
        self._stopping = False
        self._healthy = True
        self._inserting = False
        self._journal_blocked = False
        self._journaled: dict[Path, int] = {}
        """Spool files the journal wrote that no insert has taken yet, and their rows."""
        self._last_replay_attempt = 0.0
        self._thread = threading.Thread(target=self._run, name="span-writer", daemon=True)
        self._journal_thread = threading.Thread(
            target=self._journal_run, name="span-journal", daemon=True
        )
        self._update_spool_gauges()

    @property
    def healthy(self) -> bool:
        """False while ClickHouse writes are failing (batches are going to the spool)."""
        return self._healthy

    def start(self) -> None:
        self._thread.start()
        if self.limits.journal_during_inserts:
            self._journal_thread.start()

    def submit(self, batch: SpanBatch) -> Future[Durability]:
        """Queue ``batch``; the future resolves once it is durable. Raises ``Overloaded``."""
        future: Future[Durability] = Future()
        if not batch.row_count:
            future.set_result(Durability.STORED)
            return future
        with self._condition:
            if self._stopping:
                raise Overloaded("the service is shutting down", self.limits.retry_after_seconds)
            if not self._healthy and self.spool.is_full():
                raise Overloaded(
                    "ClickHouse is not accepting writes and the spool is full",
                    self.limits.retry_after_seconds,
                )
            if self._pending_rows + batch.row_count > self.limits.max_pending_rows and self._queue:
                raise Overloaded(
                    f"{self._pending_rows} spans are waiting to be written "
                    f"(limit {self.limits.max_pending_rows})",
                    1,
                )
            self._queue.append((batch, future))
            self._pending_rows += batch.row_count
            self.metrics.pending_spans.set(self._pending_rows)
            self._condition.notify_all()
        return future

    def close(self, timeout: float = 60.0) -> None:
        """Stop accepting, write everything queued or journaled, and wait for both threads."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for thread in (self._journal_thread, self._thread):
            if thread.is_alive():
                thread.join(timeout)

    # --- the writer thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch or self._spooled_to_take():
                self._write(batch)
            elif self._stopping:
                return
            else:
                self._replay_one()

    def _spooled_to_take(self) -> bool:
        """Whether the next insert should take spooled batches: any while healthy, and only the
        journal's own when stopping (an outage's backlog waits for the next start, as before)."""
        if not self._healthy:
            return False
        with self._condition:
            return bool(self._journaled) if self._stopping else self.spool.file_count > 0

    def _next_batch(self) -> list[tuple[SpanBatch, Future[Durability]]]:
        """Wait for rows, then gather up to ``batch_max_rows`` of them.

        Under load the queue fills while the previous insert runs, so batches grow with load; a
        trickle waits up to ``batch_max_wait_seconds`` for ``batch_min_rows`` to accumulate.
        """
        limits = self.limits
        with self._condition:
            idle_wait = None
            if self.spool.file_count:
                idle_wait = 0.0 if self._healthy else limits.replay_interval_seconds
            if not self._queue and not self._stopping:
                self._condition.wait(timeout=idle_wait)
            if not self._queue:
                return []
            deadline = time.monotonic() + limits.batch_max_wait_seconds
            while (
                self._pending_rows < limits.batch_min_rows
                and not self._stopping
                and (remaining := deadline - time.monotonic()) > 0
            ):
                self._condition.wait(timeout=remaining)
            batch: list[tuple[SpanBatch, Future[Durability]]] = []
            rows = 0
            while self._queue and (
                not batch or rows + self._queue[0][0].row_count <= limits.batch_max_rows
            ):
                item = self._queue.popleft()
                batch.append(item)
                rows += item[0].row_count
            self._pending_rows -= rows
            self.metrics.pending_spans.set(self._pending_rows)
            return batch

    def _write(self, batch: list[tuple[SpanBatch, Future[Durability]]]) -> None:
        spans = join_batches([request_spans for request_spans, _ in batch])
        futures = [future for _, future in batch]
        spooled_files, spooled_spans = self._take_spooled(
            self.limits.batch_max_rows - spans.row_count
        )
        if not batch and not spooled_files:
            return
        if self._insert(join_batches([spans, *spooled_spans])):
            for spooled in spooled_files:
                self._forget_spooled(spooled)
            self._resolve(futures, Durability.STORED, spans.row_count)
            self._update_spool_gauges()
            return
        if not spans.row_count:  # only spooled batches, which stay where they are
            return
        try:
            self.spool.append(spans)
        except (SpoolFull, OSError) as error:
            logger.error("cannot spool %d spans: %s", spans.row_count, error)
            failure = Overloaded(
                f"spans could not be stored: {error}", self.limits.retry_after_seconds
            )
            for future in futures:
                future.set_exception(failure)
            self.metrics.spans_rejected.labels(reason="unavailable").inc(spans.row_count)
        else:
            self._resolve(futures, Durability.SPOOLED, spans.row_count)
        self._update_spool_gauges()

    def _take_spooled(self, room: int) -> tuple[list[SpoolFile], list[SpanBatch]]:
        """The oldest spooled batches (see ``_spooled_to_take``) up to about ``room`` rows."""
        if not self._spooled_to_take():
            return [], []
        with self._condition:
            journal_only = set(self._journaled) if self._stopping else None
        files: list[SpoolFile] = []
        batches: list[SpanBatch] = []
        for spooled in self.spool.oldest_first():
            if room <= 0 and batches:
                break
            if journal_only is not None and spooled.path not in journal_only:
                continue
            try:
                spans = self.spool.read(spooled)
            except (OSError, ValueError) as error:
                self._quarantine(spooled, error)
                continue
            files.append(spooled)
            batches.append(spans)
            room -= spans.row_count
        return files, batches

    def _forget_spooled(self, spooled: SpoolFile) -> None:
        self.spool.remove(spooled)
        with self._condition:
            self._journaled.pop(spooled.path, None)

    def _quarantine(self, spooled: SpoolFile, error: Exception) -> None:
        """Move an unreadable spool file aside so it stops blocking the replay (and shutdown)."""
        self.spool.quarantine(spooled, str(error))
        with self._condition:
            self._journaled.pop(spooled.path, None)
        self._update_spool_gauges()

    def _insert(self, spans: SpanBatch) -> bool:
        started = time.perf_counter()
        with self._condition:
            self._inserting = True
            self._condition.notify_all()  # the journal may start taking requests
        try:
            self.sink.write(spans)
        except Exception as error:  # any driver/engine failure: the rows go to the spool
            self.metrics.insert_failures.inc()
            if self._healthy:
                logger.warning("ClickHouse insert failed, spooling to disk: %s", error)
            self._healthy = False
            self._last_replay_attempt = time.monotonic()
            return False
        finally:
            with self._condition:
                self._inserting = False
                self._journal_blocked = False
        self.metrics.insert_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_rows.observe(spans.row_count)
        if not self._healthy:
            logger.info("ClickHouse insert succeeded again; replaying the spool")
        self._healthy = True
        return True

    def _resolve(
        self, futures: list[Future[Durability]], durability: Durability, rows: int
    ) -> None:
        self.metrics.spans_accepted.labels(durability=durability.value).inc(rows)
        for future in futures:
            future.set_result(durability)

    def _replay_one(self) -> None:
        """Move the oldest spooled batch into ClickHouse, at most every interval while unhealthy."""
        oldest = self.spool.oldest()
        if oldest is None:
            return
        now = time.monotonic()
        if (
            not self._healthy
            and now - self._last_replay_attempt < self.limits.replay_interval_seconds
        ):
            return
        self._last_replay_attempt = now
        try:
            spans = self.spool.read(oldest)
        except (OSError, ValueError) as error:
            self._quarantine(oldest, error)
            return
        if self._insert(spans):
            self._forget_spooled(oldest)
            logger.info("replayed %d spooled spans from %s", spans.row_count, oldest.path.name)
        self._update_spool_gauges()

    # --- the journal thread ------------------------------------------------------------------------

    def _journal_run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and not self._journal_wanted():
                    self._condition.wait()
                if self._stopping:
                    return
                items = list(self._queue)
                self._queue.clear()
                self._pending_rows = 0
                self.metrics.pending_spans.set(0)
            spans = join_batches([request_spans for request_spans, _ in items])
            try:
                spooled = self.spool.append(spans)
            except (SpoolFull, OSError) as error:  # the writer takes them after its insert
                logger.warning(
                    "cannot journal %d spans, they wait for the insert: %s", spans.row_count, error
                )
                with self._condition:
                    self._queue.extendleft(reversed(items))
                    self._pending_rows += spans.row_count
                    self.metrics.pending_spans.set(self._pending_rows)
                    self._journal_blocked = True
                continue
            with self._condition:
                self._journaled[spooled.path] = spans.row_count
                self._condition.notify_all()
            self._resolve([future for _, future in items], Durability.SPOOLED, spans.row_count)
            self._update_spool_gauges()

    def _journal_wanted(self) -> bool:
        """An insert is running, enough rows wait for it, and the journal's backlog has room."""
        return (
            self._inserting
            and self._healthy
            and not self._journal_blocked
            and self._pending_rows >= self.limits.batch_min_rows
            and sum(self._journaled.values()) < self.limits.batch_max_rows
        )

    def _update_spool_gauges(self) -> None:
        self.metrics.spool_bytes.set(self.spool.size_bytes)
        self.metrics.spool_files.set(self.spool.file_count)
