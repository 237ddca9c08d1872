"""A generic webhook that speaks Alertmanager's webhook payload (version "4"), so receivers built
for Alertmanager work unchanged. One message per fresh change; backfilled alerts as one digest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slas.alerts import FIRING, RESOLVED, Alert, Change, annotations_of, iso
from slas.notifiers import Message

RECEIVER = "syncsight"


@dataclass(frozen=True)
class WebhookChannel:
    """POSTs Alertmanager v4 payloads to ``url``; ``external_url`` is syncsight's public URL."""

    url: str
    external_url: str = ""
    name: str = "webhook"
    resends_firing: bool = False

    def render(
        self, changes: Sequence[Change], firing: Sequence[Alert], *, now: datetime
    ) -> list[Message]:
        # A superseded resolution (at risk → breached) is told by the breach message.
        told = [change for change in changes if not change.superseded]
        fresh = [change for change in told if not change.stale]
        stale = sorted(
            (c for c in told if c.stale), key=lambda c: (c.alert.starts_at, c.alert.fingerprint)
        )
        messages = [
            Message(self.url, self.payload([change.alert], group="timer"), (change,))
            for change in fresh
        ]
        if stale:
            body = self.payload([change.alert for change in stale], group="backfill-digest")
            messages.append(Message(self.url, body, tuple(stale)))
        return messages

    def payload(self, alerts: Sequence[Alert], *, group: str) -> dict[str, Any]:
        """The Alertmanager webhook body for ``alerts`` (one group)."""
        common_labels = _common(alert.labels for alert in alerts)
        bodies = [webhook_alert(alert) for alert in alerts]  # each alert's annotations spelt once
        common_annotations = _common(body["annotations"] for body in bodies)
        status = RESOLVED if all(a.status == RESOLVED for a in alerts) else FIRING
        group_labels = (
            {"alertname": common_labels["alertname"]} if "alertname" in common_labels else {}
        )
        return {
            "version": "4",
            "groupKey": f'{{}}/{{syncsight="{group}"}}:'
            + "{"
            + ", ".join(f'{k}="{v}"' for k, v in sorted(common_labels.items()))
            + "}",
            "truncatedAlerts": 0,
            "status": status,
            "receiver": RECEIVER,
            "groupLabels": group_labels,
            "commonLabels": common_labels,
            "commonAnnotations": common_annotations,
            "externalURL": self.external_url,
            "alerts": bodies,
        }


def webhook_alert(alert: Alert) -> dict[str, Any]:
    return {
        "status": alert.status,
        "labels": alert.labels,
        "annotations": annotations_of(alert),
        "startsAt": iso(alert.starts_at),
        "endsAt": iso(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def _common(mappings: Any) -> dict[str, str]:
    items = [dict(m) for m in mappings]
    if not items:
        return {}
    first = items[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in items[1:])}
