"""The durable write path: requests hand in span batches, one thread joins them into large inserts,
and each request's future resolves only once its rows are in ClickHouse or fsynced in the spool.
Memory is bounded by ``max_pending_rows``; over it, or with a full spool, callers are told to back
off instead of being queued.

While an insert runs, a second thread fsyncs what queues up to the spool and acknowledges it, so
clients are not held for the insert and the next insert takes all of it at once: with few
requests in flight, inserts otherwise stay small and the engine's cost per span doubles.

An insert the engine refuses for its rows (not for being unavailable) is retried source by source:
requests' rows and each spooled batch apart, so the refused ones are quarantined and the rest is
stored. Both threads outlive unexpected errors: they log, count, pause and carry on, and report
themselves to ``/readyz`` through ``problems()``."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from collector.loop_health import LoopHealth
from collector.metrics import IngestMetrics
from collector.spool import Spool, SpoolFile, SpoolFull
from warehouse.insert_errors import refusal_reason
from warehouse.span_batch import SpanBatch, join_batches
from warehouse.span_store import SpanSink

logger = logging.getLogger(__name__)


class Durability(enum.Enum):
    """Where an acknowledged batch lives."""

    STORED = "stored"
    SPOOLED = "spooled"
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
    quarantine_after_failures: int = 5
    """A spooled batch that failed this often alone while other batches were stored is
    quarantined even if the engine's error does not say the rows are at fault."""
    stuck_after_seconds: float = 30.0
    """A loop that has not come round for this long is reported stuck."""
    idle_wake_seconds: float = 1.0
    """Longest an idle loop sleeps, so that its heartbeat shows it alive."""


_Request = tuple[SpanBatch, "Future[Durability]"]


