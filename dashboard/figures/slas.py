"""Business SLAs: attainment over time, business durations against the target, breaches and
at-risk timers by week, the open at-risk timers and the error budgets, from ``/api/v1/slas``
(``SlaOut``), its trend (``TrendPointOut``), its timers (``TimerOut``) and its objectives
(``ObjectiveOut``)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.money import DANGER, MUTED, SAFE, WARNING, format_money
from slas.models import ObjectiveOut, SlaOut, TimerOut, TrendPointOut, TrendSlaOut

BUSINESS_DAY_HOURS = 24.0
"""A business day is 24 business hours (as the simulator's truth counts it)."""
STATE_COLOURS = {"met": SAFE, "on_track": "#8fc1e3", "at_risk": WARNING, "breached": DANGER}
_TARGET_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhm])")
WEEK = timedelta(days=7)
WEEK_MS = WEEK / timedelta(milliseconds=1)
WEEKLY_TICKS_AT_MOST = 8
"""More weeks than this are labelled every second (third, …) week, so labels never collide."""


def target_hours(target: str) -> float | None:
    """``SlaOut.target`` in business hours: ``"2d"``, ``"36h"``, ``"1d 4h"``, ``"90m"``."""
    parts = _TARGET_PART.findall(target)
    if not parts:
        return None
    scale = {"d": BUSINESS_DAY_HOURS, "h": 1.0, "m": 1 / 60}
    return sum(float(number) * scale[unit] for number, unit in parts)


def percent(attainment: float | None) -> float | None:
    """An attainment share (met / (met + breached)) in percent, to one decimal."""
    return None if attainment is None else round(attainment * 100, 1)


def trend_snapshots(points: Iterable[TrendPointOut]) -> list[tuple[datetime, list[TrendSlaOut]]]:
    """``GET /api/v1/slas/trend`` as (moment, SLA attainments) pairs, oldest first."""
    return sorted(((point.as_of, point.slas) for point in points), key=lambda pair: pair[0])


def attainment_trend(snapshots: Sequence[tuple[datetime, Sequence[TrendSlaOut]]]) -> go.Figure:
    """One line per SLA: attainment at each as-of moment of ``snapshots``."""
    series: dict[str, list[tuple[datetime, float]]] = {}
    for moment, slas in sorted(snapshots, key=lambda pair: pair[0]):
        for sla in slas:
            if sla.attainment is not None:
                series.setdefault(sla.name, []).append((moment, sla.attainment * 100))
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
        xaxis={"type": "date", "tickformat": "%d %b %Y"},
        yaxis={"title": "attainment %", "range": [0, 105]},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def sla_rows(slas: Iterable[SlaOut]) -> list[dict[str, Any]]:
    return [
        {
            "sla": sla.name,
            "target": sla.target,
            "attainment_%": percent(sla.attainment),
            "met": sla.counts.get("met", 0),
            "breached": sla.counts.get("breached", 0),
            "at_risk": sla.counts.get("at_risk", 0),
            "on_track": sla.counts.get("on_track", 0),
            "p50_business_hours": sla.p50_business_hours,
            "p95_business_hours": sla.p95_business_hours,
        }
        for sla in slas
    ]


