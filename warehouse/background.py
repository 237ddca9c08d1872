"""Background work (the SLA evaluator, the dashboard's warm-up) runs on a loop of its own and
yields the CPU to ingest and to requests: the engine threads that run its queries get a lower CPU
priority.

On an idle machine it still runs at full speed; while spans arrive, acknowledging them comes first.
ClickHouse applies the priority only with the CAP_SYS_NICE capability (it ignores the setting
without it). The loop's own Python thread keeps its priority, on purpose: a lowered thread that
holds the GIL when the scheduler passes it over holds up every request thread with it, and the
embedded engine, which runs a query partly on the calling thread, resets that thread's priority
when each query ends anyway (tests/warehouse/test_background.py).

Before it waits for its next step the loop gives the C heap's free pages back (``warehouse.c_heap.trim_c_heap``): a
step builds and drops large arrays, and without it the freed pages stayed with the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

from warehouse.c_heap import trim_c_heap

BACKGROUND_NICE = 10
"""Linux nice value of the engine threads of background queries: under contention a nice-10
thread gets about a tenth of the CPU time of a nice-0 one."""

_ENGINE_NICE_SETTING = "os_thread_priority"
"""The query setting for the nice value of the engine's threads (known to old servers too)."""


def yield_to_foreground(client: Client) -> None:
    """Run the queries of ``client`` (this thread's own, ``ClientPool.client``) on engine threads
    of lower CPU priority."""
    client.set_client_setting(_ENGINE_NICE_SETTING, BACKGROUND_NICE)


class BackgroundLoop:
    """A daemon thread that calls ``step`` until ``stop``, its queries at background priority,
    waiting the seconds each call returns before the next, and trimming the C heap (``trim``)
    before each wait."""

    def __init__(
        self,
        name: str,
        client: Callable[[], Client],
        step: Callable[[], float],
        *,
        trim: Callable[[], object] = trim_c_heap,
    ) -> None:
        self._name = name
        self._client = client
        """The thread's own client (``ClientPool.client`` or a factory), opened on the thread."""
        self._step = step
        self._trim = trim
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to end and wait for the call in progress (up to ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def stopping(self) -> bool:
        """Whether ``stop`` was asked: a long step may end early and leave the rest for later."""
        return self._stop.is_set()

    def alive(self) -> bool:
        """Whether the loop is as it should be: not yet started, running, or asked to stop; only
        a loop that ended without being asked (dead) is not."""
        return self._thread is None or self._thread.is_alive() or self._stop.is_set()

    def running(self) -> bool:
        """Whether the loop's thread is still at work (started, and not ended)."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        yield_to_foreground(self._client())
        while not self._stop.is_set():
            wait = self._step()
            if wait > 0:  # resting: a step that runs again at once (catching up) keeps its pages
                self._trim()
            self._stop.wait(wait)
