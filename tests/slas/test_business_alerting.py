"""End to end with the real Prometheus Alertmanager: a failed invoice posting makes its legal entity's
close risk rise and its blocked money cross the configured threshold, both fire in Alertmanager and
on the webhooks (the shared one, and the one of the team that owns the fix, not another team's),
and both resolve once a later attempt of the posting succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain import semconv as sc
from tests.service import Service
from tests.slas.alert_stack import AlertStack, alerting_service, send_spans, wait_for

ENTITY = "LE-E2E-CLOSE"


def config(receiver: str) -> str:
    """BlockedMoney over 100,000 EUR, and a webhook of their own for two teams."""
    return f"""
[alerts.blocked_money."{ENTITY}"]
EUR = 100000

[notifications.owners."finance operations"]
webhook_url = "{receiver}/finance"

[notifications.owners."master data team"]
webhook_url = "{receiver}/master-data"
"""


def send(service: Service, attributes: dict[str, Any], when: datetime) -> None:
    """One span over OTLP/JSON carrying ``attributes`` (strings, or floats as doubles)."""
    send_spans(service, [(attributes, when)])


def business(event_type: str, event_id: str, when: datetime, **more: Any) -> dict[str, Any]:
    return {
        sc.EVENT_TYPE: event_type,
        sc.EVENT_ID: event_id,
        sc.OUTCOME: sc.SUCCESS,
        sc.PERIOD: when.strftime("%Y-%m"),
        **more,
    }


def ours(url: str) -> list[dict[str, Any]]:
    """Active CloseRisk and BlockedMoney alerts in Alertmanager."""
    response = httpx.get(
        f"{url}/api/v2/alerts",
        params={"filter": f'legal_entity="{ENTITY}"', "active": "true", "silenced": "false"},
        timeout=10,
    )
    response.raise_for_status()
    return [a for a in response.json() if a["status"]["state"] == "active"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertStack]:
    with alerting_service(
        tmp_path_factory.mktemp("business-alerting"),
        config=lambda receiver: config(receiver.url),
        env=lambda receiver: {"SYNCSIGHT_WEBHOOK_URL": f"{receiver.url}/syncsight"},
    ) as stack:
        yield stack


class TestCloseRiskAndBlockedMoney:
    def test_a_failed_posting_fires_close_risk_and_blocked_money(self, stack: AlertStack) -> None:
        """200,000 EUR blocked: 80 % of the default materiality (high), over the 100,000 limit."""
        now = datetime.now(UTC)
        project = {sc.object_id_key(sc.PROJECT): "PRJ-CR-1"}
        entity = {sc.object_id_key(sc.LEGAL_ENTITY): ENTITY}
        money = {sc.AMOUNT: 200000.0, sc.CURRENCY: "EUR"}
        billing = {sc.object_id_key(sc.BILLING_EVENT): "BE-CR-1"}
        send(
            stack.service,
            business(
                sc.PROJECT_ACTIVATED, "act:PRJ-CR-1", now - timedelta(hours=2), **project, **entity
            ),
            now - timedelta(hours=2),
        )
        send(
            stack.service,
            business(
                sc.BILLING_READY,
                "ready:BE-CR-1",
                now - timedelta(hours=1),
                **billing,
                **project,
                **money,
            ),
            now - timedelta(hours=1),
        )
        posting = business(
            sc.INVOICE_POSTED,
            "post:INV-CR-1",
            now - timedelta(minutes=30),
            **{sc.object_id_key(sc.INVOICE): "INV-CR-1"},
            **billing,
            **project,
            **entity,
            **money,
        )
        send(
            stack.service,
            {**posting, sc.OUTCOME: sc.FAILED, sc.ERROR_CATEGORY: sc.VALIDATION},
            now - timedelta(minutes=30),
        )
        firing = wait_for(
            lambda: (
                {a["labels"]["alertname"] for a in ours(stack.alertmanager)}
                >= {"CloseRisk", "BlockedMoney"}
                and ours(stack.alertmanager)
            ),
            "CloseRisk and BlockedMoney in Alertmanager",
        )
        by_name = {a["labels"]["alertname"]: a for a in firing}
        assert by_name["CloseRisk"]["labels"] == {
            "alertname": "CloseRisk",
            "legal_entity": ENTITY,
            "period": now.strftime("%Y-%m"),
            "level": "high",
            "severity": "error",
            "owner": "finance operations",
        }
        assert by_name["BlockedMoney"]["labels"]["currency"] == "EUR"
        assert by_name["BlockedMoney"]["labels"]["owner"] == "finance operations"
        assert by_name["BlockedMoney"]["annotations"]["blocked_amount"] == "200000.00"
        # Alertmanager may tell the two in separate notifications: wait for both (or fail)
        wait_for(
            lambda: (
                (
                    names := {
                        a["labels"]["alertname"]
                        for body in stack.receiver.received("/syncsight")
                        for a in body["alerts"]
                        if body["status"] == "firing"
                    }
                )
                >= {"CloseRisk", "BlockedMoney"}
                and names
            ),
            "CloseRisk and BlockedMoney at syncsight's webhook",
        )
        finance = wait_for(
            lambda: (
                {
                    a["labels"]["alertname"]
                    for body in stack.receiver.received("/finance")
                    for a in body["alerts"]
                }
                >= {"CloseRisk", "BlockedMoney"}
            ),
            "the finance team's own webhook",
        )
        assert finance
        assert stack.receiver.received("/master-data") == []
        # and the posting keeps being retried and failing: still firing, once
        send(
            stack.service,
            {**posting, sc.OUTCOME: sc.FAILED, sc.ERROR_CATEGORY: sc.VALIDATION},
            now - timedelta(minutes=10),
        )
        assert len(ours(stack.alertmanager)) == 2

    def test_a_later_successful_posting_resolves_both(self, stack: AlertStack) -> None:
        """The retry succeeds: nothing is blocked, nothing at risk; Alertmanager resolves both."""
        now = datetime.now(UTC)
        posting = business(
            sc.INVOICE_POSTED,
            "post:INV-CR-1",
            now,
            **{sc.object_id_key(sc.INVOICE): "INV-CR-1"},
            **{sc.object_id_key(sc.BILLING_EVENT): "BE-CR-1"},
            **{sc.object_id_key(sc.PROJECT): "PRJ-CR-1"},
            **{sc.object_id_key(sc.LEGAL_ENTITY): ENTITY},
            **{sc.AMOUNT: 200000.0, sc.CURRENCY: "EUR"},
        )
        send(stack.service, posting, now)
        wait_for(lambda: not ours(stack.alertmanager), "both alerts to resolve in Alertmanager")
        resolved = wait_for(
            lambda: (
                {
                    a["labels"]["alertname"]
                    for body in stack.receiver.received("/syncsight")
                    for a in body["alerts"]
                    if body["status"] == "resolved"
                }
                >= {"CloseRisk", "BlockedMoney"}
            ),
            "syncsight's webhook to tell both resolutions",
        )
        assert resolved
        listed = httpx.get(
            f"{stack.service.base_url}/api/v1/alerts",
            params={"legal_entity": ENTITY},
            timeout=10,
        ).json()
        assert {(a["labels"]["alertname"], a["status"]) for a in listed} == {
            ("CloseRisk", "resolved"),
            ("BlockedMoney", "resolved"),
        }
