"""The evidence ledger's costs: a day's tree head over many facts, and evidence pack latency.

1. synthetic: N facts (default 1,000,000) stored on one day in a scratch database of the engine,
   then ``Ledger.seal_day`` timed (leaves and every complete subtree computed in the engine, the
   root from O(log n) stored subtrees), an incremental head after 10,000 more facts, and the
   inclusion proofs of 20 facts;
2. real day (with ``--clickhouse-url`` of a loaded quarter, which it migrates and seals in place:
   give it a copy): the head of the day that holds most facts, timed the same way;
3. pack steps (with ``--clickhouse-url``): in-process, what each step of an evidence pack costs
   (traversal with the stored facts, raw spans, inclusion proofs, the access-trail insert), per
   pack over 20 sampled invoices;
4. packs (with ``--clickhouse-url``): ``GET /api/v1/lineage/invoice/{id}/evidence`` for sampled
   invoices against ``syncsight serve`` on that data (evaluator off, so only the requests run),
   timed end to end over HTTP: p50 / p95 / p99, with the service's CPU milliseconds per pack and
   the load average before and after (the machine may be shared).

Parts 1-3 run in a child process: the embedded engine allows one process per data directory, and
part 3's service is another process.

Run: ``.venv/bin/python benchmarks/ledger.py [--clickhouse-url chdb:///abs/copy/data]
[--facts 1000000] [--packs 200]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import cpu_seconds
from lineage.evidence_spans import pack_spans
from lineage.graph import UPSTREAM
from lineage.ledger import FactIdentity, Ledger, Requester, day_end
from lineage.queries import FactReader
from lineage.rules import LineageRules
from lineage.signing import Signer, load_or_create_signer
from lineage.traversal import trace
from tests.service import start_service, stop_service
from warehouse.client import chdb_data_path, connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate

SCRATCH = "ledger_bench"
DAY = date(2026, 10, 1)
ADMIN_TOKEN = "ledger-bench-admin-0123456789abcdef"

SYNTHETIC_FACTS = """
INSERT INTO biz_events (EventId, EventType, EventTime, DurationNs, SourceSystem, TargetSystem,
    Outcome, Amount, Currency, Period, LegalEntity, Customer, Attempt, ServiceName, SpanName,
    TraceId, SpanId, SpanStatus, ObjectRefs, IngestedAt)
SELECT concat('time.approved:TE-', toString(number)), 'time.approved',
       {start:DateTime64(9, 'UTC')} + toIntervalMillisecond(number * 37),
       120000000, 'psa', 'erp', 'success', toDecimal64(number % 5000, 4) / 7, 'EUR', '2026-10',
       'LE-US01', concat('CUS-', toString(number % 400)), 1, 'mw-psa', 'sync time entry',
       lower(hex(cityHash64(number))), lower(hex(cityHash64(number, 1))), 'Ok',
       [('time_entry', concat('TE-', toString(number))), ('project', concat('PRJ-', toString(number % 900))),
        ('legal_entity', 'LE-US01')],
       {start:DateTime64(3, 'UTC')} + toIntervalMillisecond(intDiv((number - {first:UInt64}) * {spread:UInt64}, {count:UInt64}))
