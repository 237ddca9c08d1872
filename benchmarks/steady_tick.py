"""What an evaluator tick costs under steady ingest, the soak's traffic without the service: every
tick's window holds ``--rate`` times ``--interval`` new spans of new engagements (the soak's
``--sender requests`` templates, made new, decoded by the collector and written by the span sink
as the service would), then one tick runs, its round trips counted and timed by statement
(``benchmarks/tick_profile.py``'s ``CountingClient``).

A tick that costs more than its interval is what makes the soak's evaluator fall behind: its
window, and the memory that holds it, then grow. Each tick prints its CPU, wall, what it read
and wrote, and the costliest statements; the summary gives the median tick and the slope of CPU
per tick against the ticks already done (history should not matter).

A tick's CPU is the process's (the in-process engine's threads included), so it also counts the
background merges of the parts the ingest between ticks wrote, whenever they run during the tick.
``--stop-ingest-merges`` stops those merges (``otel_traces``, its trace index and the business
tables) once the history is derived, so that a tick counts its own statements and the merges of
the tables it writes.

Opens ``--data`` itself (a new directory: the run starts empty). Run:
``.venv/bin/python benchmarks/steady_tick.py --data /tmp/steady [--ticks 20] [--rate 3000]
[--interval 15] [--history 300000] [--stop-ingest-merges] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.paced_requests import Template, build_template
from benchmarks.process_stats import own_cpu_seconds, peak_rss_mib, reset_peak_rss, resident_mib
from benchmarks.tick_profile import new_counted_engine, recorders_current
from collector.decode import decode_protobuf
from collector.limits import DecodeLimits
from warehouse.schema import (
    BIZ_EVENT_OBJECTS,
    BIZ_EVENTS,
    EVIDENCE_SPANS,
    OTEL_TRACES,
    OTEL_TRACES_TRACE_ID_TS,
)
from warehouse.span_batch import join_batches
from warehouse.span_store import span_sink

SENDERS = 2
TEMPLATES_PER_SENDER = 8
SPANS_PER_REQUEST = 1000
ENGAGEMENT_SIZE = 1000
TOP_STATEMENTS = 8


def templates() -> list[list[Template]]:
    """The soak's templates: ``TEMPLATES_PER_SENDER`` requests of each of ``SENDERS`` senders."""
    return [
        [
            build_template(sender, index, SPANS_PER_REQUEST, ENGAGEMENT_SIZE, "syncsight-steady")
            for index in range(TEMPLATES_PER_SENDER)
        ]
        for sender in range(SENDERS)
    ]


