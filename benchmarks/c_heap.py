"""What glibc's heap options cost in CPU: large numpy arrays created, written and freed, as a tick's
are, under glibc's defaults, two arenas (``warehouse.c_heap.bound_c_heap``), two arenas with a
fixed mmap threshold (which also fixes the trim threshold), and two arenas with ``malloc_trim(0)``
after every ``TRIM_EVERY`` pairs, as the background loop trims after each step
(``warehouse.c_heap.trim_c_heap``). Each setting runs in a process of its own, since an option
once set stays for the process.
Run: ``.venv/bin/python benchmarks/c_heap.py [--arrays 3000] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import time

import numpy as np

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
SETTINGS = {
    "defaults": (),
    "two arenas": ((M_ARENA_MAX, 2),),
    "two arenas, mmap threshold 1 MiB": ((M_ARENA_MAX, 2), (M_MMAP_THRESHOLD, 1 << 20)),
    "two arenas, mmap threshold 8 MiB": ((M_ARENA_MAX, 2), (M_MMAP_THRESHOLD, 8 << 20)),
    "two arenas, mmap threshold 32 MiB": ((M_ARENA_MAX, 2), (M_MMAP_THRESHOLD, 32 << 20)),
    "two arenas, trimmed": ((M_ARENA_MAX, 2),),
}
TRIM_EVERY = 30
"""Pairs of arrays between two trims in the "trimmed" setting: about what one tick builds."""


def work(setting: str, arrays: int) -> float:
    """CPU seconds of ``arrays`` pairs of arrays of 0.1-24 MiB (the same sizes every run)."""
    libc = ctypes.CDLL(None)
    for option, value in SETTINGS[setting]:
        libc.mallopt(option, value)
    sizes = np.random.default_rng(1).integers(1 << 17, 24 << 20, size=arrays) // 8
    started = time.process_time()
    trim = setting.endswith("trimmed")
    for number, count in enumerate(sizes, start=1):
        first = np.ones(int(count))  # written, so its pages are touched
        second = first * 2
        del first, second
        if trim and number % TRIM_EVERY == 0:
            libc.malloc_trim(0)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrays", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--setting", choices=SETTINGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setting:
        print(f"{work(args.setting, args.arrays):.2f}")
        return
    for setting in SETTINGS:
        runs = [
            subprocess.run(
                [sys.executable, __file__, "--setting", setting, "--arrays", str(args.arrays)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            for _ in range(args.repeat)
        ]
        print(f"{setting:36} {' / '.join(runs)} CPU-s for {args.arrays} pairs of arrays")


if __name__ == "__main__":
    main()
