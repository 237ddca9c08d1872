"""How much dearer this machine makes work that touches memory after the process slept: the same
walk over a Python dict of ``--entries`` entries and the same one-row insert into an embedded
engine, timed in this thread's CPU right after the previous one and after each pause of
``--pauses`` seconds.

A periodic loop (the evaluator's quiet tick, the lease's heartbeat) always runs after a pause. On
a virtual machine whose host reclaims or re-maps a guest's memory the guest has not touched for a
while, that loop's CPU then grows with the pause, whatever the code: the figures this prints say
by how much on the machine at hand, to be read beside ``idle_cpu.py``'s and ``steady_tick.py``'s.

Run: ``.venv/bin/python benchmarks/cold_memory.py [--pauses 0,0.5,2,5] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import clickhouse_connect

SCRATCH = """CREATE TABLE IF NOT EXISTS beats (Name String, At DateTime64(3, 'UTC'))
ENGINE = MergeTree ORDER BY Name"""


def thread_ms(work: Callable[[], object]) -> float:
    started = time.thread_time()
    work()
    return (time.thread_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pauses", default="0,0.5,2,5", help="seconds asleep before each ask")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--entries", type=int, default=300_000)
    arguments = parser.parse_args()
    pauses = [float(p) for p in arguments.pauses.split(",")]
    table = {i: str(i) for i in range(arguments.entries)}
    keys = range(0, arguments.entries, 3)
    with tempfile.TemporaryDirectory(prefix="cold-memory-") as data:
        client = clickhouse_connect.get_client(dsn=f"chdb://{data}")
        client.command(SCRATCH)

        def walk() -> int:
            return sum(len(table[k]) for k in keys)

        def insert() -> None:
            client.insert("beats", [["beat", datetime.now(UTC)]], column_names=["Name", "At"])

        for _ in range(3):  # the first asks load code and caches
            walk()
            insert()
        print("pause s   dict walk ms (median)   engine insert ms (median)")
        for pause in pauses:
            walks, inserts = [], []
            for _ in range(arguments.rounds):
                time.sleep(pause)
                walks.append(thread_ms(walk))
                time.sleep(pause)
                inserts.append(thread_ms(insert))
            print(
                f"{pause:7g}   {statistics.median(walks):20.1f}   {statistics.median(inserts):25.1f}",
                flush=True,
            )
        client.close()


if __name__ == "__main__":
    main()
