"""End to end with the real Prometheus Alertmanager: two contracts never activated burn the error
budget of time-to-project-creation (95 % over 20 business days), ``SlaBudgetBurn`` fires for both
tiers in Alertmanager and the objectives API shows the budget overspent; many contracts activated in
time make the burn fall and both resolve. ``/metrics`` counts the deliveries to Alertmanager and the
failures of a Slack webhook nobody listens on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from domain import semconv as sc
from tests.service import Service, free_port
from tests.slas.alert_stack import AlertStack, alerting_service, send_spans, wait_for
from tests.slas.test_business_alerting import business

ENTITY = "LE-E2E-BURN"
SLA = "time-to-project-creation"
CONFIG = """
[calendars.default]            # every day a business day: the test may run on a weekend
working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

[alerts.close_risk]
from_level = "off"

[[slas]]
name = "time-to-project-creation"
objective = 0.95
window = "20d"
"""


def send_all(service: Service, events: list[tuple[dict[str, Any], datetime]]) -> None:
    """Business-event spans in one OTLP/JSON request, each with its own start time."""
    send_spans(service, events, service_name="mw-burn")


def contract(name: str, signed: datetime, activated: datetime | None) -> list[Any]:
    """A contract of ``ENTITY`` signed then, and its project activated then (or never)."""
    ids = {sc.object_id_key(sc.LEGAL_ENTITY): ENTITY, sc.object_id_key(sc.CONTRACT): name}
    events = [(business(sc.CONTRACT_SIGNED, f"sign:{name}", signed, **ids), signed)]
    if activated is not None:
        project = {sc.object_id_key(sc.PROJECT): f"PRJ-{name}"}
        events.append(
            (business(sc.PROJECT_ACTIVATED, f"act:{name}", activated, **ids, **project), activated)
        )
    return events


def burning(url: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{url}/api/v2/alerts", params={"filter": 'alertname="SlaBudgetBurn"'}, timeout=10
    )
    response.raise_for_status()
    return [a for a in response.json() if a["status"]["state"] == "active"]


def metric(service: Service, name: str, **labels: str) -> float:
    text = httpx.get(f"{service.base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"{name}{labels} is not on /metrics")


def objectives(stack: AlertStack) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.service.base_url}/api/v1/slas/objectives", timeout=30)
    response.raise_for_status()
    return [o for o in response.json() if o["legal_entity"] == ENTITY]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertStack]:
    with alerting_service(
        tmp_path_factory.mktemp("budget-burn-alerting"),
        config=lambda _: CONFIG,
        # nobody listens there: every delivery to it fails
        env=lambda _: {"SYNCSIGHT_SLACK_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/hook"},
    ) as stack:
        yield stack


class TestSlaBudgetBurn:
    def test_breaches_burn_the_budget_and_fire_both_tiers(self, stack: AlertStack) -> None:
        """Two contracts past their deadline an hour ago: every timer decided lately breached
        (20x burn against 5 % allowed), so the fast and the slow tier fire."""
        now = datetime.now(UTC)
        signed = now - timedelta(days=2, hours=1)
        send_all(
            stack.service,
            contract("CTR-BURN-1", signed, None) + contract("CTR-BURN-2", signed, None),
        )
        alerts = wait_for(
            lambda: (found := burning(stack.alertmanager)) and len(found) == 2 and found,
            "SlaBudgetBurn in Alertmanager",
        )
        labels = sorted((a["labels"] for a in alerts), key=lambda labels: labels["window"])
        assert labels == [
            {
                "alertname": "SlaBudgetBurn",
                "sla": SLA,
                "legal_entity": ENTITY,
                "window": window,
                "severity": severity,
                "owner": "sales-operations",
            }
            for window, severity in (("1d", "critical"), ("5d", "warning"))
        ]
        (objective,) = objectives(stack)
        assert (objective["sla"], objective["objective"], objective["window"]) == (SLA, 0.95, "20d")
        assert (objective["met"], objective["breached"]) == (0, 2)
        assert objective["budget_left"] == pytest.approx(1 - 2 / 0.1)
        assert all(burn["firing"] for burn in objective["burn_rates"])
        assert (
            metric(
                stack.service,
                "syncsight_notifications_total",
                channel="alertmanager",
                outcome="sent",
            )
            >= 1
        )
        assert (
            metric(
                stack.service, "syncsight_notifications_total", channel="slack", outcome="failed"
            )
            >= 1
        )

    def test_timers_met_in_time_make_the_burn_fall_and_resolve_it(self, stack: AlertStack) -> None:
        """48 contracts activated within minutes: 2 breaches in 50 burn 0.8x, below both tiers."""
        now = datetime.now(UTC)
        events = [
            event
            for number in range(48)
            for event in contract(
                f"CTR-OK-{number}", now - timedelta(minutes=10), now - timedelta(minutes=5)
            )
        ]
        send_all(stack.service, events)
        wait_for(lambda: not burning(stack.alertmanager), "SlaBudgetBurn to resolve")
        (objective,) = objectives(stack)
        assert (objective["met"], objective["breached"]) == (48, 2)
        assert not any(burn["firing"] for burn in objective["burn_rates"])
        resolved = wait_for(
            lambda: [
                alert
                for body in stack.receiver.received("/alertmanager")
                if body["status"] == "resolved"
                for alert in body["alerts"]
                if alert["labels"]["alertname"] == "SlaBudgetBurn"
            ],
            "Alertmanager's resolved notification",
        )
        assert {alert["labels"]["sla"] for alert in resolved} == {SLA}
