"""A derivation of the business state from scratch (issue 14: "full rebuild of the state tables
≤ 60 s at 10M", "evaluator peak memory flat from 1M to 10M"): the state brought current first
(untimed unless it is behind), then ``BusinessState.reset`` and ticks until current, timed: wall,
CPU seconds of the process, its peak RSS over the rebuild alone (VmHWM cleared before it),
versions written, events read and chunks. ``--emptied`` truncates the state tables first (a first
derivation, which reads no stored version; the tick then also records every version it wrote).

Opens the data directory (or ClickHouse URL) itself: no service may hold an embedded directory
meanwhile. Run: ``.venv/bin/python benchmarks/rebuild_state.py --clickhouse-url chdb:///abs/path/data
[--emptied] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import own_cpu_seconds, peak_rss_mib, reset_peak_rss
from slas.business_state import STATE_TABLES, BusinessState, TickReport
from slas.definitions import DEFAULT_SLAS
from tests.firm import firm_calendar_book
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.pool import ClientPool
from warehouse.schema import STATE_CHUNKS


def until_current(state: BusinessState) -> dict[str, Any]:
    """Tick until a tick is not cut short; wall, CPU, versions, events, ticks."""
    wall, cpu = time.perf_counter(), own_cpu_seconds()
    versions = events = ticks = 0
    report: TickReport | None = None
    while report is None or report.capped:
        time.sleep(0.01)
        report = state.tick(datetime.now(UTC))
        versions += report.versions
        events += report.events
        ticks += 1
    return {
        "seconds": round(time.perf_counter() - wall, 2),
        "cpu_seconds": round(own_cpu_seconds() - cpu, 2),
        "versions": versions,
        "events": events,
        "ticks": ticks,
        "path": report.path,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clickhouse-url", required=True)
    parser.add_argument(
        "--emptied",
        action="store_true",
        help="truncate the state tables before the rebuild (a first derivation: on a copy only)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()

    # as the service does: every thread its own client (the tick's, and the reader thread's that
    # reads the next chunk ahead)
    pool = ClientPool(arguments.clickhouse_url)
    client = pool.client()
    migrate(client, CorrelationRules.default())
    spans = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    print(f"{spans:,} spans, load {os.getloadavg()}", flush=True)
    state = BusinessState(pool.client, DEFAULT_SLAS, firm_calendar_book(), settle=timedelta(0))
    figures: dict[str, Any] = {"spans": spans, "load_before": os.getloadavg()}
    figures["catch_up"] = until_current(state)
    print(f"brought current: {figures['catch_up']}", flush=True)

    if arguments.emptied:
        for table in STATE_TABLES:
            client.command(f"TRUNCATE TABLE {table}")
    reset_peak_rss(os.getpid())
    state.reset(datetime.now(UTC))
    rebuild = until_current(state)
    rebuild["peak_rss_mib"] = round(peak_rss_mib(os.getpid()))
    rebuild["chunks"] = int(
        client.query(f"SELECT uniqExact(Chunk) FROM {STATE_CHUNKS}").result_rows[0][0]
    )
    figures["rebuild"] = rebuild
    figures["load_after"] = os.getloadavg()
    print(f"from scratch: {rebuild}, load {os.getloadavg()}", flush=True)
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    pool.close()


if __name__ == "__main__":
    main()
