"""The process's C heap (glibc's malloc), shared by the service's Python threads, numpy, Arrow and
the embedded engine's client: bounded to a few arenas before the threads start
(``bound_c_heap``), and handed back to the operating system after each round of background work
(``trim_c_heap``). The engine itself allocates through its own jemalloc.

Both are no-ops where the C library is not glibc (musl, macOS): their allocators have no such
calls, and their defaults stay.
"""

from __future__ import annotations

import ctypes
from typing import Final

_LIBC: Final = ctypes.CDLL(None)
_M_ARENA_MAX: Final = -8

C_HEAP_ARENAS: Final = 2
"""glibc arenas for the service's threads. By default glibc gives a thread that finds the heap busy
an arena of its own, up to eight per core, and memory freed in an arena stays in it: every Python
thread (request workers that end and are replaced, the evaluator, the writer, the gRPC server's)
kept its own high-water mark of freed blocks, and the heap crept up by megabytes a minute in the
soak while the bytes in use stayed flat.

glibc's mmap threshold is left to adapt: fixing it (so that a tick's large arrays are mapped on
their own and handed back when freed) also fixes the trim threshold, and a workload of large
arrays then took two to three times the CPU in page faults (``benchmarks/c_heap.py``; Soak, eighth
pass)."""


def bound_c_heap() -> bool:
    """Set ``C_HEAP_ARENAS`` for this process (before its threads start: an arena, once made,
    stays); whether glibc took it (not glibc: False, nothing set)."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_ARENA_MAX, C_HEAP_ARENAS))


def trim_c_heap() -> bool:
    """Give the free pages of every arena back to the operating system (``malloc_trim(0)``); whether
    any were given (not glibc: False).

    glibc hands back on its own only the free memory at the top of an arena. A tick's arrays and
    strings, freed, leave free pages between blocks still in use, which it keeps: with its bytes in
    use flat, the soak's heap still grew by 160 MiB an hour (Soak, ninth pass). ``malloc_trim(0)``
    also releases those pages inside the heap (``madvise``); the next tick faults them in again,
    which is what it costs (``benchmarks/c_heap.py``)."""
    malloc_trim = getattr(_LIBC, "malloc_trim", None)
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = (ctypes.c_size_t,)
    return bool(malloc_trim(0))
