"""Where an evidence pack spends its CPU: every engine round trip of ``benchmarks/ledger.py``'s
``pack_steps`` (the evidence route's steps, in-process), counted and timed by
``benchmarks/tick_profile.py``'s ``CountingClient`` and grouped by the statement's first words,
per pack, beside the steps' own figures.

Opens the data directory itself (no service may hold it; give it a copy): migrates it, samples
invoices as ``benchmarks/ledger.py`` does (without sealing), and runs ``--packs`` upstream packs
after five of warm-up. Run: ``.venv/bin/python benchmarks/pack_profile.py --clickhouse-url
chdb:///abs/copy/data [--packs 40]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ledger import pack_steps
from benchmarks.tick_profile import CountingClient
from lineage.ledger import Ledger
from lineage.signing import load_or_create_signer
from warehouse.client import chdb_data_path, connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate

WARM_UP = 5
"""``pack_steps`` leaves its first five packs out of its figures; so does this profile."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/copy/data")
    parser.add_argument("--packs", type=int, default=40, help="packs counted (after 5 of warm-up)")
    arguments = parser.parse_args()
    client = connect(arguments.clickhouse_url)
    migrate(client, CorrelationRules.default())
    data = chdb_data_path(arguments.clickhouse_url) or Path(".syncsight")
    ledger = Ledger(load_or_create_signer(data / "signing-key.pem"))
    sample = client.query(
        "SELECT DISTINCT ObjectId FROM biz_event_objects WHERE ObjectType = 'invoice' "
        "ORDER BY cityHash64(ObjectId) LIMIT {n:UInt32}",
        parameters={"n": arguments.packs + WARM_UP},
    ).result_rows
    counting = CountingClient(client)
    load_before = os.getloadavg()
    steps = pack_steps(
        counting, ledger, [str(row[0]) for row in sample], on_warm=counting.calls.clear
    )
    load_after = os.getloadavg()
    packs = max(len(sample) - WARM_UP, 1)
    calls: dict[str, Any] = {}
    for kind, samples in sorted(counting.calls.items(), key=lambda kv: -sum(c for _, c in kv[1])):
        calls[kind] = {
            "per_pack": round(len(samples) / packs, 2),
            "cpu_ms": round(1000 * sum(c for _, c in samples) / packs, 1),
            "wall_ms": round(1000 * sum(w for w, _ in samples) / packs, 1),
        }
    print(
        json.dumps(
            {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "packs": packs,
                "load_average_before_after": [load_before, load_after],
                "steps": steps,
                "round_trips_per_pack": round(
                    sum(len(s) for s in counting.calls.values()) / packs, 2
                ),
                "engine_cpu_ms_per_pack": round(
                    1000 * sum(c for s in counting.calls.values() for _, c in s) / packs, 1
                ),
                "calls": calls,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
