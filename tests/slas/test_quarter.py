"""End to end on the simulator's small quarter: every SLA timer and every closed period's
unposted amount, read through the REST API and the CLI, reconcile with the ground truth."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.quarter import END, LoadedQuarter

SYNCSIGHT = shutil.which("syncsight", path=str(Path(sys.executable).parent))
TRUTH_STATE = {"met": "met", "breached": "breached", "at_risk": "open", "on_track": "open"}


@pytest.fixture(scope="module")
def quarter(served_quarter: LoadedQuarter) -> LoadedQuarter:
    """The session's small quarter (tests/conftest.py): these tests only read it."""
    return served_quarter


@pytest.fixture(scope="module")
def api(quarter: LoadedQuarter) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=quarter.service.base_url, timeout=120) as client:
        yield client


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def timers_of(api: httpx.Client, sla: str) -> dict[tuple[str, datetime], dict[str, Any]]:
    response = api.get(
        f"/api/v1/slas/{sla}/timers", params={"as_of": END.isoformat(), "limit": 100_000}
    )
    assert response.status_code == 200, response.text
    return {(t["key"]["id"], instant(t["started_at"])): t for t in response.json()}


class TestTimers:
    @pytest.mark.parametrize(
        "sla",
        [
            "time-to-project-creation",
            "time-to-bill-readiness",
            "time-to-invoice-posting",
            "time-to-revenue-posting",
        ],
    )
    def test_every_timer_has_the_truths_outcome(
        self, quarter: LoadedQuarter, api: httpx.Client, sla: str
    ) -> None:
        """Same timers (key, start), same outcome, deadline and business hours as the truth."""
        truth = [t for t in quarter.truth["sla_timers"] if t["sla"] == sla]
        mine = timers_of(api, sla)
        assert len(mine) == len(truth)
        outcomes: Counter[tuple[str, str]] = Counter()
        for expected in truth:
            timer = mine[(expected["key"], instant(expected["started_at"]))]
            outcomes[(expected["status"], TRUTH_STATE[timer["state"]])] += 1
            assert instant(timer["deadline"]) == instant(expected["deadline"])
            assert timer["business_elapsed_hours"] == pytest.approx(
                expected["business_hours"], abs=1e-3
            )
            assert timer["legal_entity"] == expected["legal_entity"]
            if expected["breach_reason"]:
                assert timer["breach_reason"] == expected["breach_reason"]
        assert all(truth_state == state for truth_state, state in outcomes), outcomes

    def test_the_summary_counts_match(self, quarter: LoadedQuarter, api: httpx.Client) -> None:
        """met / breached / open per SLA equal the truth's summary."""
        summary = api.get("/api/v1/slas", params={"as_of": END.isoformat()}).json()
        expected = quarter.truth["summary"]["sla_timers"]
        for sla in summary:
            counts = sla["counts"]
            assert {
                "met": counts["met"],
                "breached": counts["breached"],
                "open": counts["at_risk"] + counts["on_track"],
            } == expected[sla["name"]]


class TestTrend:
    def test_one_evaluation_reproduces_each_weekly_evaluation(self, api: httpx.Client) -> None:
        """The trend's counts at each weekly point equal an evaluation at that point."""
        response = api.get("/api/v1/slas/trend", params={"as_of": END.isoformat(), "weeks": 6})
        assert response.status_code == 200, response.text
        points = response.json()
        assert len(points) == 7
        assert instant(points[-1]["as_of"]) == END
        for point in points:
            at_point = api.get("/api/v1/slas", params={"as_of": point["as_of"]}).json()
            expected = {
                s["name"]: ({"met": s["counts"]["met"], "breached": s["counts"]["breached"]})
                for s in at_point
            }
            assert {s["name"]: s["counts"] for s in point["slas"]} == expected, point["as_of"]
        assert points[0]["slas"] != points[-1]["slas"]  # the quarter moves over six weeks

    def test_the_live_answer_names_its_instant(self, api: httpx.Client) -> None:
        """Without as_of the live evaluation answers, and the header says when it was made."""
        response = api.get("/api/v1/slas")
        assert response.status_code == 200, response.text
        assert instant(response.headers["X-Syncsight-As-Of"]) > END


