"""The embedded engine's server caches are bounded for a process it shares with syncsight."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from warehouse.client import EMBEDDED_ENGINE_OPTIONS

PROBE = """
import json, sys
from warehouse.client import connect
client = connect(sys.argv[1])
rows = client.query("SELECT name, value FROM system.server_settings").result_rows
print(json.dumps({str(name): str(value) for name, value in rows}))
"""


def test_the_first_client_bounds_the_engines_caches(tmp_path: Path) -> None:
    """ClickHouse's defaults (5 GiB of marks, 5 GiB of primary indexes) let an in-process engine
    grow the service's memory with every part read; a fresh process (one engine per process)
    opened through ``connect`` has the bounded sizes."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, f"chdb://{tmp_path / 'data'}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    settings = json.loads(probe.stdout.strip().splitlines()[-1])
    assert {name: int(settings[name]) for name in EMBEDDED_ENGINE_OPTIONS} == (
        EMBEDDED_ENGINE_OPTIONS
    )
    assert int(settings["mark_cache_size"]) < 5 << 30
