"""One rebuild of the business tables (``warehouse.rebuild``, what ``syncsight rebuild`` and
``POST /api/v1/admin/rebuild`` run), in process: wall, CPU seconds of the process, its peak RSS,
each statement's wall time, and whether every event and object row kept its knowledge time
(count and an order-free sum of each row's identity and ``IngestedAt`` over the FINAL rows,
before and after).

Run it on a copy (the rebuild rewrites the business tables; no service may hold an embedded
directory meanwhile): ``.venv/bin/python benchmarks/business_rebuild.py --clickhouse-url
chdb:///abs/path/data [--raw-days N] [--json FILE]``. ``--raw-days`` is the raw retention (0, the
default: everything is derived again; else the events before its horizon are kept as stored).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import own_cpu_seconds, peak_rss_mib, reset_peak_rss
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.rebuild import rebuild

KNOWLEDGE_SUMS = {
    "events": "SELECT count(), sum(cityHash64(EventId, TraceId, SpanId, ContentHash, IngestedAt)) "
    "FROM biz_events FINAL",
    "objects": "SELECT count(), "
    "sum(cityHash64(ObjectType, ObjectId, EventId, TraceId, SpanId, IngestedAt)) "
    "FROM biz_event_objects FINAL",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clickhouse-url", required=True)
    parser.add_argument("--raw-days", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    client = connect(args.clickhouse_url)
    rules = CorrelationRules.default()
    migrate(client, rules)
    statements: list[tuple[float, str]] = []
    command = client.command

    def timed(sql: str, *rest: Any, **options: Any) -> Any:
        started = time.monotonic()
        try:
            return command(sql, *rest, **options)
        finally:
            statements.append((time.monotonic() - started, " ".join(sql.split())[:90]))

    client.command = timed  # type: ignore[method-assign]

    def sums() -> dict[str, list[int]]:
        return {
            name: list(client.query(sql).result_rows[0]) for name, sql in KNOWLEDGE_SUMS.items()
        }

    before = sums()
    reset_peak_rss(os.getpid())
    started, cpu = time.monotonic(), own_cpu_seconds()
    report = rebuild(client, rules, raw_days=args.raw_days)
    result = {
        "wall_s": round(time.monotonic() - started, 1),
        "cpu_s": round(own_cpu_seconds() - cpu, 1),
        "peak_rss_mib": round(peak_rss_mib(os.getpid())),
        "spans": report.spans,
        "events": report.events,
        "references": report.references,
        "new_knowledge": report.new_knowledge,
        "kept_before": report.kept_before.isoformat() if report.kept_before else None,
        "knowledge_kept": sums() == before,
        "statements": [[round(s, 2), text] for s, text in statements if s >= 0.5],
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
