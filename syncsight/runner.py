"""Run the HTTP service in the foreground until SIGTERM or Ctrl-C, then shut down gracefully.

Uvicorn re-raises the captured signal after its graceful shutdown, which makes a clean stop look
like a crash (exit status -15) to supervisors and tests; here a graceful stop exits 0. Before it
starts, it bounds glibc's heap (``bound_c_heap``).
"""

from __future__ import annotations

import ctypes
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

logger = logging.getLogger(__name__)

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_M_ARENA_MAX = -8
C_HEAP_ARENAS = 2
"""glibc arenas for the service's threads. By default glibc gives a thread that finds the heap busy
an arena of its own, up to eight per core, and memory freed in an arena stays in it: every Python
thread (request workers that end and are replaced, the evaluator, the writer, the gRPC server's)
kept its own high-water mark of freed blocks, and the heap crept up by megabytes a minute in the
soak while the bytes in use stayed flat. The engine allocates through its own jemalloc.

glibc's mmap threshold is left to adapt: fixing it (so that a tick's large arrays are mapped on
their own and handed back when freed) also fixes the trim threshold, and a workload of large
arrays then took two to three times the CPU in page faults (``benchmarks/c_heap.py``; Soak, eighth
pass)."""


def bound_c_heap() -> bool:
    """Set ``C_HEAP_ARENAS`` for this process (before its threads start: an arena, once made,
    stays); whether glibc took it (not glibc: False, nothing set)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:  # not glibc (musl, macOS): their allocators have no such options
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_ARENA_MAX, C_HEAP_ARENAS))


class GracefulServer(uvicorn.Server):
    """A uvicorn server whose signal handling ends in a normal return."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def run_http(app: FastAPI, *, host: str, port: int, log_level: str = "info") -> None:
    """Serve ``app`` until asked to stop."""
    if not bound_c_heap():
        logger.info("the C library took no heap bounds (not glibc): its defaults stay")
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    GracefulServer(config).run()
