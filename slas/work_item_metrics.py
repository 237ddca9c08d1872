"""Work-queue counts for ``/metrics``: items by state and kind, worked out when scraped but at most
once per ``every`` (the open set reads the blocked invoices and the alerting timers, so a busy
scraper must not pay for it on every scrape)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from slas.work_queue import WorkQueue, item_kind

logger = logging.getLogger(__name__)


class WorkItemCounts(Collector):
    """``syncsight_work_items{state, kind}``: every item the queue lists, by its state now."""

    def __init__(
        self, queue: WorkQueue, now: Callable[[], datetime], *, every: float = 60.0
    ) -> None:
        self._queue = queue
        self._now = now
        self._every = every
        self._lock = threading.Lock()
        self._counted_at = float("-inf")
        self._counts: Counter[tuple[str, str]] = Counter()
        self._failed = False

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() - self._counted_at >= self._every:
                self._count()
            counts, failed = dict(self._counts), self._failed
        items = GaugeMetricFamily(
            "syncsight_work_items",
            "Work items by state (open, acknowledged, assigned, snoozed, resolved) and kind "
            "(blocking_failure, breached_timer), counted at most once a minute.",
            labels=["state", "kind"],
        )
        for (state, kind), count in sorted(counts.items()):
            items.add_metric([state, kind], count)
        yield items
        yield GaugeMetricFamily(
            "syncsight_work_items_count_failed",
            "1 when the last count of the work queue failed (the counts above are then older).",
            value=1 if failed else 0,
        )

    def _count(self) -> None:
        self._counted_at = time.monotonic()
        try:
            listed = self._queue.listed(self._now())
        except Exception:  # a scrape must answer; the reason is logged and flagged
            logger.exception("counting the work queue for /metrics failed")
            self._failed = True
            return
        self._counts = Counter((item.state.state, item_kind(item)) for item in listed)
        self._failed = False
