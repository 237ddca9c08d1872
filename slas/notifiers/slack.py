"""Slack incoming webhook: one readable message per fresh change (Slack cannot edit an earlier
message, so a resolution is a new one), and one digest for backfilled alerts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slas.alerts import (
    AT_RISK_ALERT,
    BREACHED_ALERT,
    ENDED_BY,
    ENDED_BY_BREACH,
    ESCALATE,
    RESOLVE,
    Alert,
    Change,
    annotations_of,
)
from slas.notifiers import Message

DIGEST_LINES = 15


@dataclass(frozen=True)
class SlackChannel:
    """POSTs ``{"text", "blocks"}`` to a Slack incoming-webhook ``url``."""

    url: str
    name: str = "slack"
    resends_firing: bool = False

    def render(
        self, changes: Sequence[Change], firing: Sequence[Alert], *, now: datetime
    ) -> list[Message]:
        told = [change for change in changes if not change.superseded]
        messages = [
            Message(self.url, change_message(change), (change,))
            for change in told
            if not change.stale
        ]
        stale = sorted(
            (c for c in told if c.stale), key=lambda c: (c.alert.starts_at, c.alert.fingerprint)
        )
        if stale:
            messages.append(Message(self.url, digest_message(stale), tuple(stale)))
        return messages


def change_message(change: Change) -> dict[str, Any]:
    """One alert's news: ``:red_circle: time-to-invoice-posting breached: billing_event BE-1``."""
    alert = change.alert
    labels, notes = alert.labels, annotations_of(alert)
    if alert.name not in (AT_RISK_ALERT, BREACHED_ALERT):
        return _business_message(change)
    if change.kind == RESOLVE and notes.get(ENDED_BY) == ENDED_BY_BREACH:
        icon, verb = ":red_circle:", "no longer at risk: breached"  # a group's timers breached
    elif change.kind == RESOLVE:
        icon, verb = ":large_green_circle:", "resolved"
    elif alert.name == BREACHED_ALERT:
        icon, verb = ":red_circle:", "breached"
    else:
        step = "now" if change.kind == ESCALATE else ""
        # a group of timers says the highest share its members passed
        share = notes.get("percent_elapsed") or f"{100 * alert.threshold:.0f}"
        icon, verb = (
            ":large_yellow_circle:",
            f"{step} at risk ({share} % of target)".strip(),
        )
    who = (
        f"*Legal entity* {labels['legal_entity']}  ·  *Owner* {labels['owner']}  ·  "
        f"*Severity* {labels['severity']}\n"
    )
    if "object_id" in labels:
        headline = (
            f"{icon} *{labels['sla']}* {verb}: {labels['object_type']} `{labels['object_id']}`"
        )
        amount = f"{notes['amount']} {notes['currency']}" if notes.get("amount") else "n/a"
        details = who + (
            f"*Elapsed* {notes.get('elapsed_business_hours', '?')} of "
            f"{notes.get('target_business_hours', '?')} business hours  ·  "
            f"*Deadline* {notes.get('deadline', '?')}  ·  *Amount* {amount}"
        )
        link, title = notes.get("lineage_url", ""), "Lineage"
    else:  # a group of timers (``slas.alert_groups``)
        headline = f"{icon} *{labels['sla']}* {verb}: {notes.get('timers', '?')} timers"
        details = who + (
            f"*Earliest deadline* {notes.get('earliest_deadline', '?')}  ·  "
            f"*Amounts* {notes.get('amounts') or 'n/a'}\n{notes.get('description', '')}"
        )
        link, title = notes.get("timers_url", ""), "Timers"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "text": {"type": "mrkdwn", "text": details}},
    ]
    if link.startswith("http"):
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|{title}>"}]}
        )
    return {"text": headline.replace("*", "").replace("`", ""), "blocks": blocks}


def _business_message(change: Change) -> dict[str, Any]:
    """A close-risk, blocked-money, budget-burn or other alert without a timer: its summary and
    description."""
    labels, notes = change.alert.labels, annotations_of(change.alert)
    icon, verb = (
        (":large_green_circle:", "resolved")
        if change.kind == RESOLVE
        else (":red_circle:", "firing")
    )
    headline = f"{icon} *{change.alert.name}* {verb}: {notes.get('summary', '')}"
    details = (
        f"*Legal entity* {labels.get('legal_entity', 'n/a')}  ·  "
        f"*Severity* {labels.get('severity', 'n/a')}\n{notes.get('description', '')}"
    )
    return {
        "text": headline.replace("*", ""),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {"type": "section", "text": {"type": "mrkdwn", "text": details}},
        ],
    }


def _digest_line(alert: Alert) -> str:
    labels = alert.labels
    if alert.name not in (AT_RISK_ALERT, BREACHED_ALERT) or "object_id" not in labels:
        return f"• {alert.name}: {alert.annotations.get('summary', '')}"
    return (
        f"• {labels['sla']} {labels['object_type']} `{labels['object_id']}`"
        f" ({labels['legal_entity']}, deadline {alert.annotations.get('deadline', '?')})"
    )


def _timers(alert: Alert) -> int:
    """How many timers a timer alert stands for: one, or its group's count."""
    return int(alert.annotations.get("timers", "1"))


def digest_message(changes: Sequence[Change]) -> dict[str, Any]:
    """Backfilled alerts in one message: counts per SLA and entity, then the first few."""
    by_sla = Counter(
        (c.alert.labels.get("sla", c.alert.name), c.alert.labels.get("legal_entity", ""))
        for c in changes
    )
    breached = sum(_timers(c.alert) for c in changes if c.alert.name == BREACHED_ALERT)
    at_risk = sum(_timers(c.alert) for c in changes if c.alert.name == AT_RISK_ALERT)
    others = sum(1 for c in changes if c.alert.name not in (AT_RISK_ALERT, BREACHED_ALERT))
    headline = (
        f":card_index_dividers: {breached + at_risk} SLA timers were already past a threshold "
        f"when first seen ({breached} breached, {at_risk} at risk)"
        + (f"; {others} other alerts were already firing" if others else "")
    )
    counts = "\n".join(f"• *{sla}* {entity}: {n}" for (sla, entity), n in sorted(by_sla.items()))
    lines = "\n".join(_digest_line(c.alert) for c in changes[:DIGEST_LINES])
    more = f"\n… and {len(changes) - DIGEST_LINES} more" if len(changes) > DIGEST_LINES else ""
    return {
        "text": headline.replace("*", ""),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {"type": "section", "text": {"type": "mrkdwn", "text": counts}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines + more}},
        ],
    }
