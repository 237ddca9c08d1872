"""End to end with a real Prometheus Alertmanager and ``[notifications] timer_alerts = "grouped"``:
three breached contracts of one legal entity are one alert in Alertmanager counting them, one
message on the webhook, and the alert resolves once the last of them is activated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain import semconv as sc
from tests.slas.alert_stack import AlertStack, alerting_service, send_spans, wait_for

ENTITY = "LE-E2E-GROUP"
SIGNED_AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
"""A Monday: two business days later each contract is overdue, breached on first sight."""
CONTRACTS = {"CTR-GRP-1": 1000.0, "CTR-GRP-2": 250.5, "CTR-GRP-3": 99.0}
CURRENCIES = {"CTR-GRP-1": "EUR", "CTR-GRP-2": "EUR", "CTR-GRP-3": "USD"}


def event(
    event_type: str, contract: str, when: datetime, **more: Any
) -> tuple[dict[str, Any], datetime]:
    attributes = {
        sc.EVENT_TYPE: event_type,
        sc.EVENT_ID: f"{event_type}:{contract}",
        sc.OUTCOME: sc.SUCCESS,
        sc.PERIOD: when.strftime("%Y-%m"),
        sc.object_id_key(sc.CONTRACT): contract,
        **more,
    }
    return attributes, when


def ours(url: str) -> list[dict[str, Any]]:
    """The active alerts of the entity in Alertmanager."""
    response = httpx.get(
        f"{url}/api/v2/alerts", params={"filter": f'legal_entity="{ENTITY}"'}, timeout=10
    )
    response.raise_for_status()
    return [a for a in response.json() if a["status"]["state"] == "active"]


def alerts(stack: AlertStack) -> list[dict[str, Any]]:
    """The service's own record (``GET /api/v1/alerts``)."""
    response = httpx.get(f"{stack.service.base_url}/api/v1/alerts", timeout=10)
    response.raise_for_status()
    return list(response.json())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertStack]:
    with alerting_service(
        tmp_path_factory.mktemp("grouped-alerting"),
        config=lambda _: '[notifications]\ntimer_alerts = "grouped"\n',
        env=lambda receiver: {"SYNCSIGHT_WEBHOOK_URL": f"{receiver.url}/syncsight"},
    ) as stack:
        yield stack


class TestGroupedTimerAlerts:
    def test_breached_timers_of_one_group_are_one_alert(self, stack: AlertStack) -> None:
        """Three contracts, one alert: no object labels, its timers counted, money per currency."""
        send_spans(
            stack.service,
            [
                event(
                    sc.CONTRACT_SIGNED,
                    contract,
                    SIGNED_AT + timedelta(minutes=number),
                    **{
                        sc.object_id_key(sc.LEGAL_ENTITY): ENTITY,
                        sc.AMOUNT: amount,
                        sc.CURRENCY: CURRENCIES[contract],
                    },
                )
                for number, (contract, amount) in enumerate(CONTRACTS.items())
            ],
        )
        (alert,) = wait_for(
            lambda: [a for a in ours(stack.alertmanager) if a["annotations"]["timers"] == "3"],
            "one alert of three timers in Alertmanager",
        )
        assert alert["labels"] == {
            "alertname": "SlaBreached",
            "sla": "time-to-project-creation",
            "legal_entity": ENTITY,
            "severity": "warning",
            "owner": "sales-operations",
        }
        assert alert["annotations"]["amounts"] == "1250.50 EUR; 99.00 USD"
        assert alert["annotations"]["earliest_deadline"] == "2026-11-04T10:00:00Z"
        assert alert["startsAt"].startswith("2026-11-04T10:00:00")
        assert len(ours(stack.alertmanager)) == 1
        assert [a["fingerprint"] for a in alerts(stack)] == [alert["fingerprint"]]
        (digest,) = wait_for(lambda: stack.receiver.received("/syncsight"), "syncsight's webhook")
        assert [a["annotations"]["timers"] for a in digest["alerts"]] == ["3"]

    def test_the_alert_resolves_when_its_last_timer_stops(self, stack: AlertStack) -> None:
        """Two projects activated: still one alert, of one timer; the third: resolved."""
        now = datetime.now(UTC)
        project = sc.object_id_key(sc.PROJECT)
        first, second, last = CONTRACTS
        send_spans(
            stack.service,
            [
                event(sc.PROJECT_ACTIVATED, first, now, **{project: "PRJ-GRP-1"}),
                event(sc.PROJECT_ACTIVATED, second, now, **{project: "PRJ-GRP-2"}),
            ],
        )
        wait_for(
            lambda: [a["annotations"]["timers"] for a in alerts(stack)] == ["1"],
            "the group down to one timer",
        )
        # not news for anyone: Alertmanager gets the new count with the next re-send
        assert len(ours(stack.alertmanager)) == 1
        assert len(stack.receiver.received("/syncsight")) == 1
        send_spans(stack.service, [event(sc.PROJECT_ACTIVATED, last, now, **{project: "PRJ-3"})])
        wait_for(lambda: not ours(stack.alertmanager), "the alert to resolve")
        assert [a["status"] for a in alerts(stack)] == ["resolved"]
        told = wait_for(lambda: stack.receiver.received("/syncsight")[1:], "the resolution")
        assert [body["status"] for body in told] == ["resolved"]
