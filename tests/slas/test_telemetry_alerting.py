"""End to end with the real Prometheus Alertmanager: a psa → erp connector that went quiet fires
``TelemetryMissing``, the silence API and the completeness answer show it as missing evidence, and
its next event resolves all three."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain import semconv as sc
from tests.slas.alert_stack import AlertStack, alerting_service, notifications, wait_for
from tests.slas.test_business_alerting import business, send

CONFIG = """
[calendars.default]            # every day a business day: the test may run on a weekend
working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

[alerts.close_risk]
from_level = "off"

[telemetry.silence]
"psa->erp" = "5m"

[owners]                       # a system's team owns its silent connectors
erp = "erp team"
"""


def missing_in_alertmanager(url: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{url}/api/v2/alerts", params={"filter": 'alertname="TelemetryMissing"'}, timeout=10
    )
    response.raise_for_status()
    return [a for a in response.json() if a["status"]["state"] == "active"]


def posting(number: int, when: datetime) -> dict[str, Any]:
    return business(
        sc.INVOICE_POSTED,
        f"post:INV-TM-{number}",
        when,
        **{
            sc.SOURCE_SYSTEM: "psa",
            sc.TARGET_SYSTEM: "erp",
            sc.object_id_key(sc.INVOICE): f"INV-TM-{number}",
        },
    )


def silence(stack: AlertStack) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(
        f"{stack.service.base_url}/api/v1/telemetry/silence", timeout=10
    ).json()
    return answer


def missing_evidence(stack: AlertStack) -> list[dict[str, Any]]:
    period = datetime.now(UTC).strftime("%Y-%m")
    answer = httpx.get(
        f"{stack.service.base_url}/api/v1/lineage/completeness",
        params={"period": period},
        timeout=30,
    ).json()
    return list(answer["missing_evidence"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertStack]:
    with alerting_service(
        tmp_path_factory.mktemp("telemetry-alerting"), config=lambda _: CONFIG
    ) as stack:
        yield stack


class TestTelemetryMissing:
    def test_a_quiet_connector_fires_and_is_missing_evidence(self, stack: AlertStack) -> None:
        """Its last event 10 minutes ago, 5 tolerated: missing; its service (2h default) is not."""
        last = datetime.now(UTC) - timedelta(minutes=10)
        send(stack.service, posting(1, last), last)
        (alert,) = wait_for(
            lambda: missing_in_alertmanager(stack.alertmanager), "TelemetryMissing in Alertmanager"
        )
        assert alert["labels"] == {
            "alertname": "TelemetryMissing",
            "stream_kind": "source_pair",
            "stream": "psa->erp",
            "severity": "warning",
            "owner": "erp team",
        }
        streams = {s["stream"]: s for s in silence(stack)["streams"]}
        assert set(streams) == {"psa->erp", "mw-e2e"}
        assert streams["psa->erp"]["missing"] is True
        assert streams["psa->erp"]["limit_business_hours"] == pytest.approx(5 / 60, abs=1e-3)
        assert streams["psa->erp"]["silence_business_hours"] >= 10 / 60
        assert streams["mw-e2e"]["missing"] is False
        assert [s["stream"] for s in missing_evidence(stack)] == ["psa->erp"]
        # Alertmanager sends a resolution only for a group whose firing notification went out
        # (its notification log), so the next test needs the firing one delivered first.
        firing = notifications(stack.receiver, "firing")
        assert firing[0]["alerts"][0]["labels"]["stream"] == "psa->erp"

    def test_the_next_event_resolves_it(self, stack: AlertStack) -> None:
        """The connector sends again: Alertmanager resolves, nothing is missing evidence."""
        now = datetime.now(UTC)
        send(stack.service, posting(2, now), now)
        wait_for(lambda: not missing_in_alertmanager(stack.alertmanager), "the alert to resolve")
        assert silence(stack)["missing"] == 0
        assert missing_evidence(stack) == []
        resolved = notifications(stack.receiver, "resolved")
        assert resolved[0]["alerts"][0]["labels"]["stream"] == "psa->erp"
