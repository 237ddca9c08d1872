"""``syncsight demo`` as a newcomer runs it: it loads the quarter, says where to look, serves a real
invoice, and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.firm import FIRM_CALENDARS
from tests.service import SYNCSIGHT, free_port

pytestmark = pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)


def wait_for_entity_close(base_url: str, legal_entity: str) -> dict[str, Any]:
    """The first close-risk row of ``legal_entity`` once the SLA evaluator has produced one."""
    deadline = time.monotonic() + 120
    while True:
        rows = httpx.get(f"{base_url}/api/v1/close-risk", timeout=30).json()
        mine = [row for row in rows if row["legal_entity"] == legal_entity]
        if mine:
            return dict(mine[0])
        assert time.monotonic() < deadline, f"no close-risk row for {legal_entity}: {rows}"
        time.sleep(1)


def test_demo_loads_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """The printed example invoice is served by the API; SIGINT ends the whole process group."""
    assert SYNCSIGHT
    port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSIGHT_")}
    env["SYNCSIGHT_DASHBOARD_PORT"] = str(free_port())
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            [SYNCSIGHT, "demo", "--port", str(port), "--grpc-port", str(grpc_port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while "syncsight is running" not in log_path.read_text(errors="replace"):
            assert demo.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.5)
        output = log_path.read_text(errors="replace")
        assert f"http://127.0.0.1:{port}/docs" in output
        invoice = re.search(r"/api/v1/objects/invoice/(\S+)/events", output)
        assert invoice, output
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/objects/invoice/{invoice[1]}/events")
        assert response.status_code == 200
        assert (tmp_path / ".syncsight" / "demo.json").exists()
        german = wait_for_entity_close(f"http://127.0.0.1:{port}", "LE-DE01")
        assert german["close_date"] == (
            FIRM_CALENDARS["LE-DE01"].close_date(german["period"]).isoformat()
        ), "the demo's service counts LE-DE01's close in the firm's calendar (close day 6)"
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(timeout=60)
    assert demo.returncode == 0
    time.sleep(1)
    try:
        os.killpg(demo.pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError("demo left processes behind in its process group")
