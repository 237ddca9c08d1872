"""Close risk: rows of ``GET /api/v1/close-risk`` as an entity-by-period heatmap, amounts at risk
against materiality, and the contributors that make up each amount."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.money import DANGER, MUTED, SAFE, WARNING, format_totals

Risk = Mapping[str, Any]

# Levels the API may use, in increasing severity; an unknown word sits just above "low".
LEVEL_RANK: dict[str, int] = {
    "none": 0,
    "ok": 0,
    "on_track": 0,
    "low": 1,
    "green": 1,
    "medium": 2,
    "elevated": 2,
    "amber": 2,
    "at_risk": 2,
    "high": 3,
    "red": 3,
    "critical": 4,
    "late": 4,
}
UNKNOWN_RANK = 1
LEVEL_COLOURS = [(0.0, SAFE), (0.25, "#8fc1e3"), (0.5, WARNING), (0.75, "#f46d43"), (1.0, DANGER)]


def level_rank(level: str | None) -> int:
    return LEVEL_RANK.get(str(level or "").strip().lower(), UNKNOWN_RANK)


def level_colour(level: str | None) -> str:
    rank = level_rank(level)
    return [SAFE, "#8fc1e3", WARNING, "#f46d43", DANGER][rank]


def materiality(risk: Risk) -> dict[str, float]:
    """The materiality threshold per currency, if the API gives one (a number takes the currency
    of the amount at risk)."""
    value = risk.get("materiality")
    if isinstance(value, Mapping):
        return {str(c): float(v) for c, v in value.items() if v is not None}
    if isinstance(value, int | float):
        currencies = list((risk.get("amount_at_risk") or {}).keys()) or [""]
        return {currencies[0]: float(value)}
    return {}


def risk_rows(risks: Iterable[Risk]) -> list[dict[str, Any]]:
    """One table row per (legal entity, period), most severe first."""
    rows = [
        {
            "legal_entity": risk.get("legal_entity", ""),
            "period": risk.get("period", ""),
            "level": risk.get("level", ""),
            "close_date": risk.get("close_date", ""),
            "business_days_left": risk.get("business_days_left"),
            "amount_at_risk": format_totals(risk.get("amount_at_risk") or {}),
            "materiality": format_totals(materiality(risk)),
            "contributors": len(risk.get("contributors") or []),
        }
        for risk in risks
    ]
    return sorted(
        rows,
        key=lambda r: (-level_rank(r["level"]), str(r["period"]), str(r["legal_entity"])),
    )


def heatmap(risks: Sequence[Risk]) -> go.Figure:
    """Legal entity by period, coloured by level, labelled with level and amount at risk."""
    entities = sorted({str(r.get("legal_entity", "")) for r in risks})
    periods = sorted({str(r.get("period", "")) for r in risks})
    cell = {(str(r.get("legal_entity", "")), str(r.get("period", ""))): r for r in risks}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for entity in entities:
        z.append([])
        text.append([])
        for period in periods:
            risk = cell.get((entity, period))
            z[-1].append(None if risk is None else level_rank(risk.get("level")))
            text[-1].append(
                ""
                if risk is None
                else f"{risk.get('level', '?')}<br>{format_totals(risk.get('amount_at_risk') or {})}"
            )
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=periods,
            y=entities,
            text=text,
            texttemplate="%{text}",
            colorscale=LEVEL_COLOURS,
            zmin=0,
            zmax=max(LEVEL_RANK.values()),
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


def amount_vs_materiality(risks: Sequence[Risk]) -> go.Figure:
    """Amount at risk per (legal entity, period, currency) as bars, materiality as a marker."""
    labels: list[str] = []
    amounts: list[float] = []
    colours: list[str] = []
    thresholds: list[float | None] = []
    for risk in sorted(risks, key=lambda r: (str(r.get("legal_entity")), str(r.get("period")))):
        limits = materiality(risk)
        for currency, amount in sorted((risk.get("amount_at_risk") or {}).items()):
            labels.append(f"{risk.get('legal_entity')} {risk.get('period')} ({currency})")
            amounts.append(float(amount))
            colours.append(level_colour(risk.get("level")))
            thresholds.append(limits.get(currency))
    figure = go.Figure(
        go.Bar(
            x=labels,
            y=amounts,
            marker_color=colours,
            name="amount at risk",
            hovertemplate="%{x}<br>%{y:,.2f}<extra>at risk</extra>",
        )
    )
    if any(t is not None for t in thresholds):
        figure.add_trace(
            go.Scatter(
                x=labels,
                y=thresholds,
                mode="markers",
                marker={"symbol": "line-ew-open", "size": 28, "color": MUTED, "line": {"width": 3}},
                name="materiality",
                hovertemplate="%{x}<br>materiality %{y:,.2f}<extra></extra>",
            )
        )
    figure.update_layout(height=340, margin={"t": 30, "b": 10, "l": 10, "r": 10}, showlegend=True)
    return figure


def _flat(value: Any) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {"type", "id"}:
            return f"{value['type']} {value['id']}"
        return ", ".join(f"{k}: {_flat(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(_flat(v)) for v in value)
    return value


def contributor_rows(risk: Risk, limit: int = 10) -> list[dict[str, Any]]:
    """The first ``limit`` contributors of one row, nested values flattened for a table."""
    rows = []
    for contributor in (risk.get("contributors") or [])[:limit]:
        if isinstance(contributor, Mapping):
            rows.append({str(k): _flat(v) for k, v in contributor.items()})
        else:
            rows.append({"contributor": str(contributor)})
    return rows


def levels_for_period(risks: Iterable[Risk], period: str) -> list[dict[str, Any]]:
    """The overview's list: each legal entity's level, amount at risk and days left in ``period``."""
    return [
        {
            "legal_entity": row["legal_entity"],
            "level": row["level"],
            "amount_at_risk": row["amount_at_risk"],
            "close_date": row["close_date"],
            "business_days_left": row["business_days_left"],
        }
        for row in risk_rows(r for r in risks if r.get("period") == period)
    ]