def ingest(url: str, client: Any, made: list[list[Template]], first: int, count: int) -> float:
    """Requests ``first`` to ``first + count`` (alternating senders), timed now, stored; the CPU
    seconds of the write (the insert and the views it fires, not the decoding)."""
    limits = DecodeLimits()
    batches = []
    for number in range(first, first + count):
        sender = number % SENDERS
        template = made[sender][(number // SENDERS) % TEMPLATES_PER_SENDER]
        body = template.fresh(sender, number // SENDERS, time.time_ns())
        batches.append(decode_protobuf(body, limits).encoded().spans)
    batch = join_batches(batches)
    cpu = own_cpu_seconds()
    span_sink(client, url).write(batch)
    return own_cpu_seconds() - cpu


INGEST_TABLES = (OTEL_TRACES, OTEL_TRACES_TRACE_ID_TS, BIZ_EVENTS, BIZ_EVENT_OBJECTS)
"""The tables the ingest between ticks writes (the business tables through their views)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="a new directory for the engine")
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument(
        "--history",
        type=int,
        default=300_000,
        help="spans stored and derived (not measured) before the first tick",
    )
    parser.add_argument("--rate", type=float, default=3000.0, help="spans per second ingested")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between ticks")
    parser.add_argument(
        "--stop-ingest-merges",
        action="store_true",
        help="stop the background merges of the tables the ingest writes (a tick's own CPU)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    url, client, counting, state = new_counted_engine(parser, arguments.data, subdirectory="data")
    made = templates()
    per_tick = max(1, round(arguments.rate * arguments.interval / SPANS_PER_REQUEST))
    first = -(-arguments.history // SPANS_PER_REQUEST)
    for start in range(0, first, per_tick):
        ingest(url, client, made, start, min(per_tick, first - start))
    started = time.perf_counter()
    print(f"history: {first * SPANS_PER_REQUEST:,} spans; {state.tick(datetime.now(UTC))}")
    print(f"derived from scratch in {time.perf_counter() - started:.1f} s", flush=True)
    behind = recorders_current(state)
    print(f"recorders caught up in {behind} more tick(s)", flush=True)
    # the history's copies merged, whoever wrote them (the ticks a few large parts, the inserts
    # since migration 30 one part each): the timed ticks start from the same parts either way
    client.command(f"OPTIMIZE TABLE {EVIDENCE_SPANS} FINAL")
    if arguments.stop_ingest_merges:
        for table in INGEST_TABLES:
            client.command(f"SYSTEM STOP MERGES {table}")
    print(f"{per_tick * SPANS_PER_REQUEST:,} new spans before each tick", flush=True)
    figures: list[dict[str, Any]] = []
    for number in range(arguments.ticks):
        ingest_cpu = ingest(url, client, made, first + number * per_tick, per_tick)
        time.sleep(0.01)
        counting.calls.clear()
        reset_peak_rss(os.getpid())
        wall, cpu = time.perf_counter(), own_cpu_seconds()
        report = state.tick(datetime.now(UTC))
        wall, cpu = time.perf_counter() - wall, own_cpu_seconds() - cpu
        peak, after = peak_rss_mib(os.getpid()), resident_mib(os.getpid())
        ordered = sorted(counting.calls.items(), key=lambda item: -sum(c for _, c in item[1]))
        engine_cpu = sum(c for _, samples in ordered for _, c in samples)
        print(
            f"tick {number}: {cpu:.2f} CPU-s ({engine_cpu:.2f} in round trips), {wall:.2f} s "
            f"wall, after an ingest write of {ingest_cpu:.3f} CPU-s; "
            f"{report.events} events read, {report.versions} versions, path "
            f"{report.path or '-'}, touched {report.touched}; RSS peak {peak:,.0f} MiB, "
            f"after {after:,.0f} MiB",
            flush=True,
        )
        for kind, samples in ordered[:TOP_STATEMENTS]:
            print(
                f"  {len(samples):3d} x {sum(c for _, c in samples):6.2f} CPU-s "
                f"{sum(w for w, _ in samples):6.2f} s  {kind}",
                flush=True,
            )
        figures.append(
            {
                "tick": number,
                "cpu_seconds": cpu,
                "ingest_write_cpu_seconds": ingest_cpu,
                "wall_seconds": wall,
                "events": report.events,
                "versions": report.versions,
                "path": report.path,
                "rss_peak_mib": peak,
                "rss_after_mib": after,
                "calls": {
                    kind: [len(samples), sum(c for _, c in samples)] for kind, samples in ordered
                },
            }
        )
    cpus = [figure["cpu_seconds"] for figure in figures]
    later = cpus[1:] or cpus  # the first tick also warms caches
    slope = statistics.linear_regression(range(len(later)), later).slope if len(later) > 1 else 0
    writes = [figure["ingest_write_cpu_seconds"] for figure in figures][1:] or [0.0]
    print(
        f"median ingest write {statistics.median(writes):.3f} CPU-s a tick's spans; "
        f"median tick {statistics.median(later):.2f} CPU-s, max {max(later):.2f}; "
        f"slope {1000 * slope:+.1f} ms CPU per tick; interval {arguments.interval:.0f} s",
        flush=True,
    )
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
