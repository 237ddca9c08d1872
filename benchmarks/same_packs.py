"""Evidence packs before and after a change to how they are read: the same (root, direction,
``known_at``) must give the same root hash and the same inclusion proofs.

``--write FILE`` fetches the packs of sampled invoices (upstream and both directions, one fixed
``known_at``) from ``syncsight serve`` on a copy of a loaded quarter and keeps, per request, the
root hash, record count and the ``ledger`` block (heads, proofs, unproven facts); run it once with
each version of the code (``PYTHONPATH`` names the other version's source) on the same copy.
``--compare A B`` then names every request whose pack differs.

Run: ``.venv/bin/python benchmarks/same_packs.py --clickhouse-url chdb:///abs/copy/data
--known-at 2026-12-04T21:00:00Z --invoices 80 --write after.json`` and
``.venv/bin/python benchmarks/same_packs.py --compare before.json after.json``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.service import start_service, stop_service
from warehouse.client import chdb_data_path, connect

ADMIN_TOKEN = "same-packs-admin-0123456789abcdef"
DIRECTIONS = ("upstream", "both")


SAMPLE = (
    "SELECT DISTINCT ObjectId FROM biz_event_objects WHERE ObjectType = 'invoice' "
    "ORDER BY cityHash64(ObjectId) LIMIT {n:UInt32}"
)


def sampled_invoices(url: str, count: int) -> list[str]:
    """Invoice ids in a fixed order, read by a child process (the embedded engine allows one
    process per data directory, and the service is another)."""
    child = [sys.executable, __file__, "--clickhouse-url", url, "--invoices", str(count)]
    answer = subprocess.run([*child, "--sample"], check=True, capture_output=True, text=True)
    return list(json.loads(answer.stdout))


def fetch(url: str, known_at: str, count: int) -> dict[str, Any]:
    data = chdb_data_path(url)
    if data is None:
        raise SystemExit("packs are fetched from an embedded data directory (chdb:///…)")
    env = {"SYNCSIGHT_API_TOKENS": f"{ADMIN_TOKEN}:admin", "SYNCSIGHT_EVALUATOR": "off"}
    invoices = sampled_invoices(url, count)
    service = start_service(data.parent, env=env, timeout=600)
    packs: dict[str, Any] = {}
    try:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with httpx.Client(base_url=service.base_url, headers=headers, timeout=120) as http:
            for invoice in invoices:
                for direction in DIRECTIONS:
                    answer = http.get(
                        f"/api/v1/lineage/invoice/{invoice}/evidence",
                        params={"known_at": known_at, "direction": direction},
                    )
                    answer.raise_for_status()
                    pack = answer.json()
                    packs[f"{invoice} {direction}"] = {
                        "root_hash": pack["root_hash"],
                        "record_count": pack["record_count"],
                        "ledger": pack["ledger"],
                    }
    finally:
        stop_service(service)
    return packs


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The requests whose packs differ (or that only one side has)."""
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", help="chdb:///abs/path of a loaded quarter (a copy)")
    parser.add_argument("--known-at", help="the packs' knowledge time (ISO 8601, in the past)")
    parser.add_argument("--invoices", type=int, default=80)
    parser.add_argument("--write", type=Path, help="where to keep the packs' roots and proofs")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--sample", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.sample:
        rows = (
            connect(arguments.clickhouse_url)
            .query(SAMPLE, parameters={"n": arguments.invoices})
            .result_rows
        )
        print(json.dumps([str(row[0]) for row in rows]))
        return
    if arguments.compare:
        before, after = (json.loads(path.read_text()) for path in arguments.compare)
        differing = compare(before, after)
        proofs = sum(len(pack["ledger"]["proofs"]) for pack in after.values())
        print(
            json.dumps(
                {
                    "requests": len(after),
                    "proofs": proofs,
                    "differing": differing,
                    "same": not differing and len(before) == len(after),
                },
                indent=2,
            )
        )
        raise SystemExit(1 if differing else 0)
    if not (arguments.clickhouse_url and arguments.known_at and arguments.write):
        parser.error("--clickhouse-url, --known-at and --write are needed to fetch packs")
    packs = fetch(arguments.clickhouse_url, arguments.known_at, arguments.invoices)
    arguments.write.write_text(json.dumps(packs, indent=1, sort_keys=True))
    print(f"{len(packs)} packs written to {arguments.write}")


if __name__ == "__main__":
    main()
