"""The OCEL 2.0 period export's throughput and memory: the stream ``GET /api/v1/ocel`` sends,
produced in-process (``lineage.ocel_log`` pages → ``lineage.ocel_export``) on a loaded quarter and
written to a file; events per second, CPU seconds, and resident memory sampled after every page
(flat memory means the samples stop growing once the engine's caches are warm).

It only reads (no migration): open a COPY of a quarter's data directory that no other process has
open (the embedded engine allows one process per data directory), e.g.
``cp -r /tmp/medium/data /tmp/ocel-medium``.

Run: ``.venv/bin/python benchmarks/ocel_export.py --clickhouse-url chdb:///tmp/ocel-medium
--period 2026-10 [--legal-entity LE-US01] [--format json|sqlite] [--page-size 10000] [--split]``

``--split`` says where the CPU goes: the reads run on the export's own thread, one after the
other (no read-ahead), and every engine round trip is timed (the process's CPU, the engine's
threads and the client's conversion of the result included) by the statement's first words; the
rest is Python (and SQLite). Slower than the export itself, and only a guide to it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lineage.ocel_log
import lineage.ocel_sqlite
from benchmarks.process_stats import own_cpu_seconds, peak_rss_mib
from benchmarks.tick_profile import CountingClient
from lineage.ocel_export import export_stream
from lineage.ocel_log import DEFAULT_PAGE_SIZE, LogPage, LogRequest, describe_objects, log_pages
from lineage.rules import LineageRules
from slas.ocel_states import BusinessStateFacts
from warehouse.pool import ClientPool


def rss_mib() -> float:
    """The resident memory of this process now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class InlineReads:
    """An executor that runs what it is given at once on the caller's thread (``--split``)."""

    def submit(self, work: Callable[..., Any], *args: Any) -> Future[Any]:
        done: Future[Any] = Future()
        try:
            done.set_result(work(*args))
        except Exception as error:  # handed to the caller through the future, as a pool does
            done.set_exception(error)
        return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clickhouse-url", required=True)
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--legal-entity", default=None)
    parser.add_argument("--format", default="json", choices=("json", "sqlite"))
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    parser.add_argument("--output", default="/tmp/ocel-benchmark.out")
    parser.add_argument(
        "--split", action="store_true", help="time every engine call, no read-ahead"
    )
    args = parser.parse_args()
    # a client per thread, as the API's pool hands them (pages are read ahead on other threads)
    pool = ClientPool(args.clickhouse_url)
    client = pool.client()
    client_of: Callable[[], Any] = pool.client
    counting = CountingClient(client)
    if args.split:
        inline = InlineReads()
        lineage.ocel_log.READERS = inline  # type: ignore[attr-defined,assignment]
        lineage.ocel_sqlite.READERS = inline  # type: ignore[attr-defined,assignment]
        client_of = lambda: counting  # noqa: E731
    spans = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    rows = int(client.query("SELECT count() FROM biz_events").result_rows[0][0])
    rules, facts = LineageRules.default(), BusinessStateFacts()
    request = LogRequest(args.period, args.legal_entity, datetime.now(UTC))
    events = 0
    samples: list[float] = []

    def counted(pages: Iterable[LogPage]) -> Iterator[LogPage]:
        nonlocal events
        for page in pages:
            events += page.events
            samples.append(rss_mib())
            yield page

    started, cpu_started = time.perf_counter(), own_cpu_seconds()
    written = 0
    with open(args.output, "wb") as output:
        for chunk in export_stream(
            args.format,
            counted(
                log_pages(
                    client_of,
                    rules,
                    request,
                    facts,
                    shape=args.format,
                    page_size=args.page_size,
                )
            ),
            describe_objects(client_of, rules, facts, request.known_at),
        ):
            output.write(chunk)
            written += len(chunk)
    seconds, cpu = time.perf_counter() - started, own_cpu_seconds() - cpu_started
    print(f"data: {spans:,} spans, {rows:,} business event rows ({args.clickhouse_url})")
    print(
        f"export {args.format} period={args.period} legal_entity={args.legal_entity}: "
        f"{events:,} events, {written:,} bytes, {len(samples)} pages of {args.page_size:,} rows"
    )
    print(
        f"wall {seconds:.1f} s ({events / seconds:,.0f} events/s); CPU {cpu:.1f} s "
        f"({events / cpu:,.0f} events per CPU-s, engine threads included)"
    )
    quarter = max(len(samples) // 4, 1)
    print(
        "RSS after pages 1, 25 %, 50 %, 75 %, last: "
        + ", ".join(f"{samples[i]:.0f}" for i in (0, quarter, 2 * quarter, 3 * quarter, -1))
        + f" MiB; peak {peak_rss_mib(os.getpid()):.0f} MiB"
    )
    print(f"load average at the end: {os.getloadavg()}")
    if args.split:
        engine = 0.0
        for kind, calls in sorted(counting.calls.items(), key=lambda kv: -sum(c for _, c in kv[1])):
            spent = sum(c for _, c in calls)
            engine += spent
            print(f"  {spent:7.2f} CPU-s {len(calls):5d} calls  {kind}")
        print(f"  engine calls {engine:.2f} CPU-s; the rest (Python, SQLite) {cpu - engine:.2f}")


if __name__ == "__main__":
    main()