FROM numbers({first:UInt64}, {count:UInt64})
"""


class Stopwatch:
    """Wall-clock and CPU seconds (this process: the embedded engine's threads included) of a
    step; on a shared machine the CPU seconds say more than the wall clock."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = self._cpu()

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def read(self) -> dict[str, float]:
        return {
            "wall_seconds": round(time.perf_counter() - self.wall, 3),
            "cpu_seconds": round(self._cpu() - self.cpu, 3),
        }


def seal_synthetic(url: str, facts: int) -> dict[str, Any]:
    admin = connect(url)
    admin.command(f"DROP DATABASE IF EXISTS {SCRATCH}")
    admin.command(f"CREATE DATABASE {SCRATCH}")
    client = connect(url, database=SCRATCH)
    migrate(client, CorrelationRules.default())
    start = datetime.combine(DAY, datetime.min.time()).replace(hour=1)
    day_ms = 20 * 3600 * 1000
    client.command(
        SYNTHETIC_FACTS,
        parameters={"start": start, "first": 0, "count": facts, "spread": day_ms},
    )
    ledger = Ledger(Signer.generate())
    now = datetime.now(UTC)
    watch = Stopwatch()
    head = ledger.seal_day(client, DAY, until=start + timedelta(hours=21, seconds=-1), now=now)
    full = watch.read()
    client.command(
        SYNTHETIC_FACTS,
        parameters={
            "start": start + timedelta(hours=22),
            "first": facts,
            "count": 10_000,
            "spread": 3600 * 1000,
        },
    )
    watch = Stopwatch()
    grown = ledger.seal_day(client, DAY, until=day_end(DAY), now=now)
    incremental = watch.read()
    rows = client.query(
        "SELECT EventId, TraceId, SpanId, IngestedAt FROM biz_events "
        "ORDER BY cityHash64(EventId) LIMIT 20"
    ).result_rows
    watch = Stopwatch()
    proofs = ledger.proofs(client, [FactIdentity(e, t, s, at) for e, t, s, at in rows])
    proof_seconds = watch.read()
    admin.command(f"DROP DATABASE IF EXISTS {SCRATCH}")
    return {
        "facts": head.tree_size,
        "head": full,
        "incremental_facts": grown.tree_size - head.tree_size,
        "incremental": incremental,
        "proofs": len(proofs["proofs"]),
        "proofs_time": proof_seconds,
    }


def seal_real_day(url: str, invoices: int) -> dict[str, Any]:
    client = connect(url)
    migrate(client, CorrelationRules.default())
    day, facts = client.query(
        "SELECT toDate(IngestedAt) AS Day, count() AS Facts FROM biz_events "
        "GROUP BY Day ORDER BY Facts DESC LIMIT 1"
    ).result_rows[0]
    now = datetime.now(UTC)
    signer_path = (chdb_data_path(url) or Path(".syncsight")) / "signing-key.pem"
    ledger = Ledger(load_or_create_signer(signer_path))
    watch = Stopwatch()
    head = ledger.seal_day(client, day, until=now - timedelta(seconds=5), now=now)
    seconds = watch.read()
    sample = client.query(
        "SELECT DISTINCT ObjectId FROM biz_event_objects WHERE ObjectType = 'invoice' "
        "ORDER BY cityHash64(ObjectId) LIMIT {n:UInt32}",
        parameters={"n": invoices},
    ).result_rows
    return {
        "day": day.isoformat(),
        "stored_rows": int(facts),
        "facts": head.tree_size,
        "head": seconds,
        "invoices": [str(row[0]) for row in sample],
        "pack_steps": pack_steps(client, ledger, [str(row[0]) for row in sample[:25]]),
    }


def pack_steps(
    client: Any, ledger: Ledger, invoices: list[str], on_warm: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Per-pack wall and CPU milliseconds of each step the evidence route takes (the first five
    invoices warm the engine up and are not counted; ``on_warm`` is called once they are done)."""
    rules, now = LineageRules.default(), datetime.now(UTC)
    totals: dict[str, list[float]] = {}

    def step(name: str, work: Any, *args: Any, **kwargs: Any) -> Any:
        watch = Stopwatch()
        result = work(*args, **kwargs)
        spent = watch.read()
        total = totals.setdefault(name, [0.0, 0.0])
        total[0] += spent["wall_seconds"]
        total[1] += spent["cpu_seconds"]
        return result

    for number, invoice in enumerate(invoices):
        if number == 5:
            totals.clear()
            if on_warm is not None:
                on_warm()
        reader = FactReader(client, known_at=now)  # the traversal's last read keeps the facts
        found = step(
            "trace_and_facts",
            trace,
            client,
            rules,
            "invoice",
            invoice,
            UPSTREAM,
            known_at=now,
            read_nodes=reader,
        )
        facts = reader.facts_of(found.nodes)
        step("raw_spans", pack_spans, client, [f for versions in facts.values() for f in versions])
        identities = [
            FactIdentity(
                e, t, s, datetime.fromisoformat(f.texts["ingested_at"]).replace(tzinfo=UTC)
            )
            for (e, t, s), versions in facts.items()
            for f in versions
        ]
        step("proofs", ledger.proofs, client, identities)
        step(
            "access_trail",
            ledger.record_download,
            client,
            Requester("benchmark", "admin"),
            kind="evidence",
            path="/benchmark",
            parameters={},
            at=now,
        )
    counted = max(len(invoices) - 5, 1)
    return {
        name: {"wall_ms": round(wall * 1000 / counted, 1), "cpu_ms": round(cpu * 1000 / counted, 1)}
        for name, (wall, cpu) in totals.items()
    }


def time_packs(url: str, invoices: list[str]) -> dict[str, Any]:
    data = chdb_data_path(url)
    assert data is not None, "packs are timed against an embedded data directory"
    env = {
        "SYNCSIGHT_API_TOKENS": f"{ADMIN_TOKEN}:admin",
        "SYNCSIGHT_EVALUATOR": "off",
        "SYNCSIGHT_API_READ_MAX_SECONDS": "120",
    }
    service = start_service(data.parent, env=env, timeout=600)
    try:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        known_at = datetime.now(UTC).isoformat()
        latencies, records, proofs = [], [], []
        with httpx.Client(base_url=service.base_url, headers=headers, timeout=120) as http:
            for invoice in invoices[:3]:  # warm-up
                http.get(f"/api/v1/lineage/invoice/{invoice}/evidence")
            service_cpu = cpu_seconds(service.process.pid)
            load_before = os.getloadavg()
            for invoice in invoices:
                began = time.perf_counter()
                answer = http.get(
                    f"/api/v1/lineage/invoice/{invoice}/evidence", params={"known_at": known_at}
                )
                latencies.append((time.perf_counter() - began) * 1000)
                assert answer.status_code == 200, answer.text
                pack = answer.json()
                records.append(pack["record_count"])
                proofs.append(len(pack["ledger"]["proofs"]))
            service_cpu = cpu_seconds(service.process.pid) - service_cpu
            load_after = os.getloadavg()
    finally:
        stop_service(service)
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "packs": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(cuts[94], 1),
        "p99_ms": round(cuts[98], 1),
        "service_cpu_ms_per_pack": round(service_cpu * 1000 / len(latencies), 1),
        "load_average_before_after": [load_before, load_after],
        "records_median": statistics.median(records),
        "proofs_median": statistics.median(proofs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", help="chdb:///abs/path of a loaded quarter (a copy)")
    parser.add_argument("--facts", type=int, default=1_000_000, help="synthetic facts (0: skip)")
    parser.add_argument("--packs", type=int, default=200, help="packs over HTTP (0: skip)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:  # parts 1 and 2, in the child process that opens the engine
        with tempfile.TemporaryDirectory() as scratch:
            url = arguments.clickhouse_url or f"chdb://{Path(scratch) / 'data'}"
            result: dict[str, Any] = {}
            if arguments.facts:
                result["synthetic"] = seal_synthetic(url, arguments.facts)
            if arguments.clickhouse_url:
                result["real_day"] = seal_real_day(url, arguments.packs)
        print(json.dumps(result))
        return
    child = [sys.executable, __file__, "--child", "--facts", str(arguments.facts)]
    child += ["--packs", str(arguments.packs)]
    if arguments.clickhouse_url:
        child += ["--clickhouse-url", arguments.clickhouse_url]
    result = json.loads(subprocess.run(child, check=True, capture_output=True).stdout)
    if arguments.clickhouse_url:
        invoices = result["real_day"].pop("invoices")
        if arguments.packs:
            result["packs"] = time_packs(arguments.clickhouse_url, invoices)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
