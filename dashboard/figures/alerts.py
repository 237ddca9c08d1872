"""Alerts: the answer of ``GET /api/v1/alerts`` split into firing and recently resolved rows, and
a timeline of when each fired. Accepts a list of alerts or an object of lists, with our own field
names or Alertmanager's (labels, annotations, startsAt, endsAt)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.blocked import parse_time
from dashboard.figures.money import DANGER, SAFE

FIRING_STATES = frozenset({"firing", "active", "open", "pending"})
NEVER_ENDS = "0001-01-01"  # Alertmanager's endsAt of a firing alert


def alert_list(answer: Any) -> list[Mapping[str, Any]]:
    """Every alert in the answer, whatever envelope it came in."""
    if isinstance(answer, list):
        return [a for a in answer if isinstance(a, Mapping)]
    if isinstance(answer, Mapping):
        found: list[Mapping[str, Any]] = []
        for key, value in answer.items():
            if isinstance(value, list):
                state = "resolved" if "resolved" in key else "firing" if "firing" in key else None
                for alert in value:
                    if isinstance(alert, Mapping):
                        found.append(
                            {**alert, "status": alert.get("status") or state} if state else alert
                        )
        return found
    return []


def _first(alert: Mapping[str, Any], *names: str) -> Any:
    labels = alert.get("labels") or {}
    annotations = alert.get("annotations") or {}
    for name in names:
        for source in (alert, labels, annotations):
            if isinstance(source, Mapping) and source.get(name) not in (None, ""):
                return source[name]
    return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or value.startswith(NEVER_ENDS):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def alert_row(alert: Mapping[str, Any]) -> dict[str, Any]:
    status = _first(alert, "status", "state")
    if isinstance(status, Mapping):  # Alertmanager's read API: {"state": "active", …}
        status = status.get("state")
    ended = _time(_first(alert, "ended_at", "resolved_at", "endsAt", "ends_at"))
    return {
        "alert": _first(alert, "name", "alertname", "sla") or "alert",
        "status": str(status or ("resolved" if ended else "firing")),
        "severity": _first(alert, "severity") or "",
        "summary": _first(alert, "summary", "message", "description") or "",
        "legal_entity": _first(alert, "legal_entity") or "",
        "owner": _first(alert, "owner", "team") or "",
        "started": _time(_first(alert, "started_at", "startsAt", "starts_at", "fired_at")),
        "ended": ended,
    }


def split_alerts(answer: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(firing, resolved) rows, newest first."""
    rows = [alert_row(alert) for alert in alert_list(answer)]
    firing = [r for r in rows if r["status"].lower() in FIRING_STATES]
    resolved = [r for r in rows if r["status"].lower() not in FIRING_STATES]

    def newest_first(row: Mapping[str, Any]) -> float:
        moment = row["ended"] or row["started"]
        return -moment.timestamp() if moment else 0.0

    return sorted(firing, key=newest_first), sorted(resolved, key=newest_first)


def timeline(rows: Sequence[Mapping[str, Any]], now: datetime) -> go.Figure:
    """One bar per alert from when it fired to when it resolved (or ``now``)."""
    shown = [r for r in rows if r.get("started")]
    figure = go.Figure(
        go.Bar(
            base=[r["started"] for r in shown],
            x=[((r["ended"] or now) - r["started"]).total_seconds() * 1000 for r in shown],
            y=[f"{r['alert']} {r['legal_entity']}".strip() for r in shown],
            orientation="h",
            marker_color=[SAFE if r["ended"] else DANGER for r in shown],
            hovertext=[r["summary"] for r in shown],
        )
    )
    figure.update_layout(
        height=max(200, 28 * len(shown) + 80),
        margin={"t": 20, "b": 10, "l": 10, "r": 10},
        xaxis={"type": "date"},
        yaxis={"autorange": "reversed"},
    )
    return figure
