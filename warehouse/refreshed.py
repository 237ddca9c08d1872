"""A value read in the background for probes and scrapes: asking never waits for the read.

``/metrics`` and ``/readyz`` report things that cost a read of the engine (the work queue's
counts, ``system.mutations``). Read in the request, a hung or slow engine would hold every scrape
and probe for as long as the read takes, and frequent probes would add engine work. A
``Refreshed`` value serves the last reading at once and, when the next one is due, starts it in a
thread of its own:

- at most once per ``every`` seconds, and never more than ``busy_share`` of the time (after a read
  of ``t`` seconds the next waits at least ``t / busy_share``);
- only while someone asks: nothing is read in a quiet service;
- always on the same thread, so that a per-thread client (``ClientPool.client``) is opened once,
  not at every read;
- a read that raises keeps the last value, is counted and logged (once per distinct error), and
  flags the reading as failed until a read succeeds; a read still running after ``stale_after``
  seconds flags it too (hung, or the engine is that slow), and the reading's age keeps growing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

STALE_AFTER = 300.0
"""A read still running after this many seconds is reported as failed."""


@dataclass(frozen=True)
class Reading(Generic[T]):
    """What is served: the last value read (the initial one before any read completed), whether
    the last read failed or the one running is overdue and why (the error, or how long the read
    has run; '' while neither), the value's age in seconds (since the object was made, before
    the first read completed)."""

    value: T
    age: float
    problem: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.problem)


class Refreshed(Generic[T]):
    """``read()``'s result, read again in the background when due (see the module)."""

    def __init__(
        self,
        read: Callable[[], T],
        initial: T,
        *,
        name: str,
        every: float,
        busy_share: float = 1.0,
        stale_after: float = STALE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._name = name
        self._every = every
        self._busy_share = busy_share
        self._stale_after = stale_after
        self._clock = clock
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._wanted = threading.Event()
        self._worker: threading.Thread | None = None
        self._next = float("-inf")
        self._value = initial
        self._errors = 0
        self._error = ""
        self._read_at = clock()
        self._started = 0.0

    def reading(self) -> Reading[T]:
        """The last reading; starts the next read in the background when one is due."""
        with self._lock:
            now = self._clock()
            if self._idle.is_set() and now >= self._next:
                self._idle.clear()
                self._started = now
                if self._worker is None:
                    self._worker = threading.Thread(target=self._work, name=self._name, daemon=True)
                    self._worker.start()
                self._wanted.set()
            running = now - self._started
            overdue = not self._idle.is_set() and running > self._stale_after
            problem = self._error or (f"a read has run for {running:.0f} s" if overdue else "")
            return Reading(value=self._value, age=now - self._read_at, problem=problem)

    def errors(self) -> int:
        """Failed reads so far (asks for no read)."""
        with self._lock:
            return self._errors

    def wait(self, timeout: float) -> bool:
        """Wait until no read is running; whether none is."""
        return self._idle.wait(timeout)

    def _work(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            self._refresh()

    def _refresh(self) -> None:
        started = self._clock()
        try:
            value = self._read()
        except Exception as error:  # served as failed with the last value; never raised
            text = f"{type(error).__name__}: {error}"
            with self._lock:
                self._errors += 1
                repeated, self._error = text == self._error, text
            if not repeated:
                logger.warning("%s: the read failed: %s", self._name, text, exc_info=True)
        else:
            with self._lock:
                # as old as the moment the read was asked for (never younger than the value):
                # the thread may begin it a moment later
                self._value, self._error, self._read_at = value, "", self._started
        finally:
            took = self._clock() - started
            with self._lock:
                self._next = self._clock() + max(self._every - took, took / self._busy_share - took)
                self._idle.set()
