"""The completeness-and-accuracy report's cost: one report (one period, one legal entity) built
in-process on a loaded quarter with ``lineage.audit_report.build_report``, the query the API runs,
timed per run; plus the rendering of its CSV and PDF.

The report reads each event's legal entity and period from the business state: on a copy whose
state was never derived (or was derived before ``event_dimensions`` existed), ``--derive-state``
brings it up to date first (a derivation from scratch, timed). ``--known-at`` defaults to the
state's watermark. ``--steps`` times the query's parts: every common table expression counted on
its own (each with what it reads from), so the differences say which read costs what.
``--write FILE`` keeps the report body without its quoted query, to compare two codes' answers
(run a copy of this script inside another checkout: its own modules come first on the path).
``--grow-history N`` first adds N earlier years of history to the copy: every business row (and
every event's stored dimensions) again 1 to N years earlier under other event and object ids, so
that the period asked holds the same events but the tables N + 1 times as many (once per copy).

It migrates nothing: open a migrated copy no other process has open (the embedded engine allows
one process per data directory).

Run: ``.venv/bin/python benchmarks/audit_report.py --clickhouse-url chdb:///tmp/medium/data
--period 2026-09 --legal-entity LE-US01 [--runs 3] [--derive-state] [--steps] [--write FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lineage import audit_report
from lineage.audit_formats import report_csv, report_pdf
from lineage.audit_report import ReportRequest, build_report
from lineage.rules import LineageRules
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from warehouse.client import connect


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def derive_state(client: Any) -> None:
    """Tick the business state until it is current (from scratch when its configuration, or the
    tables it writes, changed)."""
    state = BusinessState(lambda: client, DEFAULT_SLAS, CalendarBook(), settle=timedelta(0))
    started, cpu_started = time.perf_counter(), _cpu()
    report = state.tick(datetime.now(UTC))
    print(
        f"business state: {report.events:,} events derived, {report.versions:,} versions written "
        f"in {time.perf_counter() - started:.1f} s ({_cpu() - cpu_started:.1f} s CPU)"
    )


GROW_EVENTS = """
INSERT INTO biz_events SELECT * REPLACE (
    concat('Y', toString({years:UInt8}), '-', EventId) AS EventId,
    EventTime - toIntervalYear({years:UInt8}) AS EventTime,
    if(Period = '', '', concat(toString(toUInt16(substring(Period, 1, 4)) - {years:UInt8}),
                               substring(Period, 5))) AS Period,
    arrayMap(r -> if(r.type IN ('legal_entity', 'customer'), (r.type, r.id),
                     (r.type, concat('Y', toString({years:UInt8}), '-', r.id))), ObjectRefs)
        AS ObjectRefs,
    IngestedAt - toIntervalYear({years:UInt8}) AS IngestedAt)
FROM (SELECT * FROM biz_events WHERE NOT startsWith(EventId, 'Y'))
"""
"""Every business row again ``years`` earlier, under other event and object ids (the dimensions
stay: the same legal entities and customers); the object rows follow through the view."""

GROW_DIMENSIONS = """
INSERT INTO event_dimensions (EventId, KnownAt, LegalEntity, Period)
SELECT concat('Y', toString({years:UInt8}), '-', EventId), KnownAt - toIntervalYear({years:UInt8}),
    LegalEntity,
    concat(toString(toUInt16(substring(Period, 1, 4)) - {years:UInt8}), substring(Period, 5))
