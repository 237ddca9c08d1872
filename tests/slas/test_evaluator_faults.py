"""The evaluator loop of a real service when ClickHouse refuses its reads: the loop carries on,
`/readyz` says degraded with the engine's reason, `/metrics` counts the failed ticks, and once the
table is back the next tick succeeds and the service is ready again."""

from __future__ import annotations

from pathlib import Path

from clickhouse_connect.driver.client import Client

from syncsight.app import EVALUATOR_FAILURES_DEGRADED
from tests.service import degraded_while_away, in_process_app


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
