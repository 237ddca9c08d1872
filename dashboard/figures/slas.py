"""Business SLAs: attainment over time, business durations against the target, breaches and
at-risk timers by week, and the open at-risk timers, from ``/api/v1/slas`` and its timers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.blocked import parse_time
from dashboard.figures.money import DANGER, MUTED, SAFE, WARNING, format_money

Sla = Mapping[str, Any]
Timer = Mapping[str, Any]

BUSINESS_DAY_HOURS = (
    24.0  # a business day is 24 business hours (as the simulator's truth counts it)
)
STATE_COLOURS = {"met": SAFE, "on_track": "#8fc1e3", "at_risk": WARNING, "breached": DANGER}
_TARGET_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhm])")


def target_hours(sla: Sla) -> float | None:
    """The target in business hours: a numeric field if given, else the ``target`` text parsed
    (``"2d"``, ``"36h"``, ``"1d 4h"``, ``"90m"``) or a number of hours."""
    for name in ("target_business_hours", "target_hours"):
        if isinstance(sla.get(name), int | float):
            return float(sla[name])
    target = sla.get("target")
    if isinstance(target, int | float):
        return float(target)
    parts = _TARGET_PART.findall(str(target or ""))
    if not parts:
        return None
    scale = {"d": BUSINESS_DAY_HOURS, "h": 1.0, "m": 1 / 60}
    return sum(float(number) * scale[unit] for number, unit in parts)


def attainment_share(sla: Sla) -> float | None:
    """Attainment as a share in [0, 1] (the API may give a share or a percentage)."""
    value = sla.get("attainment")
    if not isinstance(value, int | float):
        return None
    return float(value) / 100 if value > 1 else float(value)


def trend_snapshots(points: Iterable[Mapping[str, Any]]) -> list[tuple[datetime, list[Sla]]]:
    """``GET /api/v1/slas/trend`` as (moment, SLA summaries) pairs, oldest first; points whose
    time cannot be read are left out."""
    snapshots = []
    for point in points:
        try:
            moment = parse_time(str(point.get("as_of") or ""))
        except ValueError:
            continue
        if moment is None:
            continue
        snapshots.append((moment, [s for s in point.get("slas") or [] if isinstance(s, Mapping)]))
    return sorted(snapshots, key=lambda pair: pair[0])


def attainment_trend(snapshots: Sequence[tuple[datetime, Sequence[Sla]]]) -> go.Figure:
    """One line per SLA: attainment at each as-of moment of ``snapshots``."""
    series: dict[str, list[tuple[datetime, float]]] = {}
    for moment, slas in sorted(snapshots, key=lambda pair: pair[0]):
        for sla in slas:
            share = attainment_share(sla)
            if share is not None:
                series.setdefault(str(sla.get("name")), []).append((moment, share * 100))
    figure = go.Figure(
        [
            go.Scatter(
                x=[m for m, _ in points],
                y=[v for _, v in points],
                mode="lines+markers",
                name=name,
                hovertemplate=name + "<br>%{x|%Y-%m-%d}: %{y:.1f} %<extra></extra>",
            )
            for name, points in sorted(series.items())
        ]
    )
    figure.update_layout(
        height=300,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        yaxis={"title": "attainment %", "range": [0, 105]},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def sla_rows(slas: Iterable[Sla]) -> list[dict[str, Any]]:
    rows = []
    for sla in slas:
        counts = sla.get("counts") or {}
        share = attainment_share(sla)
        rows.append(
            {
                "sla": sla.get("name", ""),
                "target": sla.get("target", ""),
                "attainment_%": None if share is None else round(share * 100, 1),
                "met": counts.get("met", 0),
                "breached": counts.get("breached", 0),
                "at_risk": counts.get("at_risk", 0),
                "on_track": counts.get("on_track", 0),
                "p50_business_hours": sla.get("p50_business_hours"),
                "p95_business_hours": sla.get("p95_business_hours"),
            }
        )
    return rows


def duration_histogram(timers: Sequence[Timer], target: float | None) -> go.Figure:
    """Business hours of every timer, stacked by state, with the target as a vertical line."""
    states = sorted({str(t.get("state", "")) for t in timers}, key=_state_order)
    figure = go.Figure(
        [
            go.Histogram(
                x=[
                    t.get("business_elapsed_hours")
                    for t in timers
                    if t.get("state") == state and t.get("business_elapsed_hours") is not None
                ],
                name=state,
                marker_color=STATE_COLOURS.get(state, MUTED),
                nbinsx=40,
            )
            for state in states
        ]
    )
    if target is not None:
        figure.add_vline(
            x=target,
            line_dash="dash",
            line_color=DANGER,
            annotation_text=f"target {target:g} h",
            annotation_position="top right",
        )
    figure.update_layout(
        barmode="stack",
        height=320,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        xaxis_title="business hours",
        yaxis_title="timers",
    )
    return figure


def _state_order(state: str) -> int:
    order = list(STATE_COLOURS)
    return order.index(state) if state in order else len(order)


def week_of(moment: datetime) -> datetime:
    """Monday 00:00 of the week ``moment`` falls in (same time zone)."""
    day = moment - timedelta(days=moment.weekday())
    return day.replace(hour=0, minute=0, second=0, microsecond=0)


def breaches_over_time(timers: Iterable[Timer]) -> go.Figure:
    """Breached and at-risk timers per week of their deadline."""
    counts: dict[tuple[str, datetime], int] = {}
    for timer in timers:
        state = str(timer.get("state", ""))
        deadline = parse_time(timer.get("deadline"))
        if state in ("breached", "at_risk") and deadline is not None:
            key = (state, week_of(deadline))
            counts[key] = counts.get(key, 0) + 1
    figure = go.Figure(
        [
            go.Bar(
                name=state,
                x=sorted(week for s, week in counts if s == state),
                y=[counts[(state, w)] for w in sorted(w for s, w in counts if s == state)],
                marker_color=STATE_COLOURS[state],
            )
            for state in ("breached", "at_risk")
        ]
    )
    figure.update_layout(
        barmode="stack",
        height=300,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        xaxis_title="week of the deadline",
        yaxis_title="timers",
    )
    return figure


def open_at_risk_rows(timers: Iterable[Timer], as_of: datetime) -> list[dict[str, Any]]:
    """Open at-risk timers, soonest deadline first, with the hours left until it."""
    rows = []
    for timer in timers:
        if timer.get("state") != "at_risk" or timer.get("stopped_at"):
            continue
        deadline = parse_time(timer.get("deadline"))
        key = timer.get("key") or {}
        rows.append(
            {
                "key": f"{key.get('type', '')} {key.get('id', '')}".strip(),
                "legal_entity": timer.get("legal_entity", ""),
                "started_at": parse_time(timer.get("started_at")),
                "deadline": deadline,
                "hours_to_deadline": None
                if deadline is None
                else round((deadline - as_of) / timedelta(hours=1), 1),
                "business_elapsed_hours": timer.get("business_elapsed_hours"),
                "amount": timer.get("amount"),
            }
        )
    far = datetime.max.replace(tzinfo=as_of.tzinfo)
    return sorted(rows, key=lambda r: (r["deadline"] or far, r["key"]))


def attainment_label(sla: Sla) -> str:
    share = attainment_share(sla)
    return "—" if share is None else f"{share * 100:.1f} %"


def amount_label(timer: Timer) -> str:
    amount = timer.get("amount")
    return format_money(float(amount), str(timer.get("currency", ""))) if amount else "—"
