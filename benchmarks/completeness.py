"""Lineage completeness's cost: ``lineage.completeness.completeness`` of one period (all legal
entities, or one) in process on a loaded quarter, the call ``GET /api/v1/lineage/completeness``
makes, timed per run in wall and process CPU seconds (engine threads included), with the SHA-256
of its JSON answer (``lineage.models.completeness_out``) and its counts, so two codes' answers can
be compared: run a copy of this script inside the other checkout (its own modules come first on
the path). ``--known-at`` is passed only when given (code before knowledge time has no such
argument); without it every stored row counts.

It migrates nothing: open a copy no other process has open (the embedded engine allows one
process per data directory).

Run: ``nice -n 5 .venv/bin/python benchmarks/completeness.py --clickhouse-url
chdb:///tmp/<name>/M --period 2026-09 [--legal-entity LE-UK01] [--as-of 2026-12-07T00:00:00Z]
[--known-at …] [--runs 2]``
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lineage.completeness import completeness
from lineage.models import completeness_out
from lineage.rules import LineageRules
from warehouse.client import connect


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clickhouse-url", required=True)
    parser.add_argument("--period", action="append", required=True, help="YYYY-MM, repeatable")
    parser.add_argument("--legal-entity", default=None)
    parser.add_argument("--as-of", default="2026-12-07T00:00:00+00:00")
    parser.add_argument("--known-at", default=None)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    client = connect(args.clickhouse_url)
    client.query("SELECT count() FROM biz_events")  # open the tables before timing
    as_of = datetime.fromisoformat(args.as_of)
    extra: dict[str, Any] = {}
    if args.known_at:
        extra["known_at"] = datetime.fromisoformat(args.known_at)
    rules = LineageRules.default()
    for period in args.period:
        for run in range(1, args.runs + 1):
            started, cpu_started = time.perf_counter(), _cpu()
            result = completeness(
                client,
                rules,
                period=period,
                as_of=as_of,
                legal_entity=args.legal_entity,
                **extra,
            )
            wall, cpu = time.perf_counter() - started, _cpu() - cpu_started
            answer = completeness_out(result).model_dump_json()
            counts = {
                entity.legal_entity: {
                    "posted": {t: s.posted for t, s in entity.by_posting_type.items()},
                    "complete": sum(s.complete for s in entity.by_posting_type.values()),
                    "orphans": len(entity.orphans),
                    "stuck": len(entity.stuck_sources),
                }
                for entity in result.entities
            }
            print(
                f"period {period} legal entity {args.legal_entity or 'all'} run {run}: "
                f"{wall:.1f} s, {cpu:.1f} s CPU, "
                f"sha256 {hashlib.sha256(answer.encode()).hexdigest()[:16]}, {counts}",
                flush=True,
            )


if __name__ == "__main__":
    main()
