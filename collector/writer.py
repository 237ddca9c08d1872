"""The durable write path: requests hand in span batches and each request's future resolves once its
rows are durable. Memory is bounded by ``max_pending_rows``; over it, or with a full spool, callers
are told to back off instead of being queued.

By default a journal thread commits requests in groups: whatever queued up while the last fsync ran
is written to the spool as one file with one fsync, and acknowledged; the writer thread inserts the
journaled batches behind, many at once, and deletes a journal file only once the insert has returned
(the engine's parts are then durable: see ``warehouse.durable_parts``). With
``acknowledge_from_journal`` off, a request waits for its own insert instead. Both threads outlive
unexpected errors: they log, count, pause and carry on, and report themselves to ``/readyz`` through
``problems()``."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

from collector.metrics import IngestMetrics
from collector.refusal_split import store_in_halves
from collector.span_inserts import SpanInserts
from collector.spool import Spool, SpoolFile, SpoolFull
from collector.spool_replay import SpoolReplay
from warehouse.insert_errors import refusal_reason
from warehouse.loop_health import LoopHealth
from warehouse.span_batch import SpanBatch, join_batches
from warehouse.span_store import SpanSink

logger = logging.getLogger(__name__)


class Durability(enum.Enum):
    """Where an acknowledged batch lives."""

    STORED = "stored"
    JOURNALED = "journaled"
    """Fsynced in the journal (the spool); its insert into ClickHouse follows."""
    SPOOLED = "spooled"
    """Fsynced in the spool while ClickHouse does not take writes; replayed once it does."""
    QUARANTINED = "quarantined"
    """ClickHouse refused the rows themselves; they are kept on disk for an operator."""


class Overloaded(RuntimeError):
    """Accepting the request would exceed memory or spool bounds; the client should retry later."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class WriterLimits:
    """Batching and back-pressure bounds of one writer."""

    batch_min_rows: int = 20_000
    """Rows that are worth an insert of their own: with this many waiting, write at once."""
    batch_max_rows: int = 100_000
    """Under load an insert takes what queued up during the one before, up to this: at 60,000
    spans/s 100,000 rather than 50,000 leaves the engine a fifth less to merge
    (benchmarks/history/ingest.md)."""
    batch_max_wait_seconds: float = 2.0
    """How long fewer than ``batch_min_rows`` rows wait for company: every insert costs the engine
    about the same whatever its size (``syncsight.settings.JOURNAL_BATCH_WAIT_MS``; a writer
    that acknowledges after the insert is given less, ``INSERT_BATCH_WAIT_MS``)."""
    max_pending_rows: int = 200_000
    """Rows of requests waiting to be journaled (or inserted) at once; the journal holds at most
    twice ``batch_max_rows`` more in memory for the inserts."""
    replay_interval_seconds: float = 2.0
    retry_after_seconds: int = 5
    acknowledge_from_journal: bool = True
    """Acknowledge a request once it is fsynced in the journal (group commit), inserting behind
    it; off: once its own insert returned."""
    quarantine_after_failures: int = 5
    """A spooled batch that failed this often alone while other batches were stored is
    quarantined even if the engine's error does not say the rows are at fault."""
    stuck_after_seconds: float = 30.0
    """A loop that has not come round for this long is reported stuck."""
    idle_wake_seconds: float = 1.0
    """Longest an idle loop sleeps, so that its heartbeat shows it alive."""


_Request = tuple[SpanBatch, "Future[Durability]"]


