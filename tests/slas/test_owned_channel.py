"""A team's own channel hears only the alerts labelled with the team, through the real dispatcher
and a real HTTP receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slas.alerts import Alert
from slas.dispatch import Dispatcher
from slas.notifiers.owned import OwnedChannel
from slas.notifiers.webhook import WebhookChannel
from tests.slas.alert_stack import start_receiver

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def alert(name: str, owner: str) -> Alert:
    return Alert(
        labels={"alertname": name, "legal_entity": "LE-DE01", "owner": owner},
        annotations={"summary": name},
        starts_at=NOW,
        crossed_at=NOW,
    )


class TestOwnedChannel:
    def test_each_team_hears_its_own_alerts_only(self) -> None:
        """Finance gets CloseRisk, the platform team TelemetryMissing; each once, by name."""
        receiver = start_receiver()
        try:
            channels = [
                OwnedChannel(WebhookChannel(f"{receiver.url}/finance"), "finance operations"),
                OwnedChannel(WebhookChannel(f"{receiver.url}/platform"), "platform team"),
            ]
            dispatcher = Dispatcher(
                channels, None, grace=timedelta(minutes=5), resend=timedelta(minutes=1)
            )
            record = {
                a.fingerprint: a
                for a in (
                    alert("CloseRisk", "finance operations"),
                    alert("TelemetryMissing", "platform team"),
                    alert("BlockedMoney", "someone else"),
                )
            }
            dispatcher.dispatch(record, now=NOW)
            dispatcher.dispatch(record, now=NOW + timedelta(seconds=15))
            dispatcher.close()
            told = {
                path: [
                    a["labels"]["alertname"]
                    for body in receiver.received(path)
                    for a in body["alerts"]
                ]
                for path in ("/finance", "/platform")
            }
            assert told == {"/finance": ["CloseRisk"], "/platform": ["TelemetryMissing"]}
            assert [c.name for c in channels] == [
                "webhook:finance operations",
                "webhook:platform team",
            ]
        finally:
            receiver.server.shutdown()
            receiver.server.server_close()
