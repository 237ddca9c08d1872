"""Hands the C heap's free memory back to the system at an interval.

The embedded engine (chdb is built without jemalloc) allocates through glibc's malloc, as numpy
does; their threads spread allocations over many malloc arenas, and glibc returns an arena's free
memory to the system only from its top. Under steady ingest and evaluation the free but kept
memory grows with every insert, merge and tick: in a soak at 1,000 spans/s the service's resident
memory rose by about 1 GiB an hour while the engine tracked under 110 MiB and the allocated C heap
stayed near 50 MiB (``benchmarks/README.md``, soak). ``malloc_trim(0)`` releases the free pages of
every arena; it runs on a thread of its own and does not hold the GIL (ctypes releases it).
Elsewhere than glibc there is no such call and nothing runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    function = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if function is None:
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


def resident_bytes() -> int:
    """This process's resident memory now (``/proc/self/statm``), in bytes."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE_BYTES


class MallocTrimmer:
    """A daemon thread that calls ``malloc_trim(0)`` every ``interval_seconds`` and reports the
    resident bytes each call released to ``on_trim``."""

    def __init__(self, interval_seconds: float, on_trim: Callable[[int], None]) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds={interval_seconds}: expected more than 0")
        self._interval = interval_seconds
        self._on_trim = on_trim
        self._trim = _malloc_trim()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error = ""

    @property
    def available(self) -> bool:
        """Whether the C library can trim (glibc)."""
        return self._trim is not None

    def trim_once(self) -> int:
        """Trim now; the resident bytes released (0 when there is nothing to trim)."""
        if self._trim is None:
            return 0
        before = resident_bytes()
        self._trim(0)
        released = max(before - resident_bytes(), 0)
        self._on_trim(released)
        return released

    def start(self) -> None:
        if self._trim is None:
            logger.info("the C library has no malloc_trim: the heap's free memory is not trimmed")
            return
        self._thread = threading.Thread(target=self._run, name="malloc-trim", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def problem(self) -> str | None:
        """Why the trim loop is not doing its work, or None."""
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            return "the malloc-trim loop has stopped"
        if self.last_error:
            return f"the malloc-trim loop failed: {self.last_error}"
        return None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.trim_once()
            except Exception as error:  # reported by problem(); the loop and the process go on
                self.last_error = f"{type(error).__name__}: {error}"
                logger.exception("malloc_trim failed")
            else:
                self.last_error = ""