FROM event_dimensions WHERE NOT startsWith(EventId, 'Y')
"""


def grow_history(client: Any, years: int) -> None:
    """``years`` earlier years of history (once per copy: skipped when there are some)."""
    grown = client.query("SELECT count() FROM biz_events WHERE startsWith(EventId, 'Y')")
    if grown.result_rows[0][0]:
        print("history already grown")
        return
    has_dimensions = client.query(
        "SELECT count() FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'event_dimensions'"
    ).result_rows[0][0]
    for year in range(1, years + 1):
        client.command(GROW_EVENTS, parameters={"years": year})
        if has_dimensions:
            client.command(GROW_DIMENSIONS, parameters={"years": year})
    client.command("OPTIMIZE TABLE biz_events FINAL")
    client.command("OPTIMIZE TABLE biz_event_objects FINAL")
    rows = client.query("SELECT count() FROM biz_events").result_rows[0][0]
    print(f"history grown by {years} year(s): {rows:,} business event rows")


def query_steps(client: Any, sql: str, parameters: dict[str, Any]) -> None:
    """Each common table expression of ``sql`` counted on its own (with what it reads from)."""
    head, _, _ = sql.rpartition("\nchecked AS (")
    names = re.findall(r"^(\w+) AS (?:MATERIALIZED )?\($", head, flags=re.MULTILINE)
    for name in names:
        started, cpu_started = time.perf_counter(), _cpu()
        rows = client.query(f"{head.rstrip().rstrip(',')}\nSELECT count() FROM {name}", parameters)
        print(
            f"  step {name}: {rows.result_rows[0][0]:,} rows, "
            f"{time.perf_counter() - started:.2f} s, {_cpu() - cpu_started:.2f} s CPU"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clickhouse-url", required=True)
    parser.add_argument("--period", default="2026-09")
    parser.add_argument("--legal-entity", default="LE-US01")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--known-at", help="ISO 8601 instant; default: the state's watermark")
    parser.add_argument("--derive-state", action="store_true")
    parser.add_argument("--steps", action="store_true")
    parser.add_argument("--write", type=Path)
    parser.add_argument("--grow-history", type=int, default=0, metavar="YEARS")
    args = parser.parse_args()
    client = connect(args.clickhouse_url)
    spans = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    events = int(client.query("SELECT count() FROM biz_events").result_rows[0][0])
    print(f"data: {spans:,} spans, {events:,} business event rows ({args.clickhouse_url})")
    print(f"load average before: {os.getloadavg()}")
    if args.derive_state:
        derive_state(client)
    if args.grow_history:
        grow_history(client, args.grow_history)
    state = BusinessState(lambda: client, DEFAULT_SLAS, CalendarBook())
    known_at = (
        datetime.fromisoformat(args.known_at.replace("Z", "+00:00"))
        if args.known_at
        else state.watermark()
    )
    print(f"known_at: {known_at.isoformat()} (the state's watermark: {state.watermark()})")
    deadline = CalendarBook().for_entity(args.legal_entity).close_deadline(args.period)
    request = ReportRequest(args.period, args.legal_entity, known_at, deadline)
    rules = LineageRules.default()
    seconds, cpu = [], []
    body: dict[str, Any] = {}
    for _ in range(args.runs):
        started, cpu_started = time.perf_counter(), _cpu()
        body = build_report(client, rules, request)
        seconds.append(time.perf_counter() - started)
        cpu.append(_cpu() - cpu_started)
    items = sum(i["items"] for i in body["interfaces"])
    print(
        f"report {args.legal_entity} {args.period}: {len(body['interfaces'])} interfaces, "
        f"{items:,} items, {len(body['differences']):,} differences listed"
    )
    print(
        f"build_report: runs {', '.join(f'{s:.2f}' for s in seconds)} s; "
        f"median {statistics.median(seconds):.2f} s; CPU (all engine threads) "
        f"{', '.join(f'{s:.2f}' for s in cpu)} s"
    )
    print(f"load average after the runs: {os.getloadavg()}")
    if args.steps:
        parameters = audit_report.query_parameters(rules, request)
        # the code before event_dimensions kept this function private
        names = vars(audit_report)
        engine = names.get("engine_parameters") or names["_engine_parameters"]
        query_steps(client, body["query"]["sql"], engine(parameters))
    if args.write:
        kept = {key: value for key, value in body.items() if key != "query"}
        args.write.write_text(json.dumps(kept, sort_keys=True, indent=1), encoding="utf-8")
        print(f"report body (without its query) written to {args.write}")
    document = {**body, "root_hash": "", "signature": {}, "ledger_heads": [], "generated_at": ""}
    started = time.perf_counter()
    csv_bytes = len(report_csv(document).encode())
    csv_seconds = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), _cpu()
    pdf_bytes = len(report_pdf(document))
    pdf_seconds, pdf_cpu = time.perf_counter() - started, _cpu() - cpu_started
    print(
        f"csv: {csv_bytes:,} bytes in {csv_seconds:.2f} s; pdf: {pdf_bytes:,} bytes in "
        f"{pdf_seconds:.2f} s ({pdf_cpu:.2f} s CPU)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
