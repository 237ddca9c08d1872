"""Lineage latency while the service ingests and its SLA evaluator runs (issue 14: "lineage p95
while ingesting 20,000 spans/s with the evaluator running ≤ 50 ms").

Starts ``syncsight serve`` on a loaded data directory (a copy: the embedded engine opens a
directory once; no other process may hold it), waits until its evaluator has ended a tick and
trails by less than two intervals (a copy made current under another configuration is derived
again first), then for ``--seconds`` sends new business data at ``--rate`` spans/s with the soak's
pre-encoded senders (``benchmarks/paced_requests.py``) while one client asks ``GET
/api/v1/lineage/invoice/{id}`` for invoices of the loaded quarter, one request after the other.
Every 10 s it samples the evaluator's lag (``syncsight_evaluator_lag_seconds``). Reports lineage
p50 / p95 / p99 over HTTP during the ingest, the same before it (the service at rest), the spans
acknowledged per second, the service's CPU, the largest evaluator lag, and the evaluator's
ticks that ended meanwhile with their mean wall (the whole tick, alerts included). Run:
``.venv/bin/python benchmarks/lineage_under_ingest.py --data /tmp/copy --truth truth.json
[--rate 20000] [--seconds 120] [--service-env K=V]`` where ``/tmp/copy/data`` is the engine's directory.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.lineage import percentiles
from benchmarks.process_stats import cpu_seconds
from benchmarks.service_env import add_service_env, service_env
from benchmarks.soak import (
    Counts,
    Senders,
    by_label,
    metric_samples,
    metric_totals,
    totals_by_name,
)
from tests.service import start_service, stop_service

SAMPLE_SECONDS = 10.0
AT_REST_REQUESTS = 100
CURRENT_LAG_SECONDS = 30.0
"""The lag (two of the service's default 15-s intervals) below which, after a tick of its own,
the evaluator counts as caught up."""
CATCH_UP_SECONDS = 1800.0


def invoice_ids(truth: Path, count: int, seed: int) -> list[str]:
    """Posted invoices of the simulator's truth file, a seeded sample."""
    known = json.loads(truth.read_text())["invoices"]
    invoices = sorted(invoice["invoice"] for invoice in known if invoice["status"] == "posted")
    return random.Random(seed).sample(invoices, min(count, len(invoices)))


def time_lineage(http: httpx.Client, invoice: str) -> float:
    started = time.perf_counter()
    http.get(f"/api/v1/lineage/invoice/{invoice}").raise_for_status()
    return time.perf_counter() - started


def wait_until_current(base_url: str, limit: float = CATCH_UP_SECONDS) -> float:
    """Wait until the service's evaluator has ended a tick and trails by less than
    ``CURRENT_LAG_SECONDS`` (a copy made current under another configuration is derived again
    from scratch first: minutes at 10M, during which the lineage would be measured beside it),
    then until it has ended one tick more: the first tick that writes nothing after start-up
    reads every open timer's next instant and merges the close-risk tables
    (``warehouse.compaction``), seconds at 10M that are start-up's, not the ingest's. The
    seconds waited. Progress every 30 s."""
    started = time.monotonic()
    said = started
    current_at: float | None = None
    while True:
        samples = metric_samples(base_url)
        ticks = by_label(samples, "syncsight_evaluator_ticks_total", "outcome").get("ok", 0.0)
        lag = totals_by_name(samples).get("syncsight_evaluator_lag_seconds", 0.0)
        waited = time.monotonic() - started
        if current_at is None and ticks >= 1 and lag < CURRENT_LAG_SECONDS:
            current_at = ticks
        if current_at is not None and ticks > current_at:
            return waited
        if waited > limit:
            raise RuntimeError(f"the evaluator is not current after {waited:.0f} s (lag {lag} s)")
        if time.monotonic() - said >= 30:
            print(f"waiting for the evaluator: {ticks:.0f} tick(s) ended, lag {lag:.0f} s")
            said = time.monotonic()
        time.sleep(1.0)


def measure(
    data_dir: Path,
    invoices: list[str],
    rate: float,
    seconds: float,
    senders: Senders,
    environment: dict[str, str],
) -> dict[str, Any]:
    service = start_service(data_dir, env=environment, timeout=600)
    try:
        with httpx.Client(base_url=service.base_url, timeout=120) as http:
            # the start-up work (the evaluator catching up, the blocked-invoice warm-up) ends
            # first: these answers wait for it
            http.get("/api/v1/slas").raise_for_status()
            http.get("/api/v1/impact/blocked-invoices").raise_for_status()
            print(f"evaluator current after {wait_until_current(service.base_url):.0f} s")
            at_rest = [
                time_lineage(http, invoices[i % len(invoices)]) for i in range(AT_REST_REQUESTS)
            ]
            counts = Counts.new()
            processes = [
                senders.process(f"{service.base_url}/v1/traces", rate, seconds, seed, counts)
                for seed in range(1, senders.count + 1)
            ]
            cpu_before = cpu_seconds(service.process.pid)
            ticks_before = evaluator_ticks(metric_totals(service.base_url))
            started = time.monotonic()
            for process in processes:
                process.start()
            timings, lags, next_sample, asked = [], [], started + SAMPLE_SECONDS, 0
            while any(process.is_alive() for process in processes):
                timings.append(time_lineage(http, invoices[asked % len(invoices)]))
                asked += 1
                if time.monotonic() >= next_sample:
                    next_sample = time.monotonic() + SAMPLE_SECONDS
                    lag = metric_totals(service.base_url).get("syncsight_evaluator_lag_seconds")
                    lags.append(lag)
                    print(
                        f"{time.monotonic() - started:6.0f} s  acknowledged "
                        f"{counts.exported.value:>10,}  lineage requests {len(timings):>6,}  "
                        f"evaluator lag {lag} s",
                        flush=True,
                    )
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(service.process.pid) - cpu_before
            ticks_after = evaluator_ticks(metric_totals(service.base_url))
    finally:
        stop_service(service)
    return {
        "rate_asked": rate,
        "seconds": round(elapsed, 1),
        "spans_acknowledged": counts.exported.value,
        "spans_failed": counts.failed.value,
        "acknowledged_per_second": round(counts.exported.value / elapsed),
        "service_cores": round(cpu / elapsed, 2),
        "lineage_during_ingest": percentiles(timings),
        "lineage_at_rest": percentiles(at_rest),
        "evaluator_lag_max_seconds": max((lag for lag in lags if lag is not None), default=None),
        **tick_figures(ticks_before, ticks_after),
    }


def evaluator_ticks(totals: dict[str, float]) -> tuple[float, float]:
    """The evaluator's ticks ended so far and their wall seconds in all (the whole tick: state,
    alerts, notifications; ``syncsight_evaluator_tick_seconds``), from ``/metrics``'s totals."""
    return (
        totals.get("syncsight_evaluator_tick_seconds_count", 0.0),
        totals.get("syncsight_evaluator_tick_seconds_sum", 0.0),
    )


def tick_figures(before: tuple[float, float], after: tuple[float, float]) -> dict[str, Any]:
    """The ticks that ended while the senders ran: how many, and their mean wall."""
    ticks, seconds = after[0] - before[0], after[1] - before[1]
    return {
        "evaluator_ticks": int(ticks),
        "evaluator_tick_mean_seconds": round(seconds / ticks, 2) if ticks else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="DIR whose DIR/data is the engine")
    parser.add_argument("--truth", type=Path, required=True, help="the quarter's truth file")
    parser.add_argument("--rate", type=float, default=20_000.0, help="spans per second, in all")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--senders", type=int, default=4, help="sender processes")
    parser.add_argument("--connections", type=int, default=4, help="connections per sender")
    parser.add_argument("--invoices", type=int, default=300, help="invoices asked in turn")
    parser.add_argument("--seed", type=int, default=7)
    add_service_env(parser, "SYNCSIGHT_PYTHON_HEAP_FREEZE_INTERVAL=0")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    senders = Senders(
        mode="requests",
        count=args.senders,
        engagement_size=1000,
        queue_size=0,
        spans_per_request=1000,
        templates=8,
        connections=args.connections,
    )
    invoices = invoice_ids(args.truth, args.invoices, args.seed)
    environment = service_env(args.service_env)
    result = measure(args.data, invoices, args.rate, args.seconds, senders, environment)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
