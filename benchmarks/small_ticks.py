"""What a tick costs however little it reads: the simulator's tiny quarter (seed 11, about 4,300
spans) streamed into a new engine ``--chunk`` spans per insert, a tick of the business state after
each, every statement timed through ``benchmarks/tick_profile.py``'s ``CountingClient``. Prints the
CPU per tick, the statements per tick and the costliest statements over all ticks: a small tick's
cost is mostly the engine parsing, analysing and planning large statements (benchmarks/history/
business-state-tick.md, "Tenth pass: a tick's fixed cost").

Opens ``--data`` itself (a new directory: the run starts empty). Run:
``.venv/bin/python benchmarks/small_ticks.py --data /tmp/small-ticks [--chunk 60] [--top 12]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import own_cpu_seconds
from benchmarks.tick_profile import new_counted_engine
from syncsight.bulk_load import WarehouseSpanExporter
from tests.slas.tiny_quarter import tiny_quarter_spans
from warehouse.span_store import span_sink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="a new directory for the engine")
    parser.add_argument("--chunk", type=int, default=60, help="spans per insert")
    parser.add_argument("--top", type=int, default=12, help="statements listed")
    arguments = parser.parse_args()
    url, client, counting, state = new_counted_engine(parser, arguments.data)
    spans = tiny_quarter_spans()
    loader = WarehouseSpanExporter(span_sink(client, url))
    ticks, cpu = 0, 0.0
    for first in range(0, len(spans), arguments.chunk):
        loader.export(spans[first : first + arguments.chunk])
        loader.force_flush()
        time.sleep(0.002)  # every row stored so far is older than the watermark
        before = own_cpu_seconds()
        state.tick(datetime.now(UTC))
        cpu += own_cpu_seconds() - before
        ticks += 1
        print(f"\r{ticks} ticks", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    by_kind = Counter(
        {kind: sum(c for _, c in samples) for kind, samples in counting.calls.items()}
    )
    statements = sum(len(samples) for samples in counting.calls.values())
    print(
        f"{len(spans)} spans, {ticks} ticks of {arguments.chunk}: {cpu:.1f} CPU-s, "
        f"{cpu / ticks:.3f} per tick; {statements / ticks:.1f} statements a tick, "
        f"{sum(by_kind.values()) / ticks:.3f} CPU-s of them"
    )
    for kind, seconds in by_kind.most_common(arguments.top):
        print(f"  {seconds:7.2f} CPU-s {len(counting.calls[kind]):5d}x  {kind}")


if __name__ == "__main__":
    main()
