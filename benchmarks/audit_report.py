"""The completeness-and-accuracy report's cost: one report (one period, one legal entity) built
in-process on a loaded quarter with ``lineage.audit_report.build_report``, the query the API runs,
timed per run; plus the rendering of its CSV and PDF.

It only reads (no migration): open a quarter's data directory no other process has open (the
embedded engine allows one process per data directory).

Run: ``.venv/bin/python benchmarks/audit_report.py --clickhouse-url chdb:///tmp/medium/data
--period 2026-09 --legal-entity LE-US01 [--runs 3]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lineage.audit_formats import report_csv, report_pdf
from lineage.audit_report import ReportRequest, build_report
from lineage.rules import LineageRules
from slas.calendars import CalendarBook
from warehouse.client import connect


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clickhouse-url", required=True)
    parser.add_argument("--period", default="2026-09")
    parser.add_argument("--legal-entity", default="LE-US01")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    client = connect(args.clickhouse_url)
    spans = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    events = int(client.query("SELECT count() FROM biz_events").result_rows[0][0])
    deadline = CalendarBook().for_entity(args.legal_entity).close_deadline(args.period)
    request = ReportRequest(args.period, args.legal_entity, datetime.now(UTC), deadline)
    rules = LineageRules.default()
    seconds, cpu = [], []
    body = {}
    for _ in range(args.runs):
        started, cpu_started = time.perf_counter(), _cpu()
        body = build_report(client, rules, request)
        seconds.append(time.perf_counter() - started)
        cpu.append(_cpu() - cpu_started)
    document = {**body, "root_hash": "", "signature": {}, "ledger_heads": [], "generated_at": ""}
    started = time.perf_counter()
    csv_bytes = len(report_csv(document).encode())
    csv_seconds = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), _cpu()
    pdf_bytes = len(report_pdf(document))
    pdf_seconds, pdf_cpu = time.perf_counter() - started, _cpu() - cpu_started
    items = sum(i["items"] for i in body["interfaces"])
    print(f"data: {spans:,} spans, {events:,} business event rows ({args.clickhouse_url})")
    print(
        f"report {args.legal_entity} {args.period}: {len(body['interfaces'])} interfaces, "
        f"{items:,} items, {len(body['differences']):,} differences listed"
    )
    print(
        f"build_report: runs {', '.join(f'{s:.2f}' for s in seconds)} s; "
        f"median {statistics.median(seconds):.2f} s; CPU (all engine threads) "
        f"{', '.join(f'{s:.2f}' for s in cpu)} s"
    )
    print(
        f"csv: {csv_bytes:,} bytes in {csv_seconds:.2f} s; pdf: {pdf_bytes:,} bytes in "
        f"{pdf_seconds:.2f} s ({pdf_cpu:.2f} s CPU)"
    )
    print(f"load average during the run: {os.getloadavg()}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
