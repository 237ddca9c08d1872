"""The service bounds glibc's heap before its threads start (``warehouse.c_heap.bound_c_heap``)
and gives its free pages back after background work (``trim_c_heap``):
its threads share at most ``C_HEAP_ARENAS`` arenas instead of one each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from warehouse.c_heap import C_HEAP_ARENAS

THREADS = 8

WRITE_MALLOC_INFO = """
import ctypes

def write_malloc_info(path):
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.fclose.argtypes = (ctypes.c_void_p,)
    report = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, report)
    libc.fclose(report)
"""
"""What a script that reports glibc's arenas begins with: ``write_malloc_info(path)`` writes
``malloc_info``'s XML to ``path`` (``arenas_in`` counts them)."""


def arenas_in(report: Path) -> int:
    """How many arenas a ``write_malloc_info`` report lists."""
    return report.read_text().count("<heap nr=")


ARENAS_AFTER_THREADS = """
import ctypes, sys, threading
from warehouse.c_heap import bound_c_heap

if sys.argv[2] == "bounded":
    assert bound_c_heap()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
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
write_malloc_info(sys.argv[1])
together.wait()
for thread in threads:
    thread.join()
"""


def arenas_with_threads(tmp_path: Path, mode: str) -> int:
    """How many arenas glibc reports once ``THREADS`` threads have each allocated."""
    report = tmp_path / f"malloc-{mode}.xml"
    subprocess.run(
        [
            sys.executable,
            "-c",
            WRITE_MALLOC_INFO + ARENAS_AFTER_THREADS,
            str(report),
            mode,
            str(THREADS),
        ],
        check=True,
        timeout=60,
    )
    return arenas_in(report)


class TestBoundCHeap:
    def test_threads_share_at_most_the_bounded_arenas(self, tmp_path: Path) -> None:
        """With the bound, eight allocating threads and the main one use two arenas in all."""
        assert arenas_with_threads(tmp_path, "bounded") <= C_HEAP_ARENAS

    def test_without_the_bound_threads_take_arenas_of_their_own(self, tmp_path: Path) -> None:
        """The default the bound changes (else the test above could not fail): more arenas."""
        assert arenas_with_threads(tmp_path, "default") > C_HEAP_ARENAS


COMMAND_THEN_ARENAS = """
import atexit, sys

path, url = sys.argv[1], sys.argv[2]
atexit.register(write_malloc_info, path)
sys.argv = ["syncsight", "migrate", "--clickhouse-url", url]
from syncsight.cli import main
main()
"""


class TestTheCommandBoundsTheHeap:
    def test_the_engine_s_threads_share_the_bounded_arenas(self, tmp_path: Path) -> None:
        """``syncsight`` bounds the heap before the embedded engine starts its threads: after a
        command that opens the engine and runs its migrations, glibc has made at most
        ``C_HEAP_ARENAS`` arenas. (Bounded when the HTTP server started, after the engine had
        opened, the limit was already fixed and the engine's threads had made 14.)"""
        report = tmp_path / "malloc.xml"
        subprocess.run(
            [
                sys.executable,
                "-c",
                WRITE_MALLOC_INFO + COMMAND_THEN_ARENAS,
                str(report),
                f"chdb://{tmp_path / 'data'}",
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )
        assert arenas_in(report) <= C_HEAP_ARENAS


FRAGMENTED_THEN_TRIMMED = """
import ctypes, sys
from warehouse.c_heap import bound_c_heap, trim_c_heap

assert bound_c_heap()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
libc.free.argtypes = (ctypes.c_void_p,)
page = 4096

def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * page / (1 << 20)

# 96 MiB of 8 KiB blocks, each written; then all but every 64th freed: the heap's top is still in
# use, so glibc cannot shrink it on its own, and the free pages lie between blocks in use
blocks = [libc.malloc(8192) for _ in range(12_288)]
for block in blocks:
    libc.memset(block, 1, 8192)
for number, block in enumerate(blocks):
    if number % 64:
        libc.free(block)
before = resident_mib()
trimmed = trim_c_heap() if sys.argv[1] == "trim" else None
print(before, resident_mib(), trimmed)
"""


def resident_before_and_after(mode: str) -> tuple[float, float]:
    """Resident MiB of a process with a fragmented heap, before and after ``mode``."""
    done = subprocess.run(
        [sys.executable, "-c", FRAGMENTED_THEN_TRIMMED, mode],
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    before, after, _ = done.stdout.split()
    return float(before), float(after)


class TestTrimCHeap:
    def test_free_pages_between_blocks_in_use_go_back(self) -> None:
        """About 94 MiB freed between blocks still in use: the trim gives most of it back."""
        before, after = resident_before_and_after("trim")
        assert before - after > 60, (before, after)

    def test_without_the_trim_glibc_keeps_them(self) -> None:
        """The behaviour the trim changes (else the test above could not fail)."""
        before, after = resident_before_and_after("keep")
        assert before - after < 5, (before, after)