class TestEvaluatorMetrics:
    def test_metrics_say_the_evaluator_ticks_and_holds_the_lease(
        self, quarter: LoadedQuarter
    ) -> None:
        """The one process evaluates: ticks succeed, it holds the lease, its lag is bounded."""
        values = {}
        for line in httpx.get(f"{quarter.service.base_url}/metrics", timeout=10).text.splitlines():
            if line.startswith("syncsight_evaluator_"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        assert values['syncsight_evaluator_ticks_total{outcome="ok"}'] >= 1
        assert values["syncsight_evaluator_lease_held"] == 1
        assert values["syncsight_evaluator_versions_total"] > 7000
        assert 0 <= values["syncsight_evaluator_lag_seconds"] < 60
        assert values.get("syncsight_evaluator_errors_total", 0) == 0


class TestClose:
    def test_each_closed_period_misses_the_truths_amount(
        self, quarter: LoadedQuarter, api: httpx.Client
    ) -> None:
        """Per entity and closed period: the amount not posted before the close day."""
        checked = 0
        for period in sorted({record["period"] for record in quarter.truth["close"]}):
            response = api.get(
                "/api/v1/close-risk", params={"period": period, "as_of": END.isoformat()}
            )
            assert response.status_code == 200, response.text
            risks = {risk["legal_entity"]: risk for risk in response.json()}
            for record in quarter.truth["close"]:
                if record["period"] != period:
                    continue
                risk = risks[record["legal_entity"]]
                due = record["invoices"]["due"] + record["revenue"]["due"]
                assert list(risk["amount_due"]) == [record["currency"]]
                assert float(risk["amount_due"][record["currency"]]) == pytest.approx(due, abs=0.01)
                assert risk["close_deadline"].startswith(record["close_deadline"][:19])
                if record["closed_by_end"]:
                    missed = record["amount_not_posted_before_close"]
                    at_risk = sum(map(Decimal, risk["amount_at_risk"].values()), Decimal(0))
                    assert float(at_risk) == pytest.approx(missed, abs=0.01)
                    assert risk["business_days_left"] == 0
                    checked += 1
        assert checked >= 6


def sla_status(base_url: str, *arguments: str) -> str:
    """What `syncsight sla status --api-url base_url …` prints into a pipe (exit 0)."""
    assert SYNCSIGHT, "the syncsight console script is not installed in this environment"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSIGHT_")}
    result = subprocess.run(
        [SYNCSIGHT, "sla", "status", "--api-url", base_url, *arguments],
        capture_output=True,
        text=True,
        env=clean,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class TestCli:
    def test_sla_status_prints_the_summary_table(self, quarter: LoadedQuarter) -> None:
        """`syncsight sla status --api-url …` reads the API and prints every SLA."""
        printed = sla_status(quarter.service.base_url, "--as-of", END.strftime("%Y-%m-%dT%H:%M:%S"))
        assert "time-to-bill-readiness" in printed
        assert "5,130" in printed, "met bill-readiness timers of the small quarter"

    def test_sla_status_reproduces_an_answer_at_its_known_at_and_names_both_instants(
        self, quarter: LoadedQuarter, api: httpx.Client
    ) -> None:
        """Found trying the CLI as an auditor (session 28): it printed an answer without saying
        which instants it described and could not be asked for an earlier known_at. Now the
        table ends with "as of … · known at …", and --known-at before anything was stored counts
        nothing."""
        known = api.get("/api/v1/slas").headers["X-Syncsight-Known-At"]

        def status(known_at: str) -> str:
            return sla_status(
                quarter.service.base_url, "--as-of", "2026-10-30T17:00:00Z", "--known-at", known_at
            )

        assert f"as of 2026-10-30T17:00:00Z · known at {known}" in status(known)
        assert "5,130" in status(known), "met bill-readiness timers of the small quarter"
        before = status("2000-01-01T00:00:00Z")
        assert "as of 2026-10-30T17:00:00Z · known at 2000-01-01T00:00:00Z" in before
        assert "5,130" not in before

    def test_an_unreachable_api_is_one_clear_line(self) -> None:
        """No traceback: the URL and how to fix it."""
        assert SYNCSIGHT
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSIGHT_")}
        result = subprocess.run(
            [SYNCSIGHT, "sla", "status", "--api-url", "http://127.0.0.1:9"],
            capture_output=True,
            text=True,
            env=clean,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2
        assert "cannot reach the syncsight API at http://127.0.0.1:9" in result.stderr
