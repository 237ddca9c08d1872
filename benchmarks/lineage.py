"""Upstream lineage latency: syncsight's API against the same lineage hand-written over raw spans.

Takes an already-loaded data directory (or ClickHouse URL), picks invoice ids (from a truth file or
sampled from the warehouse), then in one run:

1. hand-written: what a user without syncsight writes, one ``SpanAttributes['biz.<object>.id'] =
   …`` lookup over ``otel_traces`` per hop (invoice → billing event → time entries / milestone /
   expenses → project → contract), timed in a separate process that opens ClickHouse itself;
2. syncsight: ``GET /api/v1/lineage/invoice/{id}`` against ``syncsight serve`` started on the same
   data (or a running service given by ``--api-url``), timed per request end to end over HTTP.

Reports p50 / p95 / p99 of both, the ratio, and how many lineages found the same source events.
Run (small quarter loaded as tests/quarter.py does, or by ``syncsight simulate --direct``):
``.venv/bin/python benchmarks/lineage.py --clickhouse-url chdb:///abs/path/data [--truth truth.json]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import wait_until_idle
from domain import semconv as sc
from tests.service import start_service, stop_service
from warehouse.client import chdb_data_path, connect

_HOP = """
SELECT SpanAttributes['{id_key}'], {wanted}
FROM otel_traces
WHERE SpanAttributes['{object_key}'] {match} AND SpanAttributes['{type_key}'] = '{event_type}'
"""


def _key(object_type: str) -> str:
    return sc.object_id_key(object_type)


def _ids(value: str) -> list[str]:
    """An id attribute as the exporter stores it: a plain string or JSON array text."""
    if value.startswith("["):
        return [str(item) for item in json.loads(value)]
    return [value] if value else []


def hand_written_lineage(client: Any, invoice: str) -> set[str]:
    """Source event ids of ``invoice`` the way one would write it by hand over raw spans."""

    def hop(object_type: str, ids: list[str], event_type: str, wanted: list[str]) -> list[Any]:
        match = "IN {ids:Array(String)}" if len(ids) > 1 else "= {id:String}"
        sql = _HOP.format(
            id_key=sc.EVENT_ID,
            wanted=", ".join(f"SpanAttributes['{key}']" for key in wanted) or "1",
            object_key=_key(object_type),
            match=match,
            type_key=sc.EVENT_TYPE,
            event_type=event_type,
        )
        rows = client.query(sql, parameters={"ids": ids, "id": ids[0]}).result_rows
        return [row for row in rows if row[0]]

    sources: set[str] = set()
    invoices = hop(sc.INVOICE, [invoice], sc.INVOICE_POSTED, [_key(sc.BILLING_EVENT)])
    billing_events = sorted({i for row in invoices for i in _ids(row[1])})
    if not billing_events:
        return sources
    work_keys = [_key(sc.TIME_ENTRY), _key(sc.MILESTONE), _key(sc.EXPENSE), _key(sc.PROJECT)]
    ready = hop(sc.BILLING_EVENT, billing_events, sc.BILLING_READY, work_keys)
    projects: set[str] = set()
    for work_type, column, source_type in (
        (sc.TIME_ENTRY, 1, sc.TIME_APPROVED),
        (sc.MILESTONE, 2, sc.MILESTONE_COMPLETED),
        (sc.EXPENSE, 3, sc.EXPENSE_APPROVED),
    ):
        work_ids = sorted({i for row in ready for i in _ids(row[column])})
        if work_ids:
            approved = hop(work_type, work_ids, source_type, [])
            sources |= {row[0] for row in approved}
        projects |= {i for row in ready for i in _ids(row[4])}
    if projects:
        activated = hop(sc.PROJECT, sorted(projects), sc.PROJECT_ACTIVATED, [_key(sc.CONTRACT)])
        contracts = sorted({i for row in activated for i in _ids(row[1])})
        if contracts:
            signed = hop(sc.CONTRACT, contracts, sc.CONTRACT_SIGNED, [])
            sources |= {row[0] for row in signed}
    return sources


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    return {
        "n": len(ordered),
        "p50_ms": round(at(0.50), 2),
        "p95_ms": round(at(0.95), 2),
        "p99_ms": round(at(0.99), 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


WARM_READS = (
    "SELECT * FROM biz_events FORMAT Null",
    "SELECT * FROM biz_event_objects FORMAT Null",
    "SELECT SpanAttributes FROM otel_traces FORMAT Null",
)
"""What both sides read, read once before timing: a server keeps its tables in memory, but this
VM pages out file pages unused for a few minutes, and a cold point read waits for the disk."""


def baseline_phase(
    url: str, invoices: list[str], sample: int, *, warm: bool = True
) -> dict[str, Any]:
    """Runs in its own process (chdb allows one engine per process): spans, ids and timings."""
    client = connect(url)
    started = time.perf_counter()
    for statement in WARM_READS if warm else ():
        client.command(statement)
    warm_seconds = time.perf_counter() - started
    spans = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    if not invoices:
        rows = client.query(
            "SELECT DISTINCT ObjectId FROM biz_event_objects "
            "WHERE ObjectType = {t:String} AND EventType = {e:String} AND Outcome = 'success'",
            parameters={"t": sc.INVOICE, "e": sc.INVOICE_POSTED},
        ).result_rows
        invoices = sorted(str(row[0]) for row in rows)
    chosen = invoices[:sample]
    for invoice in chosen[:3]:  # warm caches as the API's warm-up does
        hand_written_lineage(client, invoice)
    timings, sources = [], {}
    for invoice in chosen:
        started = time.perf_counter()
        sources[invoice] = sorted(hand_written_lineage(client, invoice))
        timings.append(time.perf_counter() - started)
    client.close()
    return {
        "spans": spans,
        "invoices": invoices,
        "timings": timings,
        "sources": sources,
        "warm_seconds": warm_seconds,
    }


def run_baseline(url: str, invoices: list[str], sample: int, *, warm: bool) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(invoices, handle)
    result = subprocess.run(
        [sys.executable, __file__, "--phase", "baseline", "--clickhouse-url", url,
         "--ids-file", handle.name, "--baseline-invoices", str(sample),
         *([] if warm else ["--cold"])],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    Path(handle.name).unlink()
    parsed: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return parsed


def measure_api(base_url: str, invoices: list[str], token: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timings, sources = [], {}
    with httpx.Client(base_url=base_url, timeout=600, headers=headers) as http:
        # the service's start-up work (first SLA evaluation, blocked-invoice warm-up) ends first:
        # these answers wait for it, so that lineage is timed on a service at rest
        http.get("/api/v1/slas").raise_for_status()
        http.get("/api/v1/impact/blocked-invoices").raise_for_status()
        for invoice in invoices[:5]:
            http.get(f"/api/v1/lineage/invoice/{invoice}").raise_for_status()
        for invoice in invoices:
            started = time.perf_counter()
            response = http.get(f"/api/v1/lineage/invoice/{invoice}")
            timings.append(time.perf_counter() - started)
            response.raise_for_status()
            sources[invoice] = sorted(response.json()["source_events"])
    return {"timings": timings, "sources": sources}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/path or http(s)://…")
    parser.add_argument("--truth", type=Path, help="simulator truth file to take invoice ids from")
    parser.add_argument("--invoices", type=int, default=300, help="invoices timed through the API")
    parser.add_argument(
        "--baseline-invoices", type=int, default=50, help="invoices timed hand-written (slow)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the invoice sample")
    parser.add_argument("--api-url", help="use this running service instead of starting one")
    parser.add_argument("--token", help="API bearer token for --api-url")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="skip reading the tables once before timing (default: warm page cache)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--phase", choices=["baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.phase == "baseline":
        ids = json.loads(arguments.ids_file.read_text()) if arguments.ids_file else []
        print(
            json.dumps(
                baseline_phase(
                    arguments.clickhouse_url,
                    ids,
                    arguments.baseline_invoices,
                    warm=not arguments.cold,
                )
            )
        )
        return

    invoices: list[str] = []
    if arguments.truth:
        truth = json.loads(arguments.truth.read_text(encoding="utf-8"))
        invoices = [i["invoice"] for i in truth["invoices"] if i["status"] == "posted"]
    invoices = sorted(set(invoices))
    random.Random(arguments.seed).shuffle(invoices)
    baseline = run_baseline(
        arguments.clickhouse_url, invoices, arguments.baseline_invoices, warm=not arguments.cold
    )
    if not invoices:
        invoices = baseline["invoices"]
        random.Random(arguments.seed).shuffle(invoices)
    timed = invoices[: arguments.invoices]
    if not arguments.cold:
        print(f"tables read once in {baseline['warm_seconds']:.0f} s (warm page cache)", flush=True)
    print(f"{baseline['spans']:,} spans; timing {len(timed)} invoices", flush=True)

    if arguments.api_url:
        api = measure_api(arguments.api_url, timed, arguments.token)
    else:
        directory = Path(tempfile.mkdtemp(prefix="syncsight-lineage-bench-"))
        data = chdb_data_path(arguments.clickhouse_url)
        service = start_service(
            directory,
            env={
                "SYNCSIGHT_CLICKHOUSE_URL": arguments.clickhouse_url,
                # one SLA evaluation at start-up, not one every 15 s during the timing
                "SYNCSIGHT_SLA_INTERVAL": "3600",
            },
            timeout=300,
        )
        try:
            waited = wait_until_idle(service.process.pid)
            print(f"service at rest after {waited:.0f} s of start-up work", flush=True)
            api = measure_api(service.base_url, timed, None)
        finally:
            stop_service(service)
        print(f"service ran on {data or arguments.clickhouse_url}", flush=True)

    same = sum(
        1 for invoice, found in baseline["sources"].items() if api["sources"].get(invoice) == found
    )
    figures = {
        "spans": baseline["spans"],
        "api": percentiles(api["timings"]),
        "hand_written": percentiles(baseline["timings"]),
        "same_sources": f"{same}/{len(baseline['sources'])}",
        "page_cache": "cold" if arguments.cold else "warm",
    }
    figures["speedup_p50"] = round(figures["hand_written"]["p50_ms"] / figures["api"]["p50_ms"], 1)
    figures["speedup_p95"] = round(figures["hand_written"]["p95_ms"] / figures["api"]["p95_ms"], 1)
    print(json.dumps(figures, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
