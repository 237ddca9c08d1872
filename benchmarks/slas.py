"""Full SLA evaluation over a loaded quarter: every timer of every default SLA in business time,
and the close risk of each period, as the API and the evaluator compute them.

Opens the data directory (or ClickHouse URL) itself: no service may hold an embedded directory
meanwhile. Each repetition reads the snapshot from ClickHouse again (no cache). Reports the
phases (snapshot read, correlation, business time, close risk), wall and process CPU time, and
with ``--truth`` checks the outcome counts against the simulator's ground truth.
Run: ``.venv/bin/python benchmarks/slas.py --clickhouse-url chdb:///abs/path/data
[--truth truth.json] [--as-of 2026-10-30T17:00:00Z] [--repeat 5] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slas.close_items import close_items
from slas.close_risk import assess
from slas.definitions import DEFAULT_SLAS
from slas.queries import load_snapshot
from slas.timer_pairing import correlate
from slas.timers import STATES, evaluate_timers, summarize
from tests.firm import firm_calendar_book
from warehouse.client import connect

LATEST_EVENT = "SELECT max(EventTime) FROM biz_events"
TRUTH_STATE = {"met": "met", "breached": "breached", "at_risk": "open", "on_track": "open"}


def evaluate_once(client: Any, as_of: datetime, periods: list[str]) -> dict[str, Any]:
    """One full evaluation, timed by phase."""
    calendars = firm_calendar_book()
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    snapshot = load_snapshot(client, as_of)
    read = time.perf_counter()
    timers = {d.name: correlate(snapshot, d) for d in DEFAULT_SLAS}
    correlated = time.perf_counter()
    evaluated = {d.name: evaluate_timers(timers[d.name], d, calendars, as_of) for d in DEFAULT_SLAS}
    summaries = {d.name: summarize(d, evaluated[d.name]) for d in DEFAULT_SLAS}
    timed = time.perf_counter()
    items = close_items(snapshot)
    risks = {
        period: assess(
            items, snapshot.legal_entities, snapshot.currencies, calendars, period, as_of
        )
        for period in periods
    }
    done = time.perf_counter()
    return {
        "seconds": done - started_wall,
        "cpu_seconds": time.process_time() - started_cpu,
        "snapshot_seconds": read - started_wall,
        "correlation_seconds": correlated - read,
        "business_time_seconds": timed - correlated,
        "close_risk_seconds": done - timed,
        "events": len(snapshot.event),
        "references": len(snapshot.ref_row),
        "timers": sum(len(t) for t in timers.values()),
        "counts": {name: summary.counts for name, summary in summaries.items()},
        "close_items": len(items),
        "at_risk": {
            period: {r.legal_entity: r.amount_at_risk for r in found}
            for period, found in risks.items()
        },
    }


def check_truth(result: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    """Differences between the outcome counts and the truth's (empty when they reconcile)."""
    problems = []
    for sla, expected in truth["summary"]["sla_timers"].items():
        got = {"met": 0, "breached": 0, "open": 0}
        for state in STATES:
            got[TRUTH_STATE[state]] += result["counts"][sla][state]
        if got != expected:
            problems.append(f"{sla}: {got} != truth {expected}")
    for record in truth["close"]:
        if not record["closed_by_end"]:
            continue
        found = result["at_risk"][record["period"]].get(record["legal_entity"], {})
        amount = round(sum(found.values()), 2)
        if abs(amount - record["amount_not_posted_before_close"]) > 0.01:
            problems.append(
                f"{record['legal_entity']} {record['period']}: {amount} != truth "
                f"{record['amount_not_posted_before_close']}"
            )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/path/data or http://…")
    parser.add_argument("--truth", type=Path, help="the simulator's truth file, to reconcile")
    parser.add_argument("--as-of", help="evaluate at this instant (default: the latest event)")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions after a warm-up")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()

    client = connect(arguments.clickhouse_url)
    truth = json.loads(arguments.truth.read_text(encoding="utf-8")) if arguments.truth else None
    if arguments.as_of:
        as_of = datetime.fromisoformat(arguments.as_of.replace("Z", "+00:00"))
    elif truth:
        as_of = datetime.fromisoformat(truth["scenario"]["end"].replace("Z", "+00:00"))
    else:
        as_of = client.query(LATEST_EVENT).result_rows[0][0].replace(tzinfo=UTC)
    periods = sorted({r["period"] for r in truth["close"]}) if truth else [as_of.strftime("%Y-%m")]
    spans = client.query("SELECT count() FROM otel_traces").result_rows[0][0]
    print(f"{spans:,} spans, evaluating as of {as_of.isoformat()}", flush=True)

    evaluate_once(client, as_of, periods)  # warm-up: page cache, holidays, calendar clocks
    runs = []
    for number in range(arguments.repeat):
        run = evaluate_once(client, as_of, periods)
        runs.append(run)
        print(
            f"  run {number + 1}: {run['seconds']:.2f} s (cpu {run['cpu_seconds']:.2f} s; "
            f"snapshot {run['snapshot_seconds']:.2f}, correlation {run['correlation_seconds']:.2f}, "
            f"business time {run['business_time_seconds']:.2f}, "
            f"close risk {run['close_risk_seconds']:.2f})",
            flush=True,
        )
    last = runs[-1]
    figures = {
        "spans": spans,
        "as_of": as_of.isoformat(),
        "events": last["events"],
        "references": last["references"],
        "timers": last["timers"],
        "close_items": last["close_items"],
        "seconds_min": min(r["seconds"] for r in runs),
        "seconds_median": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds_median": statistics.median(r["cpu_seconds"] for r in runs),
        "phases_median": {
            phase: statistics.median(r[f"{phase}_seconds"] for r in runs)
            for phase in ("snapshot", "correlation", "business_time", "close_risk")
        },
        "counts": last["counts"],
    }
    if truth is not None:
        problems = check_truth(last, truth)
        figures["reconciles_with_truth"] = not problems
        for problem in problems:
            print(f"  MISMATCH {problem}")
    print(json.dumps(figures, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
