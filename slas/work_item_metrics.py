"""Work-queue counts for ``/metrics``: items by state and kind. A scrape never works them out: it
serves the last count and, when one is due (at most once per ``every``, and never more than a
tenth of the time: the open set reads the blocked invoices, which grows with them; the breached
timers are counted in the engine, ``WorkQueue.counts``), starts the next in the background, so that a scrape answers at once however long a
count takes. Counts that stopped coming show: their age is a gauge, and a count still running after
``stale_after`` seconds is flagged as failed, as one that raised is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from slas.work_queue import WorkQueue

logger = logging.getLogger(__name__)

BUSY_SHARE = 0.1
"""The share of the time counting may take: after a count of ``t`` seconds the next waits at
least ``t / BUSY_SHARE`` (and at least ``every``)."""

STALE_AFTER = 300.0
"""A count still running after this many seconds is reported as failed (hung, or the engine is
that slow): the counts served are then older than they should be."""


class WorkItemCounts(Collector):
    """``syncsight_work_items{state, kind}``: every item the queue lists, by its state now."""

    def __init__(
        self,
        queue: WorkQueue,
        now: Callable[[], datetime],
        *,
        every: float = 60.0,
        busy_share: float = BUSY_SHARE,
        stale_after: float = STALE_AFTER,
    ) -> None:
        self._queue = queue
        self._now = now
        self._every = every
        self._busy_share = busy_share
        self._stale_after = stale_after
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._next = float("-inf")
        self._counts: Counter[tuple[str, str]] = Counter()
        self._failed = False
        self._counted_at = time.monotonic()
        """When the counts served were taken (when counting began to be asked, before the first)."""
        self._started = 0.0

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            now = time.monotonic()
            if self._idle.is_set() and now >= self._next:
                self._idle.clear()
                self._started = now
                threading.Thread(target=self._count, name="work-item-counts", daemon=True).start()
            hung = not self._idle.is_set() and now - self._started > self._stale_after
            counts, failed, age = dict(self._counts), self._failed or hung, now - self._counted_at
        items = GaugeMetricFamily(
            "syncsight_work_items",
            "Work items by state (open, acknowledged, assigned, snoozed, resolved) and kind "
            "(blocking_failure, breached_timer), as last counted in the background (at most "
            "once a minute).",
            labels=["state", "kind"],
        )
        for (state, kind), count in sorted(counts.items()):
            items.add_metric([state, kind], count)
        yield items
        yield GaugeMetricFamily(
            "syncsight_work_items_count_failed",
            "1 when the last count of the work queue failed, or the one running has taken longer "
            "than it may (the counts above are then older).",
            value=1 if failed else 0,
        )
        yield GaugeMetricFamily(
            "syncsight_work_items_count_age_seconds",
            "Seconds since the counts above were taken.",
            value=age,
        )

    def wait(self, timeout: float) -> bool:
        """Wait until no count is running; whether none is."""
        return self._idle.wait(timeout)

    def _count(self) -> None:
        started = time.monotonic()
        try:
            counts, failed = self._queue.counts(self._now()), False
        except Exception:  # the next scrape still answers; the reason is logged and flagged
            logger.exception("counting the work queue for /metrics failed")
            counts, failed = self._counts, True
        took = time.monotonic() - started
        with self._lock:
            self._counts, self._failed = counts, failed
            if not failed:
                self._counted_at = started
            self._next = time.monotonic() + max(self._every - took, took / self._busy_share - took)
            self._idle.set()
