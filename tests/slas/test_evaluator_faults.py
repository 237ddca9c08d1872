"""The evaluator loop of a real service when ClickHouse refuses its reads: the loop carries on,
`/readyz` says degraded with the engine's reason, `/metrics` counts the failed ticks, and once the
table is back the next tick succeeds and the service is ready again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client

from syncsight.app import EVALUATOR_FAILURES_DEGRADED
from tests.service import asgi_client, degraded_while_away, in_process_app, ready_status
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.schema_state import REBUILD_KEY, write_state


def failed_ticks(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("syncsight_evaluator_errors_total "):
            return float(line.split()[1])
    raise AssertionError("syncsight_evaluator_errors_total is not exported")


class TestEvaluatorFaults:
    def test_a_failing_engine_degrades_readiness_and_recovers(
        self, chdb_url: str, database: str, client: Client, tmp_path: Path
    ) -> None:
        app = in_process_app(chdb_url, database, tmp_path, sla_interval=0.2)
        said = degraded_while_away(app, client, "sla_timers")
        assert "ticks in a row failed" in said.ready["evaluator"]
        assert "sla_timers" in said.ready["evaluator"]
        assert failed_ticks(said.metrics) >= EVALUATOR_FAILURES_DEGRADED
        assert "evaluator" not in said.recovered

    def test_a_rebuild_cut_short_degrades_readiness_saying_what_to_do(
        self, chdb_url: str, database: str, client: Client, tmp_path: Path
    ) -> None:
        """A rebuild killed after it emptied the business tables leaves its flag: the evaluator
        pauses, and /readyz says so and how to finish it, until a rebuild is done."""
        migrate(client, CorrelationRules.default())
        write_state(client, REBUILD_KEY, "running", at=datetime.now(UTC))
        app = in_process_app(chdb_url, database, tmp_path, sla_interval=0.2)

        async def scenario() -> tuple[dict[str, str], dict[str, str]]:
            async with asgi_client(app) as api:
                paused = await ready_status(api, "degraded")
                write_state(client, REBUILD_KEY, "done", at=datetime.now(UTC))
                return paused, await ready_status(api, "ok")

        paused, done = asyncio.run(scenario())
        assert paused["evaluator"].startswith("paused: rebuild running since")
        assert "POST /api/v1/admin/rebuild" in paused["evaluator"]
        assert "evaluator" not in done