class BatchWriter:
    """Joins the batches of many requests into few inserts, falling back to the spool on failure."""

    def __init__(
        self, sink: SpanSink, spool: Spool, metrics: IngestMetrics, limits: WriterLimits
    ) -> None:
        self.sink = sink
        self.spool = spool
        self.metrics = metrics
        self.limits = limits
        self._queue: deque[_Request] = deque()
        self._pending_rows = 0
        self._condition = threading.Condition()
        self._stopping = False
        self._stopped = threading.Event()
        self._healthy = True
        self._inserting = False
        self._journal_blocked = False
        self._journaled: dict[Path, int] = {}
        """Spool files the journal wrote that no insert has taken yet, and their rows."""
        self._inserts_stored = 0
        self._failures_while_others_stored: dict[Path, tuple[int, int]] = {}
        """Per spooled batch: its failures while others were stored, and ``_inserts_stored``
        at its last failure."""
        self._last_replay_attempt = 0.0
        self._started = False
        self._writer_health = LoopHealth("writer")
        self._journal_health = LoopHealth("journal")
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
        self._started = True
        self._thread.start()
        if self.limits.journal_during_inserts:
            self._journal_thread.start()

    def problems(self) -> dict[str, str]:
        """Each loop that has stopped, keeps failing or is stuck, with what is wrong."""
        loops = [(self._writer_health, self._thread)]
        if self.limits.journal_during_inserts:
            loops.append((self._journal_health, self._journal_thread))
        found = {}
        for health, thread in loops:
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
                    return
                else:
                    self._replay_one()
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

    def _spooled_to_take(self) -> bool:
        """Whether the next insert should take spooled batches: any while healthy, and only the
        journal's own when stopping (an outage's backlog waits for the next start, as before)."""
        if not self._healthy:
            return False
        with self._condition:
            return bool(self._journaled) if self._stopping else self.spool.file_count > 0

    def _next_batch(self) -> list[_Request]:
        """Wait for rows, then gather up to ``batch_max_rows`` of them.

        Under load the queue fills while the previous insert runs, so batches grow with load; a
        trickle waits up to ``batch_max_wait_seconds`` for ``batch_min_rows`` to accumulate.
        """
        limits = self.limits
        with self._condition:
            idle_wait = limits.idle_wake_seconds
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
        spooled_files, spooled_spans = self._take_spooled(
            self.limits.batch_max_rows - spans.row_count
        )
        if not batch and not spooled_files:
            return
        failure = self._insert(join_batches([spans, *spooled_spans]))
        if failure is None:
            for spooled in spooled_files:
                self._forget_spooled(spooled)
            self._resolve(batch, Durability.STORED)
        elif spooled_files or refusal_reason(failure) is not None:
            # Some source's rows may be at fault: store each apart so that only those wait.
            sole = len(batch) + len(spooled_files) == 1
            left_over = self._store_requests(batch, failure if sole else None)
            if not left_over:  # else the engine is unavailable: the spooled batches stay
                self._store_spooled_apart(
                    list(zip(spooled_files, spooled_spans, strict=True)),
                    failure if sole else None,
                )
            self._spool_requests(left_over)
        else:
            self._spool_requests(batch)
        self._update_spool_gauges()

    def _store_requests(
        self, requests: list[_Request], failure: Exception | None
    ) -> list[_Request]:
        """Insert ``requests`` together, halving any group the engine refuses for its rows down
        to single requests, which are quarantined; ``failure`` is the group's insert already
        tried. Returns the requests not stored because the engine is unavailable."""
        if not requests:
            return []
        if failure is None:
            failure = self._insert(join_batches([spans for spans, _ in requests]))
            if failure is None:
                self._resolve(requests, Durability.STORED)
                return []
        reason = refusal_reason(failure)
        if reason is None:
            return requests
        if len(requests) == 1:
            self._quarantine_request(requests[0], reason)
            return []
        middle = len(requests) // 2
        left_over = self._store_requests(requests[:middle], None)
        if left_over:
            return left_over + requests[middle:]
        return self._store_requests(requests[middle:], None)

    def _store_spooled_apart(
        self, spooled: list[tuple[SpoolFile, SpanBatch]], failure: Exception | None
    ) -> None:
        """Each spooled batch in an insert of its own, oldest first, until the engine is
        unavailable: refused ones are quarantined. ``failure``: the sole batch's insert already
        tried."""
        for spooled_file, spans in spooled:
            if failure is None:
                failure = self._insert(spans)
            if failure is None:
                self._forget_spooled(spooled_file)
                continue
            reason = refusal_reason(failure) or self._failed_while_others_stored(
                spooled_file, failure
            )
            if reason is None:
                return  # unavailable: it stays in the spool and is replayed later
            self._quarantine(spooled_file, reason)
            failure = None

    def _failed_while_others_stored(self, spooled: SpoolFile, failure: Exception) -> str | None:
        """Count a spooled batch's failure if the engine stored other inserts since its last
        one; past the limit, the reason to quarantine it (an error not recognised as the rows'
        fault, yet only ever theirs). An outage, failing every insert, counts nothing."""
        failures, stored_then = self._failures_while_others_stored.get(
            spooled.path, (-1, self._inserts_stored - 1)
        )
        if self._inserts_stored > stored_then:
            failures += 1
        self._failures_while_others_stored[spooled.path] = (failures, self._inserts_stored)
        if failures < self.limits.quarantine_after_failures:
            return None
        return (
            f"insert failed {failures} times while other batches were stored; "
            f"last error: {' '.join(str(failure).split())[:1000]}"
        )

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
                self._quarantine(spooled, str(error))
                continue
            files.append(spooled)
            batches.append(spans)
            room -= spans.row_count
        return files, batches

    def _forget_spooled(self, spooled: SpoolFile) -> None:
        self.spool.remove(spooled)
        self._failures_while_others_stored.pop(spooled.path, None)
        with self._condition:
            self._journaled.pop(spooled.path, None)

    def _quarantine(self, spooled: SpoolFile, reason: str) -> None:
        """Move a spooled batch that can never be stored aside so it stops blocking the replay
        (and shutdown)."""
        self.spool.quarantine(spooled, reason)
        self._failures_while_others_stored.pop(spooled.path, None)
        self.metrics.quarantined_batches.labels(source="spool").inc()
        with self._condition:
            self._journaled.pop(spooled.path, None)
        self._update_spool_gauges()

    def _insert(self, spans: SpanBatch) -> Exception | None:
        """Insert ``spans``; the failure, or None once stored."""
        started = time.perf_counter()
        with self._condition:
            self._inserting = True
            self._condition.notify_all()  # the journal may start taking requests
        try:
            self.sink.write(spans)
        except Exception as error:  # any driver/engine failure is classified by the caller
            self.metrics.insert_failures.inc()
            if refusal_reason(error) is not None:
                logger.warning("ClickHouse refused %d spans for their data", spans.row_count)
                return error
            if self._healthy:
                logger.warning("ClickHouse insert failed, spooling to disk: %s", error)
            self._healthy = False
            self._last_replay_attempt = time.monotonic()
            return error
        finally:
            with self._condition:
                self._inserting = False
                self._journal_blocked = False
        self._inserts_stored += 1
        self.metrics.insert_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_rows.observe(spans.row_count)
        if not self._healthy:
            logger.info("ClickHouse insert succeeded again; replaying the spool")
        self._healthy = True
        return None

    def _resolve(self, requests: list[_Request], durability: Durability) -> None:
        rows = sum(spans.row_count for spans, _ in requests)
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

    def _replay_one(self) -> None:
        """Move the oldest spooled batch into ClickHouse, at most every interval while unhealthy;
        with nothing to replay, take in batches released from the quarantine."""
        now = time.monotonic()
        if now - self._last_replay_attempt < self.limits.replay_interval_seconds and (
            not self._healthy or self.spool.oldest() is None
        ):
            return
        self._last_replay_attempt = now
        oldest = self.spool.oldest()
        if oldest is None:
            self.spool.rescan()
            self._update_spool_gauges()
            return
        try:
            spans = self.spool.read(oldest)
        except (OSError, ValueError) as error:
            self._quarantine(oldest, str(error))
            return
        failure = self._insert(spans)
        if failure is None:
            self._forget_spooled(oldest)
            logger.info("replayed %d spooled spans from %s", spans.row_count, oldest.path.name)
        else:
            self._store_spooled_apart([(oldest, spans)], failure)
        self._update_spool_gauges()

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
        """Everything queued once the journal is wanted; empty after an idle wait; None when
        stopping."""
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
        spans = join_batches([request_spans for request_spans, _ in items])
        try:
            spooled = self.spool.append(spans)
        except (SpoolFull, OSError) as error:  # the writer takes them after its insert
            logger.warning(
                "cannot journal %d spans, they wait for the insert: %s", spans.row_count, error
            )
            self._requeue(items)
            return
        with self._condition:
            self._journaled[spooled.path] = spans.row_count
            self._condition.notify_all()
        self._resolve(items, Durability.SPOOLED)
        self._update_spool_gauges()

    def _requeue(self, items: list[_Request]) -> None:
        """Hand ``items`` back to the writer, ahead of what queued since."""
        with self._condition:
            self._queue.extendleft(reversed(items))
            self._pending_rows += sum(spans.row_count for spans, _ in items)
            self.metrics.pending_spans.set(self._pending_rows)
            self._journal_blocked = True
            self._condition.notify_all()

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
        self.metrics.quarantine_files.set(self.spool.quarantined_count)
