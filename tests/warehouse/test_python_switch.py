"""The interpreter's switch interval (``warehouse.python_switch``): set by the service from its
setting while it runs, the value before back when it stops, shown in ``/metrics``; a bad value
refused."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from syncsight.settings import Settings
from tests.service import asgi_client, in_process_app
from warehouse.python_switch import SwitchInterval

METRIC = "syncsight_python_switch_interval_seconds"


def _value(text: str, name: str) -> float:
    return float(next(line for line in text.splitlines() if line.startswith(f"{name} ")).split()[1])


def test_the_service_sets_the_interval_while_it_runs_and_puts_the_one_before_back(
    chdb_url: str, database: str, tmp_path: Path
) -> None:
    before = sys.getswitchinterval()
    assert before != pytest.approx(0.002)

    async def while_running(app: object) -> tuple[float, str]:
        async with asgi_client(app) as api:
            return sys.getswitchinterval(), str((await api.get("/metrics")).text)

    app = in_process_app(chdb_url, database, tmp_path, python_switch_interval_ms=2)
    running, text = asyncio.run(while_running(app))
    assert running == pytest.approx(0.002)
    assert _value(text, METRIC) == pytest.approx(0.002)
    assert sys.getswitchinterval() == pytest.approx(before)


@pytest.mark.parametrize("bad", ["0", "-1", "101", "fast"])
def test_a_bad_interval_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("SYNCSIGHT_PYTHON_SWITCH_INTERVAL_MS", bad)
    with pytest.raises(ValidationError, match="python_switch_interval_ms"):
        Settings()


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        SwitchInterval(0)
