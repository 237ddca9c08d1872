"""Prometheus Alertmanager: every firing alert is pushed to ``POST /api/v2/alerts`` and pushed
again while it fires; a resolution is pushed once with its (past) ``endsAt``. Grouping,
de-duplication, silences and routing are Alertmanager's job from there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slas.alerts import RESOLVE, Alert, Change, annotations_of, iso
from slas.notifiers import Message

BATCH = 500
"""Alerts per POST: Alertmanager accepts large arrays, but a few hundred keep requests small."""


@dataclass(frozen=True)
class AlertmanagerChannel:
    """Pushes to the Alertmanager at ``url`` (its base URL, e.g. ``http://alertmanager:9093``).

    Firing alerts carry ``endsAt`` = now + ``4 x resend``, so Alertmanager resolves them by
    itself if syncsight stops sending (as Prometheus does).
    """

    url: str
    resend: timedelta = timedelta(seconds=60)
    name: str = "alertmanager"
    resends_firing: bool = True

    def render(
        self, changes: Sequence[Change], firing: Sequence[Alert], *, now: datetime
    ) -> list[Message]:
        expires = iso(now + 4 * self.resend)  # spelt once: the same for every firing alert
        current = {alert.fingerprint: alert for alert in firing}
        told = {change.alert.fingerprint: change for change in changes}
        # what changed goes first, so that a new breach is in the first POST of a long re-send;
        # each entry: the body, the change it tells, the firing alert it pushes
        entries: list[tuple[dict[str, Any], tuple[Change, ...], tuple[str, ...]]] = []
        for key, change in told.items():
            if (alert := current.pop(key, None)) is not None:
                entries.append((alertmanager_alert(alert, ends_at=expires), (change,), (key,)))
            elif change.kind == RESOLVE:
                body = alertmanager_alert(change.alert, ends_at=iso(change.alert.ends_at))
                entries.append((body, (change,), ()))
        entries += [
            (alertmanager_alert(alert, ends_at=expires), (), (key,))
            for key, alert in current.items()
        ]
        endpoint = f"{self.url}/api/v2/alerts"
        return [
            Message(
                endpoint,
                [body for body, _, _ in batch],
                tuple(c for _, covered, _ in batch for c in covered),
                tuple(key for _, _, pushed in batch for key in pushed),
            )
            for batch in (entries[start : start + BATCH] for start in range(0, len(entries), BATCH))
        ]


def alertmanager_alert(alert: Alert, *, ends_at: str) -> dict[str, Any]:
    """One element of the ``POST /api/v2/alerts`` array; ``ends_at`` as ``slas.alerts.iso``
    spells it."""
    return {
        "labels": alert.labels,
        "annotations": annotations_of(alert),
        "startsAt": iso(alert.starts_at),
        "endsAt": ends_at,
        "generatorURL": alert.generator_url,
    }
