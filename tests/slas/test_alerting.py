"""End to end with a real Prometheus Alertmanager: a never-activated contract becomes an alert in
Alertmanager, resolves when the project is activated, and a restart of the service notifies
nobody twice (the webhook receivers are run by the test)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain import semconv as sc
from tests.service import Service, start_service, stop_service
from tests.slas.alert_stack import (
    Receiver,
    notifications,
    send_spans,
    start_alertmanager,
    start_receiver,
    wait_for,
)

SIGNED_AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
"""A Monday: two business days later the contract is overdue, so it is breached on first sight."""
CONTRACT = "CTR-E2E-0001"


def send(service: Service, event_type: str, objects: dict[str, str], when: datetime) -> None:
    """One business-event span over OTLP/JSON with an explicit start time."""
    attributes = {
        sc.EVENT_TYPE: event_type,
        sc.EVENT_ID: f"{event_type}:{next(iter(objects.values()))}",
        sc.OUTCOME: sc.SUCCESS,
        sc.PERIOD: when.strftime("%Y-%m"),
        **{sc.object_id_key(kind): value for kind, value in objects.items()},
    }
    send_spans(service, [(attributes, when)])


def alertmanager_alerts(url: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{url}/api/v2/alerts", params={"filter": f'object_id="{CONTRACT}"'}, timeout=10
    )
    response.raise_for_status()
    return [alert for alert in response.json() if alert["status"]["state"] == "active"]


@dataclass
class Stack:
    alertmanager: str
    receiver: Receiver
    data: Path
    env: dict[str, str]
    service: Service | None = None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("alerting")
    receiver = start_receiver()
    process, url = start_alertmanager(directory, f"{receiver.url}/alertmanager")
    env = {
        "SYNCSIGHT_ALERTMANAGER_URL": url,
        "SYNCSIGHT_WEBHOOK_URL": f"{receiver.url}/syncsight",
        "SYNCSIGHT_SLA_INTERVAL": "0.5",
    }
    stack = Stack(url, receiver, directory, env)
    try:
        yield stack
    finally:
        if stack.service is not None:
            stop_service(stack.service)
        process.terminate()
        process.wait(timeout=30)
        receiver.server.shutdown()
        receiver.server.server_close()


class TestAlertmanager:
    def test_a_never_activated_contract_fires_in_alertmanager(self, stack: Stack) -> None:
        """The breach arrives as its own alert, labelled by the timer, fingerprinted alike."""
        stack.service = start_service(stack.data, env=stack.env)
        send(
            stack.service,
            sc.CONTRACT_SIGNED,
            {sc.CONTRACT: CONTRACT, sc.LEGAL_ENTITY: "LE-DE01"},
            SIGNED_AT,
        )
        (alert,) = wait_for(
            lambda: alertmanager_alerts(stack.alertmanager), "the alert in Alertmanager"
        )
        assert alert["labels"] == {
            "alertname": "SlaBreached",
            "sla": "time-to-project-creation",
            "legal_entity": "LE-DE01",
            "severity": "warning",
            "owner": "sales-operations",
            "object_type": "contract",
            "object_id": CONTRACT,
            "cycle": f"contract.signed:{CONTRACT}",
        }
        assert alert["annotations"]["deadline"] == "2026-11-04T10:00:00Z"
        ours = httpx.get(f"{stack.service.base_url}/api/v1/alerts", timeout=10).json()
        assert [a["fingerprint"] for a in ours] == [alert["fingerprint"]]
        firing = wait_for(
            lambda: stack.receiver.received("/alertmanager"), "Alertmanager's webhook"
        )
        assert firing[0]["alerts"][0]["labels"]["object_id"] == CONTRACT

    def test_the_breach_seen_first_is_one_digest_on_the_webhook(self, stack: Stack) -> None:
        """Already breached when first seen: the direct channel gets a single digest."""
        (digest,) = wait_for(lambda: stack.receiver.received("/syncsight"), "syncsight's webhook")
        assert digest["version"] == "4"
        assert digest["status"] == "firing"
        assert digest["groupKey"].startswith('{}/{syncsight="backfill-digest"}')
        assert [a["labels"]["object_id"] for a in digest["alerts"]] == [CONTRACT]

    def test_activating_the_project_resolves_the_alert(self, stack: Stack) -> None:
        """The timer completes (late): Alertmanager resolves it and both webhooks say so."""
        assert stack.service is not None
        send(
            stack.service,
            sc.PROJECT_ACTIVATED,
            {sc.PROJECT: "PRJ-E2E-0001", sc.CONTRACT: CONTRACT},
            datetime.now(UTC),
        )
        wait_for(lambda: not alertmanager_alerts(stack.alertmanager), "the alert to resolve")
        resolved = notifications(stack.receiver, "resolved")
        assert resolved[0]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        ours = wait_for(lambda: stack.receiver.received("/syncsight")[1:], "syncsight's resolution")
        assert [body["status"] for body in ours] == ["resolved"]
        listed = httpx.get(f"{stack.service.base_url}/api/v1/alerts", timeout=10).json()
        assert [(a["status"], a["notified"]) for a in listed] == [
            ("resolved", ["alertmanager", "webhook"])
        ]

    def test_a_restart_notifies_nobody_again(self, stack: Stack) -> None:
        """State in ClickHouse: after a restart and several evaluations, nothing new arrives."""
        assert stack.service is not None
        before = len(stack.receiver.received("/syncsight"))
        stop_service(stack.service)
        stack.service = start_service(stack.data, env=stack.env)
        listed = wait_for(
            lambda: (
                httpx.get(f"{stack.service.base_url}/api/v1/alerts", timeout=10).json()
                if stack.service
                else None
            ),
            "the restarted service to know its alert",
        )
        assert [a["status"] for a in listed] == ["resolved"]
        time.sleep(3)  # six evaluation intervals
        assert len(stack.receiver.received("/syncsight")) == before == 2
        assert alertmanager_alerts(stack.alertmanager) == []
