"""Close risk: rows of ``GET /api/v1/close-risk`` (``CloseRiskOut``) as an entity-by-period
heatmap, amounts at risk against materiality, and the contributors that make up each amount."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.money import (
    DANGER,
    MUTED,
    SAFE,
    WARNING,
    format_money,
    format_totals,
    plotted,
)
from slas.models import CloseRiskOut

LEVELS = ("low", "medium", "high", "critical")
"""``CloseRiskOut.level``'s words in increasing severity (slas/close_risk.py defines them)."""
LEVEL_COLOURS = [SAFE, WARNING, "#f46d43", DANGER]
LEVEL_SCALE = [(rank / (len(LEVELS) - 1), colour) for rank, colour in enumerate(LEVEL_COLOURS)]


def level_rank(level: str) -> int:
    """0 for low … 3 for critical; a word this dashboard does not know counts as the most severe,
    so that it is looked at rather than hidden."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS) - 1


def level_colour(level: str) -> str:
    return LEVEL_COLOURS[level_rank(level)]


def by_severity(risks: Iterable[CloseRiskOut]) -> list[CloseRiskOut]:
    """Most severe first; within a level the furthest over its materiality (what sets the level),
    then by period and legal entity."""
    return sorted(
        risks, key=lambda r: (-level_rank(r.level), -materiality_share(r), r.period, r.legal_entity)
    )


def materiality_share(risk: CloseRiskOut) -> Decimal:
    """The largest amount at risk in one currency over the entity's materiality (the ratio its
    level is read from; amounts of different currencies are never added)."""
    largest = max(risk.amount_at_risk.values(), default=Decimal(0))
    if risk.materiality > 0:
        return Decimal(largest) / Decimal(risk.materiality)
    return Decimal("Infinity") if largest > 0 else Decimal(0)


def risk_rows(risks: Iterable[CloseRiskOut]) -> list[dict[str, Any]]:
    """One table row per (legal entity, period), most severe first."""
    return [
        {
            "legal_entity": risk.legal_entity,
            "period": risk.period,
            "level": risk.level,
            "close_date": risk.close_date,
            "business_days_left": risk.business_days_left,
            "amount_at_risk": format_totals(risk.amount_at_risk),
            "materiality": format_money(risk.materiality, ""),
            "contributors": len(risk.contributors),
        }
        for risk in by_severity(risks)
    ]


def heatmap(risks: Sequence[CloseRiskOut]) -> go.Figure:
    """Legal entity by period, coloured by level, labelled with level and amount at risk."""
    entities = sorted({r.legal_entity for r in risks})
    periods = sorted({r.period for r in risks})
    cell = {(r.legal_entity, r.period): r for r in risks}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for entity in entities:
        z.append([])
        text.append([])
        for period in periods:
            risk = cell.get((entity, period))
            z[-1].append(None if risk is None else level_rank(risk.level))
            text[-1].append(
                "" if risk is None else f"{risk.level}<br>{format_totals(risk.amount_at_risk)}"
            )
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=periods,
            y=entities,
            text=text,
            texttemplate="%{text}",
            colorscale=LEVEL_SCALE,
            zmin=0,
            zmax=len(LEVELS) - 1,
            showscale=False,
            hovertemplate="%{y} · %{x}<br>%{text}<extra></extra>",
            xgap=3,
            ygap=3,
        )
    )
    figure.update_layout(
        height=max(220, 70 * len(entities) + 80),
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        xaxis={"type": "category", "title": "period"},
        yaxis={"type": "category", "autorange": "reversed"},
    )
    return figure


def amount_vs_materiality(risks: Sequence[CloseRiskOut]) -> go.Figure:
    """Amount at risk per (legal entity, period, currency) as bars; the entity's materiality, the
    threshold its level compares every currency's amount with, as a marker on each bar."""
    labels: list[str] = []
    amounts: list[Decimal] = []
    colours: list[str] = []
    thresholds: list[Decimal] = []
    for risk in sorted(risks, key=lambda r: (r.legal_entity, r.period)):
        for currency, amount in sorted(risk.amount_at_risk.items()):
            labels.append(f"{risk.legal_entity} {risk.period} ({currency})")
            amounts.append(amount)
            colours.append(level_colour(risk.level))
            thresholds.append(risk.materiality)
    figure = go.Figure(
        [
            go.Bar(
                x=labels,
                y=[plotted(amount) for amount in amounts],
                customdata=[format_money(amount, "") for amount in amounts],
                marker_color=colours,
                name="amount at risk",
                hovertemplate="%{x}<br>%{customdata}<extra>at risk</extra>",
            ),
            go.Scatter(
                x=labels,
                y=[plotted(threshold) for threshold in thresholds],
                customdata=[format_money(threshold, "") for threshold in thresholds],
                mode="markers",
                marker={"symbol": "line-ew-open", "size": 28, "color": MUTED, "line": {"width": 3}},
                name="materiality",
                hovertemplate="%{x}<br>materiality %{customdata}<extra></extra>",
            ),
        ]
    )
    figure.update_layout(height=340, margin={"t": 30, "b": 10, "l": 10, "r": 10}, showlegend=True)
    return figure


def contributor_rows(risk: CloseRiskOut, limit: int = 10) -> list[dict[str, Any]]:
    """The first ``limit`` contributors of one row, the item as ``type id``, for a table."""
    return [
        {
            "object": f"{c.object.type} {c.object.id}",
            "amount": format_money(c.amount, ""),
            "currency": c.currency,
            "reason": c.reason,
            "failed_event_type": c.failed_event_type,
            "error_category": c.error_category,
            "error_code": c.error_code,
            "posted_period": c.posted_period,
            "projected_post_at": c.projected_post_at,
        }
        for c in risk.contributors[:limit]
    ]


def levels_for_period(risks: Iterable[CloseRiskOut], period: str) -> list[CloseRiskOut]:
    """The overview's list: each legal entity's row of ``period``, most severe first."""
    return by_severity(r for r in risks if r.period == period)
