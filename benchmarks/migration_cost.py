"""What one schema migration costs on a loaded database: it is forgotten, then ``migrate`` applies
it again (with the derived views it re-creates), timed in wall and CPU seconds.

Migrates in place: give it a copy of the data directory, and no service may hold it meanwhile.
Run: ``.venv/bin/python benchmarks/migration_cost.py --clickhouse-url chdb:///abs/copy/data
[--version 13]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import own_cpu_seconds
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import MIGRATIONS, migrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/copy/data or http://…")
    parser.add_argument("--version", type=int, default=MIGRATIONS[-1].version)
    args = parser.parse_args()
    client = connect(args.clickhouse_url)
    rows = client.query("SELECT count() FROM biz_events").result_rows[0][0]
    client.command(
        "ALTER TABLE syncsight_schema_migrations DELETE WHERE Version = {version:UInt32}",
        parameters={"version": args.version},
        settings={"mutations_sync": 1},
    )
    wall, cpu = time.perf_counter(), own_cpu_seconds()
    report = migrate(client, CorrelationRules.default())
    print(
        f"migration {report.applied} over {rows:,} biz_events rows: "
        f"{time.perf_counter() - wall:.2f} s wall, {own_cpu_seconds() - cpu:.2f} s CPU; "
        f"rows after: {client.query('SELECT count() FROM biz_events').result_rows[0][0]:,}"
    )


if __name__ == "__main__":
    main()
