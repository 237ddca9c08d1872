"""The service bounds glibc's heap before its threads start (``syncsight.runner.bound_c_heap``):
its threads share at most ``C_HEAP_ARENAS`` arenas instead of one each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from syncsight.runner import C_HEAP_ARENAS

THREADS = 8

ARENAS_AFTER_THREADS = """
import ctypes, sys, threading
from syncsight.runner import bound_c_heap

if sys.argv[2] == "bounded":
    assert bound_c_heap()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
together = threading.Barrier(int(sys.argv[3]) + 1)

def allocate():
    block = libc.malloc(4096)
    together.wait()  # every thread holds a block of its own at once
    together.wait()
    libc.free(block)

threads = [threading.Thread(target=allocate) for _ in range(int(sys.argv[3]))]
for thread in threads:
    thread.start()
together.wait()
report = libc.fopen(sys.argv[1].encode(), b"w")
libc.malloc_info(0, report)
libc.fclose(report)
together.wait()
for thread in threads:
    thread.join()
"""


def arenas_with_threads(tmp_path: Path, mode: str) -> int:
    """How many arenas glibc reports once ``THREADS`` threads have each allocated."""
    report = tmp_path / f"malloc-{mode}.xml"
    subprocess.run(
        [sys.executable, "-c", ARENAS_AFTER_THREADS, str(report), mode, str(THREADS)],
        check=True,
        timeout=60,
    )
    return report.read_text().count("<heap nr=")


class TestBoundCHeap:
    def test_threads_share_at_most_the_bounded_arenas(self, tmp_path: Path) -> None:
        """With the bound, eight allocating threads and the main one use two arenas in all."""
        assert arenas_with_threads(tmp_path, "bounded") <= C_HEAP_ARENAS

    def test_without_the_bound_threads_take_arenas_of_their_own(self, tmp_path: Path) -> None:
        """The default the bound changes (else the test above could not fail): more arenas."""
        assert arenas_with_threads(tmp_path, "default") > C_HEAP_ARENAS
