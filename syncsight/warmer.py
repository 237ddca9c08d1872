"""Keeps the dashboard's expensive answers warm: a background thread recomputes them, when the
data changed, every interval, so that a request finds them ready instead of waiting for them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from warehouse.background import BackgroundLoop
from warehouse.pool import ClientPool

logger = logging.getLogger(__name__)


class Warmer:
    """Calls every task every ``interval_seconds`` on its own thread until ``stop``."""

    def __init__(
        self, pool: ClientPool, tasks: Sequence[Callable[[], object]], *, interval_seconds: float
    ) -> None:
        self._tasks = tuple(tasks)
        self._interval = interval_seconds
        self._loop = BackgroundLoop("view-warmer", pool.client, self._warm)

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._loop.stop(timeout)

    def _warm(self) -> float:
        for task in self._tasks:
            try:
                task()
            except Exception:  # a failed warm-up is retried next interval; requests still work
                logger.exception("warming %s failed", getattr(task, "__qualname__", task))
        return self._interval