class BatchWriter:
    """Journals the batches of many requests with few fsyncs and inserts them with few inserts,
    keeping them in the spool while ClickHouse fails."""

    def __init__(
        self, sink: SpanSink, spool: Spool, metrics: IngestMetrics, limits: WriterLimits
    ) -> None:
        self.spool = spool
        self.metrics = metrics
        self.limits = limits
        self.inserts = SpanInserts(sink, metrics)
        self.replay = SpoolReplay(
            spool,
            self.inserts,
            metrics,
            replay_interval_seconds=limits.replay_interval_seconds,
            quarantine_after_failures=limits.quarantine_after_failures,
        )
        self._queue: deque[_Request] = deque()
        self._pending_rows = 0
        self._condition = threading.Condition()
        self._stopping = False
        self._stopped = threading.Event()
        self._journal_blocked = False
        """The journal could not write: the writer inserts queued requests itself until its
        next insert."""
        self._started = False
        self._writer_health = LoopHealth("writer")
        self._journal_health = LoopHealth("journal")
        self._thread = threading.Thread(target=self._run, name="span-writer", daemon=True)
        self._journal_thread = threading.Thread(
            target=self._journal_run, name="span-journal", daemon=True
        )
        self.replay.update_gauges()

    @property
    def healthy(self) -> bool:
        """False while ClickHouse writes are failing (batches are going to the spool)."""
        return self.inserts.healthy

    def start(self) -> None:
        self._started = True
        self._thread.start()
        if self.limits.acknowledge_from_journal:
            self._journal_thread.start()

    def problems(self) -> dict[str, str]:
        """Each loop that has stopped, keeps failing or is stuck, with what is wrong."""
        loops = [(self._writer_health, self._thread)]
        if self.limits.acknowledge_from_journal:
            loops.append((self._journal_health, self._journal_thread))
        found = {}
        for health, thread in loops:
            if self._stopping and self._started and not thread.is_alive():
                continue  # ended as asked: its last round's age says nothing
            problem = health.problem(
                alive=thread.is_alive() or self._stopping or not self._started,
                stuck_after_seconds=self.limits.stuck_after_seconds,
            )
            if problem is not None:
                found[f"{health.name}_loop"] = problem
        return found

    def submit(self, batch: SpanBatch) -> Future[Durability]:
        """Queue ``batch``; the future resolves once it is durable. Raises ``Overloaded``."""
        future: Future[Durability] = Future()
        if not batch.row_count:
            future.set_result(Durability.STORED)
            return future
        with self._condition:
            if self._stopping:
                raise Overloaded("the service is shutting down", self.limits.retry_after_seconds)
            if self._writer_health.failing or (self._started and not self._thread.is_alive()):
                raise Overloaded(
                    "the span writer is failing; see /readyz", self.limits.retry_after_seconds
                )
            if not self.healthy and self.spool.is_full():
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
        self._stopped.set()
        for thread in (self._journal_thread, self._thread):
            if thread.is_alive():
                thread.join(timeout)
        self._fail_queued(Overloaded("the service stopped", self.limits.retry_after_seconds))

    # --- the writer thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._writer_health.came_round()
            batch: list[_Request] = []
            try:
                batch = self._next_batch()
                if batch or self._spooled_to_take():
                    self._write(batch)
                elif self._stopping:
                    if not self._journal_thread.is_alive():
                        return
                    self._journal_thread.join(self.limits.idle_wake_seconds)
                else:
                    self.replay.replay_one()
            except Exception as error:  # the loop boundary: a bug must not end ingest
                logger.exception("the span writer failed; pausing before it goes on")
                self.metrics.loop_errors.labels(loop="writer").inc()
                pause = self._writer_health.failed(error)
                self._fail(batch, Overloaded(f"spans could not be written: {error}", 1))
                if self._stopping:
                    return
                self._stopped.wait(pause)
            else:
                self._writer_health.succeeded()

    def _writer_takes_queue(self) -> bool:
        """Whether the writer inserts queued requests itself: without a journal, or while the
        journal cannot write, has died or is stopping."""
        return (
            not self.limits.acknowledge_from_journal
            or self._journal_blocked
            or self._stopping
            or (self._started and not self._journal_thread.is_alive())
        )

    def _rows_for_writer(self) -> int:
        queued = self._pending_rows if self._writer_takes_queue() else 0
        return queued + (self.spool.kept_rows if self.healthy else 0)

    def _spooled_to_take(self) -> bool:
        """Whether the next insert should take spooled batches: any while healthy, and only the
        journal's own when stopping (an outage's backlog waits for the next start)."""
        if not self.healthy:
            return False
        if self._stopping:
            return self.spool.kept_count > 0
        return self.spool.file_count > 0

    def _next_batch(self) -> list[_Request]:
        """Wait for rows (queued for the writer or journaled), then gather up to
        ``batch_max_rows`` queued requests the writer is to insert itself.

        Under load rows pile up while the previous insert runs, so inserts grow with load; a
        trickle waits up to ``batch_max_wait_seconds`` for ``batch_min_rows`` to accumulate.
        """
        limits = self.limits
        with self._condition:
            idle_wait = limits.idle_wake_seconds
            if self.spool.file_count > self.spool.kept_count:  # a backlog to replay
                idle_wait = 0.0 if self.healthy else limits.replay_interval_seconds
            if not self._rows_for_writer() and not self._stopping:
                self._condition.wait(timeout=idle_wait)
            if not self._rows_for_writer():
                return []
            deadline = time.monotonic() + limits.batch_max_wait_seconds
            while (
                self._rows_for_writer() < limits.batch_min_rows
                and not self._stopping
                and (remaining := deadline - time.monotonic()) > 0
            ):
                self._condition.wait(timeout=remaining)
            if not self._writer_takes_queue():
                return []
            batch: list[_Request] = []
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

    def _write(self, batch: list[_Request]) -> None:
        spans = join_batches([request_spans for request_spans, _ in batch])
        spooled_files: list[SpoolFile] = []
        spooled_spans: list[SpanBatch] = []
        if self._spooled_to_take():
            spooled_files, spooled_spans = self.replay.take(
                self.limits.batch_max_rows - spans.row_count, kept_only=self._stopping
            )
        if not batch and not spooled_files:
            return
        failure = self.inserts.insert(join_batches([spans, *spooled_spans]))
        if batch:
            with self._condition:
                self._journal_blocked = False  # it may write again: those queued meanwhile
        if failure is None:
            for spooled in spooled_files:
                self.replay.stored(spooled)
            self._resolve(batch, Durability.STORED)
        elif spooled_files or refusal_reason(failure) is not None:
            # Some source's rows may be at fault: store each apart so that only those wait.
            sole = len(batch) + len(spooled_files) == 1
            left_over = self._store_requests(batch, failure if sole else None)
            if not left_over:  # else the engine is unavailable: the spooled batches stay
                self.replay.store_apart(
                    list(zip(spooled_files, spooled_spans, strict=True)),
                    failure if sole else None,
                )
            self._spool_requests(left_over)
        else:
            self._spool_requests(batch)
        if not self.healthy:
            self.spool.evict()  # the journal's batches wait on disk, not in memory
        self.replay.update_gauges()

    def _store_requests(
        self, requests: list[_Request], failure: Exception | None
    ) -> list[_Request]:
        """Insert ``requests`` together, down to single requests where the engine refuses rows:
        those are quarantined. ``failure``: the group's insert already tried. Returns the
        requests not stored because the engine is unavailable."""
        if not requests:
            return []
        outcome = store_in_halves(
            requests, lambda request: request[0], self.inserts.insert, failure
        )
        self._resolve(outcome.stored, Durability.STORED)
        for request, reason in outcome.refused:
            self._quarantine_request(request, reason)
        return outcome.unavailable

    def _spool_requests(self, requests: list[_Request]) -> None:
        """Fsync ``requests`` to the spool and acknowledge them, or tell their senders to retry."""
        if not requests:
            return
        spans = join_batches([request_spans for request_spans, _ in requests])
        try:
            self.spool.append(spans)
        except (SpoolFull, OSError) as error:
            logger.error("cannot spool %d spans: %s", spans.row_count, error)
            self._fail(
                requests,
                Overloaded(f"spans could not be stored: {error}", self.limits.retry_after_seconds),
            )
            self.metrics.spans_rejected.labels(reason="unavailable").inc(spans.row_count)
        else:
            self._resolve(requests, Durability.SPOOLED)

    def _quarantine_request(self, request: _Request, reason: str) -> None:
        spans = request[0]
        try:
            self.spool.quarantine_batch(spans, reason)
        except OSError as error:
            logger.error("cannot quarantine %d spans: %s", spans.row_count, error)
            self._fail([request], Overloaded(f"spans could not be stored: {error}", 1))
            return
        self.metrics.quarantined_batches.labels(source="request").inc()
        self._resolve([request], Durability.QUARANTINED)

    def _resolve(self, requests: list[_Request], durability: Durability) -> None:
        rows = sum(spans.row_count for spans, _ in requests)
        if rows:
            self.metrics.spans_accepted.labels(durability=durability.value).inc(rows)
        for _, future in requests:
            if not future.done():
                future.set_result(durability)

    def _fail(self, requests: list[_Request], failure: Overloaded) -> None:
        for _, future in requests:
            if not future.done():
                future.set_exception(failure)

    def _fail_queued(self, failure: Overloaded) -> None:
        """Answer whatever is still queued once no thread will write it."""
        with self._condition:
            items = list(self._queue)
            self._queue.clear()
            self._pending_rows = 0
        self._fail(items, failure)

    # --- the journal thread ------------------------------------------------------------------------

    def _journal_run(self) -> None:
        while True:
            self._journal_health.came_round()
            items: list[_Request] | None = []
            try:
                items = self._take_for_journal()
                if items is None:
                    return
                if items:
                    self._journal(items)
            except Exception as error:  # the loop boundary: a bug must not end ingest
                logger.exception("the span journal failed; its requests go to the writer")
                self.metrics.loop_errors.labels(loop="journal").inc()
                pause = self._journal_health.failed(error)
                self._requeue([item for item in items or () if not item[1].done()])
                self._stopped.wait(pause)
            else:
                self._journal_health.succeeded()

    def _take_for_journal(self) -> list[_Request] | None:
        """Everything queued once the journal is wanted (one group, one fsync); empty after an
        idle wait; None when stopping."""
        with self._condition:
            if not self._stopping and not self._journal_wanted():
                self._condition.wait(timeout=self.limits.idle_wake_seconds)
            if self._stopping:
                return None
            if not self._journal_wanted():
                return []
            items = list(self._queue)
            self._queue.clear()
            self._pending_rows = 0
            self.metrics.pending_spans.set(0)
            return items

    def _journal(self, items: list[_Request]) -> None:
        # Held in memory only while ClickHouse takes writes: in an outage the spool holds the
        # backlog and the replay reads it back.
        healthy = self.healthy
        try:
            self.spool.journal([spans for spans, _ in items], keep=healthy)
        except (SpoolFull, OSError) as error:  # the writer takes them with its next insert
            rows = sum(spans.row_count for spans, _ in items)
            logger.warning("cannot journal %d spans, they wait for the insert: %s", rows, error)
            self._requeue(items)
            return
        with self._condition:
            self._condition.notify_all()
        self.replay.update_gauges()  # before answering: the file shows in /metrics until inserted
        self._resolve(items, Durability.JOURNALED if healthy else Durability.SPOOLED)

    def _requeue(self, items: list[_Request]) -> None:
        """Hand ``items`` back to the writer, ahead of what queued since."""
        with self._condition:
            self._queue.extendleft(reversed(items))
            self._pending_rows += sum(spans.row_count for spans, _ in items)
            self.metrics.pending_spans.set(self._pending_rows)
            self._journal_blocked = True
            self._condition.notify_all()

    def _journal_wanted(self) -> bool:
        """Requests wait, the journal can write, and what it holds for the inserts has room (an
        insert running and the next one)."""
        return (
            bool(self._queue)
            and not self._journal_blocked
            and self.spool.kept_rows < 2 * self.limits.batch_max_rows
        )
