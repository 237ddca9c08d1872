"""Spooled batches into ClickHouse: the journal's and those left by an outage or an earlier process,
oldest first. When an insert of several fails, each is tried on its own (a journaled batch still in
memory split by request), so that a batch the engine refuses for its rows, or that keeps failing
alone while others are stored, is quarantined instead of being retried forever."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from collector.metrics import IngestMetrics
from collector.refusal_split import store_in_halves
from collector.span_inserts import SpanInserts
from collector.spool import Spool, SpoolFile
from warehouse.insert_errors import refusal_reason
from warehouse.span_batch import SpanBatch

logger = logging.getLogger(__name__)


class SpoolReplay:
    """Moves spooled batches into ClickHouse for the writer thread (and only from it)."""

    def __init__(
        self,
        spool: Spool,
        inserts: SpanInserts,
        metrics: IngestMetrics,
        *,
        replay_interval_seconds: float,
        quarantine_after_failures: int,
    ) -> None:
        self.spool = spool
        self.inserts = inserts
        self.metrics = metrics
        self.replay_interval_seconds = replay_interval_seconds
        self.quarantine_after_failures = quarantine_after_failures
        self._failures_while_others_stored: dict[Path, tuple[int, int]] = {}
        """Per spooled batch: its failures while others were stored, and
        ``inserts.stored_count`` at its last failure."""
        self._last_attempt = 0.0
        self._last_failed: Path | None = None
        """The batch whose replay failed last: the next attempt tries the one after it."""

    def take(self, room: int, *, kept_only: bool) -> tuple[list[SpoolFile], list[SpanBatch]]:
        """The oldest spooled batches up to about ``room`` rows (at least one); ``kept_only``: only
        those the journal holds in memory. An unreadable one is quarantined on the way."""
        files: list[SpoolFile] = []
        batches: list[SpanBatch] = []
        for spooled in self.spool.oldest_first():
            if room <= 0 and batches:
                break
            if kept_only and self.spool.kept_parts(spooled) is None:
                continue
            try:
                spans = self.spool.read(spooled)
            except (OSError, ValueError) as error:
                self.quarantine(spooled, str(error))
                continue
            files.append(spooled)
            batches.append(spans)
            room -= spans.row_count
        return files, batches

    def stored(self, spooled: SpoolFile) -> None:
        """``spooled`` is in ClickHouse: its file goes."""
        self.spool.remove(spooled)
        self._failures_while_others_stored.pop(spooled.path, None)

    def store_apart(
        self, spooled: list[tuple[SpoolFile, SpanBatch]], failure: Exception | None
    ) -> None:
        """Each spooled batch in an insert of its own: refused ones are quarantined. The journal's
        batches go first and batches known to fail last, so that a failure that is not a refusal
        stops the round only while nothing is stored (an outage), not because one batch fails.
        ``failure``: the sole batch's insert already tried."""
        stored_any = False
        for spooled_file, spans in sorted(spooled, key=self._attempt_order):
            if failure is None:
                failure = self.inserts.insert(spans)
            if failure is None:
                self.stored(spooled_file)
                stored_any = True
                continue
            parts = self.spool.kept_parts(spooled_file)
            if parts is not None and len(parts) > 1 and refusal_reason(failure) is not None:
                if not self._store_parts_apart(spooled_file, parts, failure):
                    return
                failure = None
                continue
            reason = refusal_reason(failure) or self._failed_while_others_stored(
                spooled_file, failure
            )
            failure = None
            if reason is not None:
                self.quarantine(spooled_file, reason)
            elif not stored_any:
                return  # unavailable: the rest stays in the spool and is replayed later

    def _attempt_order(self, item: tuple[SpoolFile, SpanBatch]) -> tuple[bool, bool]:
        spooled = item[0]
        return (
            spooled.path in self._failures_while_others_stored,
            self.spool.kept_parts(spooled) is None,
        )

    def _store_parts_apart(
        self, spooled: SpoolFile, parts: list[SpanBatch], failure: Exception
    ) -> bool:
        """Split a refused journaled batch by request: refused requests are quarantined, the rest
        stored, and the file goes. False when the engine became unavailable meanwhile: the file
        stays whole to be replayed (rows stored twice count once, as for any redelivery)."""
        outcome = store_in_halves(parts, lambda part: part, self.inserts.insert, failure)
        for part, reason in outcome.refused:
            self.spool.quarantine_batch(part, reason)
            self.metrics.quarantined_batches.labels(source="request").inc()
        if outcome.unavailable:
            return False
        self.stored(spooled)
        return True

    def _failed_while_others_stored(self, spooled: SpoolFile, failure: Exception) -> str | None:
        """Count a spooled batch's failure if the engine stored other inserts since its last
        one; past the limit, the reason to quarantine it (an error not recognised as the rows'
        fault, yet only ever theirs). An outage, failing every insert, counts nothing."""
        stored_count = self.inserts.stored_count
        failures, stored_then = self._failures_while_others_stored.get(
            spooled.path, (-1, stored_count - 1)
        )
        if stored_count > stored_then:
            failures += 1
        self._failures_while_others_stored[spooled.path] = (failures, stored_count)
        if failures < self.quarantine_after_failures:
            return None
        return (
            f"insert failed {failures} times while other batches were stored; "
            f"last error: {' '.join(str(failure).split())[:1000]}"
        )

    def quarantine(self, spooled: SpoolFile, reason: str) -> None:
        """Move a spooled batch that can never be stored aside so it stops blocking the replay
        (and shutdown)."""
        self.spool.quarantine(spooled, reason)
        self._failures_while_others_stored.pop(spooled.path, None)
        self.metrics.quarantined_batches.labels(source="spool").inc()
        self.update_gauges()

    def replay_one(self) -> None:
        """Move one spooled batch into ClickHouse, at most every interval while unhealthy; with
        nothing to replay, take in batches released from the quarantine. The oldest goes first;
        after a failure the next one is tried, so that one failing batch is no outage."""
        now = time.monotonic()
        last = max(self._last_attempt, self.inserts.last_failure_at)
        if now - last < self.replay_interval_seconds and (
            not self.inserts.healthy or self.spool.oldest() is None
        ):
            return
        self._last_attempt = now
        chosen = self._next_to_replay()
        if chosen is None:
            self.spool.rescan()
            self.update_gauges()
            return
        try:
            spans = self.spool.read(chosen)
        except (OSError, ValueError) as error:
            self.quarantine(chosen, str(error))
            return
        failure = self.inserts.insert(spans)
        if failure is None:
            self._last_failed = None
            self.stored(chosen)
            logger.info("replayed %d spooled spans from %s", spans.row_count, chosen.path.name)
        else:
            self._last_failed = chosen.path
            self.store_apart([(chosen, spans)], failure)
        self.update_gauges()

    def _next_to_replay(self) -> SpoolFile | None:
        files = self.spool.oldest_first()
        after = self._last_failed
        return next((f for f in files if after is None or f.path > after), None) or next(
            iter(files), None
        )

    def update_gauges(self) -> None:
        self.metrics.spool_bytes.set(self.spool.size_bytes)
        self.metrics.spool_files.set(self.spool.file_count)
        self.metrics.quarantine_files.set(self.spool.quarantined_count)
