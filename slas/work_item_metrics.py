"""Work-queue counts for ``/metrics``: items by state and kind. A scrape never works them out: it
serves the last count and, when one is due (at most once per ``every``, and never more than a
tenth of the time: the open set reads the blocked invoices, which grows with them; the breached
timers are counted in the engine, ``WorkQueue.counts``), starts the next in the background
(``warehouse.refreshed``), so that a scrape answers at once however long a count takes. Counts
that stopped coming show: their age is a gauge, and a count still running after ``stale_after``
seconds is flagged as failed, as one that raised is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from slas.work_queue import WorkQueue
from warehouse.refreshed import STALE_AFTER, Refreshed

BUSY_SHARE = 0.1
"""The share of the time counting may take: after a count of ``t`` seconds the next waits at
least ``t / BUSY_SHARE`` (and at least ``every``)."""


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
        empty: Counter[tuple[str, str]] = Counter()
        self._counts = Refreshed(
            lambda: queue.counts(now()),
            empty,
            name="work-item-counts",
            every=every,
            busy_share=busy_share,
            stale_after=stale_after,
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        reading = self._counts.reading()
        items = GaugeMetricFamily(
            "syncsight_work_items",
            "Work items by state (open, acknowledged, assigned, snoozed, resolved) and kind "
            "(blocking_failure, breached_timer), as last counted in the background (at most "
            "once a minute).",
            labels=["state", "kind"],
        )
        for (state, kind), count in sorted(reading.value.items()):
            items.add_metric([state, kind], count)
        yield items
        yield GaugeMetricFamily(
            "syncsight_work_items_count_failed",
            "1 when the last count of the work queue failed, or the one running has taken longer "
            "than it may (the counts above are then older).",
            value=1 if reading.failed else 0,
        )
        yield GaugeMetricFamily(
            "syncsight_work_items_count_age_seconds",
            "Seconds since the counts above were taken.",
            value=reading.age,
        )

    def wait(self, timeout: float) -> bool:
        """Wait until no count is running; whether none is."""
        return self._counts.wait(timeout)
