"""The tables close risk reads, merged into one part while the business state is quiet.

An answer reads each range of ``close_item_pieces`` (and the completed stages of ``close_items``)
once in every part: a tick adds a part, and the engine's own merges leave a few parts of similar
size standing. On a 10M-span quarter an every-period ``/close-risk`` cost about a quarter less CPU
with each table in one part (benchmarks/history/business-state-answers.md,
"Seventeenth pass"). So the evaluator merges
them (``OPTIMIZE … FINAL``, a partition already in one part left as it is) on the first tick that
writes no version after ticks that did, at most once every ``COMPACT_EVERY``: while spans keep
arriving a tick never waits for it. The merge costs what the tables hold (about 2.6 CPU-seconds
at 10M spans), so the next one waits ``BUSY_SHARE``'s inverse times as long as the last took, if
that is longer: merging takes at most about 1 % of the evaluator's time however large the
history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from clickhouse_connect.driver.client import Client

from warehouse.schema import (
    CLOSE_ITEM_PIECES,
    CLOSE_ITEM_ROWS,
    CLOSE_ITEMS,
    CLOSE_STAGE_DURATIONS,
    Topology,
)

logger = logging.getLogger(__name__)

ANSWERED: Final = (CLOSE_ITEM_PIECES, CLOSE_ITEMS, CLOSE_ITEM_ROWS, CLOSE_STAGE_DURATIONS)
"""The tables merged: what an every-period close-risk answer reads most of (the completed stages
and the versions' point-read rows get a small part each tick, by their views)."""

COMPACT_EVERY: Final = timedelta(minutes=10)
"""The least time between two merges of the tables."""
BUSY_SHARE: Final = 0.01
"""The most of the time the merges may take: after one that took ``t``, the next waits at least
``t / BUSY_SHARE``."""


def compact(client: Client, topology: Topology, tables: tuple[str, ...] = ANSWERED) -> None:
    """Merge each of ``tables`` into one part per partition (one that is already is skipped)."""
    for table in tables:
        client.command(
            f"OPTIMIZE TABLE {topology.storage(table)}{topology.on_cluster} FINAL"
            " SETTINGS optimize_skip_merged_partitions = 1"
        )


class QuietCompaction:
    """When the evaluator merges the ``ANSWERED`` tables: on a tick that wrote nothing, once
    something was written since the last merge (at start-up the parts are not known: a merge is
    due), and no sooner than ``every`` after the last began, nor than ``1 / BUSY_SHARE`` times
    what it took. A failed merge is logged and tried again on a later quiet tick."""

    def __init__(
        self,
        topology: Topology,
        every: timedelta = COMPACT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._topology = topology
        self._every = every.total_seconds()
        self._clock = clock
        self._due = True
        self._next = float("-inf")

    def after_tick(self, client: Client, *, wrote: bool) -> bool:
        """Merge if it is time (whether it did); ``wrote``: whether the tick wrote versions, or
        could not tell (a paused or cut tick)."""
        if wrote:
            self._due = True
            return False
        began = self._clock()
        if not self._due or began < self._next:
            return False
        try:
            compact(client, self._topology)
        except Exception:  # the answers stay right with any number of parts
            logger.warning("merging the close-risk tables failed", exc_info=True)
            merged = False
        else:
            self._due, merged = False, True
        self._next = began + max(self._every, (self._clock() - began) / BUSY_SHARE)
        return merged
