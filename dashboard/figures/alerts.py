"""Alerts: the answers of ``GET /api/v1/alerts`` (``AlertOut``, Alertmanager's labels and
annotations) as firing and recently resolved rows, and a timeline of when each fired."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.money import DANGER, SAFE
from slas.models import AlertOut

FIRING = "firing"


def alert_row(alert: AlertOut) -> dict[str, Any]:
    """One table row: the alert's name and object, severity, entity, owner, summary, times."""
    labels = alert.labels
    return {
        "alert": labels.get("alertname", "alert"),
        "status": alert.status,
        "severity": labels.get("severity", ""),
        "summary": alert.annotations.get("summary", ""),
        "legal_entity": labels.get("legal_entity", ""),
        "owner": labels.get("owner", ""),
        "started": alert.starts_at,
        "ended": alert.ends_at,
    }


def split_alerts(alerts: Iterable[AlertOut]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(firing, resolved) rows, the newest first."""
    rows = [alert_row(alert) for alert in alerts]

    def newest_first(row: Mapping[str, Any]) -> float:
        moment: datetime = row["ended"] or row["started"]
        return -moment.timestamp()

    firing = [r for r in rows if r["status"] == FIRING]
    resolved = [r for r in rows if r["status"] != FIRING]
    return sorted(firing, key=newest_first), sorted(resolved, key=newest_first)


def timeline(rows: Sequence[Mapping[str, Any]], now: datetime) -> go.Figure:
    """One bar per alert from when it fired to when it resolved (or ``now``)."""
    figure = go.Figure(
        go.Bar(
            base=[r["started"] for r in rows],
            x=[((r["ended"] or now) - r["started"]).total_seconds() * 1000 for r in rows],
            y=[f"{r['alert']} {r['legal_entity']}".strip() for r in rows],
            orientation="h",
            marker_color=[SAFE if r["ended"] else DANGER for r in rows],
            hovertext=[r["summary"] for r in rows],
        )
    )
    figure.update_layout(
        height=max(200, 28 * len(rows) + 80),
        margin={"t": 20, "b": 10, "l": 10, "r": 10},
        xaxis={"type": "date", "tickformat": "%d %b %H:%M"},
        yaxis={"autorange": "reversed"},
    )
    return figure
