"""Engine CPU per span of one insert, by what the insert feeds.

The same benchmark spans (built as ``benchmarks/ingest.py`` builds its requests) are inserted, in
rounds, into fresh databases of one embedded engine: the raw span table alone, with the trace-id
view, with every materialized view on it (the business tables too) as the service inserts them,
and as served with every inserted part fsynced (``warehouse.durable_parts``, since issue 15). Reports the median process CPU time and the
median wall time per span of each, and the engine's file fsyncs per insert. Run:
``.venv/bin/python benchmarks/insert_cost.py [--rows 16000] [--rounds 6] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.decode import build_request
from benchmarks.process_stats import own_cpu_seconds
from collector.limits import DecodeLimits
from collector.native_decode import decode_protobuf_request
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.durable_parts import fsync_inserted_parts
from warehouse.migrations import migrate
from warehouse.span_batch import SpanBatch, join_batches
from warehouse.span_store import EmbeddedSpanSink

TRACE_ID_VIEW = "otel_traces_trace_id_ts_mv"
VARIANTS: dict[str, Callable[[str], bool]] = {
    "raw table": lambda view: True,
    "+ trace-id view": lambda view: view != TRACE_ID_VIEW,
    "+ every view (as served)": lambda view: False,
}
"""Each variant, and which of a fully migrated database's materialized views it drops."""

FSYNCED = "+ every view, parts fsynced (as served since issue 15)"
FILE_SYNCS = "SELECT sum(value) FROM system.events WHERE event = 'FileSync'"
VIEWS = (
    "SELECT name FROM system.tables WHERE database = currentDatabase() "
    "AND engine = 'MaterializedView'"
)


def spans(rows: int) -> SpanBatch:
    request = build_request(1000).SerializeToString()
    one = decode_protobuf_request(request, DecodeLimits()).spans
    return join_batches([one] * max(1, rows // one.row_count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=16_000, help="spans per insert")
    parser.add_argument("--rounds", type=int, default=6, help="inserts per variant")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()

    batch = spans(arguments.rows)
    directory = Path(tempfile.mkdtemp(prefix="syncsight-insert-cost-"))
    try:
        url = f"chdb://{directory / 'data'}"
        sinks = {}
        variants = {**VARIANTS, FSYNCED: VARIANTS["+ every view (as served)"]}
        for number, (variant, dropped) in enumerate(variants.items()):
            database = f"variant_{number}"
            connect(url).command(f"CREATE DATABASE IF NOT EXISTS {database}")
            client = connect(url, database=database)
            migrate(client, CorrelationRules.default())
            for (view,) in client.query(VIEWS).result_rows:
                if dropped(view):
                    client.command(f"DROP VIEW IF EXISTS {view}")
            if variant == FSYNCED:
                fsync_inserted_parts(client)
            sinks[variant] = EmbeddedSpanSink(client, directory / "scratch")
        costs: dict[str, list[float]] = {variant: [] for variant in sinks}
        walls: dict[str, list[float]] = {variant: [] for variant in sinks}
        syncs: dict[str, list[int]] = {variant: [] for variant in sinks}
        for _ in range(arguments.rounds):  # variants alternate, so drift hits them alike
            for variant, sink in sinks.items():
                syncs_before = int(client.query(FILE_SYNCS).result_rows[0][0])
                started, wall_started = own_cpu_seconds(), time.perf_counter()
                sink.write(batch)
                walls[variant].append((time.perf_counter() - wall_started) / batch.row_count * 1e6)
                costs[variant].append((own_cpu_seconds() - started) / batch.row_count * 1e6)
                syncs[variant].append(
                    int(client.query(FILE_SYNCS).result_rows[0][0]) - syncs_before
                )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    figures = {
        "rows_per_insert": batch.row_count,
        "rounds": arguments.rounds,
        "cpu_us_per_span": {
            variant: round(statistics.median(values[1:] or values), 2)
            for variant, values in costs.items()
        },
        "wall_us_per_span": {
            variant: round(statistics.median(values[1:] or values), 2)
            for variant, values in walls.items()
        },
        "file_fsyncs_per_insert": {variant: max(values) for variant, values in syncs.items()},
    }
    print(json.dumps(figures, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
