"""Keeps the dashboard's expensive answers warm: a background thread recomputes them, when the
data changed, every interval, so that a request finds them ready instead of waiting for them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from warehouse.background import yield_to_foreground
from warehouse.pool import ClientPool

logger = logging.getLogger(__name__)


class Warmer:
    """Calls every task every ``interval_seconds`` on its own thread until ``stop``."""

    def __init__(
        self, pool: ClientPool, tasks: Sequence[Callable[[], object]], *, interval_seconds: float
    ) -> None:
        self._pool = pool
        self._tasks = tuple(tasks)
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="view-warmer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        yield_to_foreground(self._pool.client())  # the tasks read through this thread's client
        while not self._stop.is_set():
            for task in self._tasks:
                try:
                    task()
                except Exception:  # a failed warm-up is retried next interval; requests still work
                    logger.exception("warming %s failed", getattr(task, "__qualname__", task))
            self._stop.wait(self._interval)
