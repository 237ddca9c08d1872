"""The evaluator loop of a real service when ClickHouse refuses its reads: the loop carries on,
`/readyz` says degraded with the engine's reason, `/metrics` counts the failed ticks, and once the
table is back the next tick succeeds and the service is ready again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from clickhouse_connect.driver.client import Client

from syncsight.app import EVALUATOR_FAILURES_DEGRADED, create_app
from syncsight.config_file import FileConfig
from syncsight.settings import Settings
from tests.service import asgi_client, free_port, table_away


async def ready_status(api: httpx.AsyncClient, wanted: str, seconds: float = 60) -> dict[str, str]:
    """``/readyz`` once it says ``wanted``."""
    deadline = time.monotonic() + seconds
    while True:
        answer = (await api.get("/readyz")).json()
        if answer["status"] == wanted:
            return dict(answer)
        assert time.monotonic() < deadline, f"/readyz still says {answer}"
        await asyncio.sleep(0.1)


def failed_ticks(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("syncsight_evaluator_errors_total "):
            return float(line.split()[1])
    raise AssertionError("syncsight_evaluator_errors_total is not exported")


class TestEvaluatorFaults:
    def test_a_failing_engine_degrades_readiness_and_recovers(
        self, chdb_url: str, database: str, client: Client, tmp_path: Path
    ) -> None:
        settings = Settings(
            clickhouse_url=chdb_url,
            spool_dir=tmp_path / "spool",
            sla_interval=0.2,
            grpc_port=free_port(),
        )
        app = create_app(settings, FileConfig(), database=database)

        async def scenario() -> None:
            async with asgi_client(app) as api:
                await ready_status(api, "ok")
                with table_away(client, "sla_timers"):
                    degraded = await ready_status(api, "degraded")
                    assert "ticks in a row failed" in degraded["evaluator"]
                    assert "sla_timers" in degraded["evaluator"]
                    metrics = (await api.get("/metrics")).text
                    assert failed_ticks(metrics) >= EVALUATOR_FAILURES_DEGRADED
                recovered = await ready_status(api, "ok")
                assert "evaluator" not in recovered

        asyncio.run(scenario())