def duration_histogram(timers: Sequence[TimerOut], target: float | None) -> go.Figure:
    """Business hours of every timer, stacked by state, with the target as a vertical line."""
    states = sorted({t.state for t in timers}, key=_state_order)
    figure = go.Figure(
        [
            go.Histogram(
                x=[t.business_elapsed_hours for t in timers if t.state == state],
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


def weekly_axis(weeks: Sequence[datetime]) -> dict[str, Any]:
    """A date axis of whole weeks: one labelled tick per Monday (every n-th when there are many),
    and a range of whole weeks, so a single week reads as well as a quarter."""
    if not weeks:
        return {"type": "date", "tickformat": "%d %b %Y"}
    first, last = min(weeks), max(weeks)
    count = round((last - first) / WEEK) + 1
    return {
        "type": "date",
        "tickformat": "%d %b %Y",
        "tick0": first,
        "dtick": WEEK_MS * math.ceil(count / WEEKLY_TICKS_AT_MOST),
        "range": [first - timedelta(days=1), last + WEEK + timedelta(days=1)],
        "title": "week of the deadline (Monday)",
    }


def breaches_over_time(timers: Iterable[TimerOut]) -> go.Figure:
    """Breached and at-risk timers per week of their deadline; each bar spans its week."""
    counts: dict[tuple[str, datetime], int] = {}
    for timer in timers:
        if timer.state in ("breached", "at_risk"):
            key = (timer.state, week_of(timer.deadline))
            counts[key] = counts.get(key, 0) + 1
    weeks = sorted({week for _, week in counts})
    figure = go.Figure(
        [
            go.Bar(
                name=state,
                x=[w for w in weeks if (state, w) in counts],
                y=[counts[(state, w)] for w in weeks if (state, w) in counts],
                offset=0,
                width=WEEK_MS * 6 / 7,
                marker_color=STATE_COLOURS[state],
                hovertemplate="week of %{x|%d %b %Y}: %{y}<extra>" + state + "</extra>",
            )
            for state in ("breached", "at_risk")
        ]
    )
    figure.update_layout(
        barmode="stack",
        height=300,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        xaxis=weekly_axis(weeks),
        yaxis={"title": "timers", "tickformat": ",d", "rangemode": "tozero"},
    )
    return figure


def open_at_risk_rows(timers: Iterable[TimerOut], as_of: datetime) -> list[dict[str, Any]]:
    """Open at-risk timers, soonest deadline first, with the hours left until it."""
    rows = [
        {
            "key": f"{timer.key.type} {timer.key.id}",
            "legal_entity": timer.legal_entity,
            "started_at": timer.started_at,
            "deadline": timer.deadline,
            "hours_to_deadline": round((timer.deadline - as_of) / timedelta(hours=1), 1),
            "business_elapsed_hours": timer.business_elapsed_hours,
            "amount": format_money(timer.amount, ""),
            "currency": timer.currency,
        }
        for timer in timers
        if timer.state == "at_risk" and timer.stopped_at is None
    ]
    return sorted(rows, key=lambda r: (r["deadline"], r["key"]))


def attainment_label(attainment: float | None) -> str:
    shown = percent(attainment)
    return "—" if shown is None else f"{shown:.1f} %"


def objective_rows(
    objectives: Iterable[ObjectiveOut], legal_entity: str | None = None
) -> list[dict[str, Any]]:
    """Per SLA and legal entity (only ``legal_entity`` when given): objective, attainment, budget
    left in percent and each tier's burn as ``long / short`` with the rate that fires it, the
    most overspent first."""
    rows = []
    for objective in objectives:
        if legal_entity and objective.legal_entity != legal_entity:
            continue
        row: dict[str, Any] = {
            "sla": objective.sla,
            "legal_entity": objective.legal_entity,
            "objective_%": percent(objective.objective),
            "window": objective.window,
            "attainment_%": percent(objective.attainment),
            "budget_left_%": percent(objective.budget_left),
            "met": objective.met,
            "breached": objective.breached,
        }
        for burn in objective.burn_rates:
            row[f"burn_{burn.window}"] = (
                f"{burn.long_burn_rate:.1f}x / {burn.short_burn_rate:.1f}x"
                f" (fires above {burn.factor:g}x)"
            )
        row["burning"] = ", ".join(b.window for b in objective.burn_rates if b.firing)
        rows.append(row)
    return sorted(
        rows,
        key=lambda r: (
            r["budget_left_%"] is None,
            r["budget_left_%"] or 0.0,
            r["sla"],
            r["legal_entity"],
        ),
    )
