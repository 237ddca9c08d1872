"""What the first evaluator tick after migration 25 adds: copying the raw span of every business
row stored so far into ``evidence_spans`` (``lineage.evidence_spans.record_window`` from the
epoch, as the tick does with the copies' watermark unset), then moving the copies' watermark.

Opens the data directory itself (no service may hold it; give it a copy): migrates it, records
up to now, prints CPU seconds, wall, peak RSS, the rows and parts of the table and its size on
disk. Run: ``.venv/bin/python benchmarks/evidence_spans_fill.py --clickhouse-url
chdb:///abs/copy/data [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import own_cpu_seconds, peak_rss_mib
from lineage.evidence_spans import WATERMARK_KEY, record_window
from slas.business_state import parse_watermark
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.schema import EVIDENCE_SPANS
from warehouse.schema_state import read_state, write_state

TABLE = """
SELECT sum(rows), count(), sum(bytes_on_disk), sum(data_uncompressed_bytes)
FROM system.parts WHERE database = currentDatabase() AND table = {table:String} AND active
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/copy/data")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    client = connect(arguments.clickhouse_url)
    migrate(client, CorrelationRules.default())
    since = parse_watermark(read_state(client, WATERMARK_KEY), WATERMARK_KEY)
    until = datetime.now(UTC)
    load_before = os.getloadavg()
    cpu, wall = own_cpu_seconds(), time.perf_counter()
    record_window(client, since, until)
    write_state(client, WATERMARK_KEY, until.isoformat(), at=until)
    cpu, wall = own_cpu_seconds() - cpu, time.perf_counter() - wall
    rows, parts, disk, raw = client.query(TABLE, parameters={"table": EVIDENCE_SPANS}).result_rows[
        0
    ]
    figures = {
        "at": until.isoformat(timespec="seconds"),
        "window": [since.isoformat(), until.isoformat()],
        "load_average_before_after": [load_before, os.getloadavg()],
        "cpu_seconds": round(cpu, 1),
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": round(peak_rss_mib(os.getpid())),
        "rows": int(rows),
        "parts": int(parts),
        "disk_mib": round(int(disk) / 2**20, 1),
        "uncompressed_mib": round(int(raw) / 2**20, 1),
    }
    print(json.dumps(figures, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
