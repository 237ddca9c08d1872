"""Blocked invoices: the items of ``GET /api/v1/impact/blocked-invoices`` (``BlockedItemOut``)
turned into table rows, rankings of the failures that hold the most money, and the charts of where
the money is stuck."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.money import (
    DANGER,
    format_money,
    largest_amount,
    plotted,
    sum_by_currency,
)
from lineage.models import BlockedItemOut, BlockerOut

# Where each canonical step lands (the event table of docs/semantic-conventions.md); the dashboard
# talks HTTP only, so it keeps this small copy instead of importing the semantic conventions.
SYSTEM_OF_STEP: dict[str, str] = {
    "customer.synced": "crm → erp",
    "contract.signed": "crm",
    "contract.amended": "crm",
    "project.activated": "crm → psa",
    "time.approved": "psa",
    "expense.approved": "psa",
    "milestone.completed": "psa",
    "billing.ready": "psa → erp",
    "invoice.posted": "erp",
    "revenue.scheduled": "revrec",
    "revenue.posted": "revrec → erp",
    "revenue.adjusted": "revrec",
}
UNASSIGNED = "unassigned"


def system_of(event_type: str) -> str:
    return SYSTEM_OF_STEP.get(event_type, event_type or "unknown")


def root_cause(item: BlockedItemOut) -> BlockerOut | None:
    """The blocker that failed first (the others usually follow from it); None when none is
    named."""
    far_future = datetime.max.replace(tzinfo=UTC)
    return min(item.blocked_by, key=lambda b: b.failed_since or far_future, default=None)


def item_label(item: BlockedItemOut) -> str:
    """The invoice number when one is reserved, else the blocked object's id."""
    return item.invoice or item.object.id


def shown_caption(shown: int, count: int) -> str:
    """How many blocked items the figures draw: all of them, or the largest when the answer
    holds more than a page shows."""
    if shown >= count:
        return f"{count:,} blocked items"
    return f"the {shown:,} largest of {count:,} blocked items"


def item_owners(item: BlockedItemOut) -> set[str]:
    return {b.owner or UNASSIGNED for b in item.blocked_by}


def filter_items(
    items: Iterable[BlockedItemOut], *, owners: Sequence[str] = ()
) -> list[BlockedItemOut]:
    """Items one of whose blockers is owned by one of ``owners`` (none chosen keeps all)."""
    return [item for item in items if not owners or item_owners(item) & set(owners)]


def age_days(since: datetime | None, as_of: datetime) -> float | None:
    return None if since is None else round((as_of - since) / timedelta(days=1), 1)


def blocked_rows(items: Iterable[BlockedItemOut], as_of: datetime) -> list[dict[str, Any]]:
    """One table row per blocked item, its root-cause failure and that failure's age."""
    rows = []
    for item in items:
        cause = root_cause(item)
        since = cause.failed_since if cause else None
        rows.append(
            {
                "invoice": item_label(item),
                "object_type": item.object.type,
                "object_id": item.object.id,
                "amount": item.amount,
                "currency": item.currency,
                "legal_entity": item.legal_entity,
                "period": item.period,
                "stuck_at": item.stage,
                "error_category": cause.error_category if cause else "",
                "error_code": cause.error_code if cause else "",
                "system": system_of(cause.event_type if cause else ""),
                "owner": cause.owner if cause else "",
                "failed_since": since,
                "age_days": age_days(since, as_of),
                "blockers": len(item.blocked_by),
                "root_cause_event": cause.event_id if cause else "",
            }
        )
    return sorted(rows, key=lambda r: (-(r["amount"] or Decimal(0)), r["invoice"]))


def newly_blocked(
    items: Iterable[BlockedItemOut], as_of: datetime, days: int = 7
) -> dict[str, Decimal]:
    """Value per currency of items whose first failure is within ``days`` before ``as_of``."""
    since = as_of - timedelta(days=days)
    recent = []
    for item in items:
        cause = root_cause(item)
        if cause and cause.failed_since and since < cause.failed_since <= as_of:
            recent.append(item)
    return sum_by_currency((item.amount, item.currency) for item in recent)


@dataclass
class Failure:
    """A failed event and the money of every item it holds."""

    event_id: str
    event_type: str
    error_category: str
    error_code: str
    owner: str
    failed_since: datetime | None
    blocked: dict[str, Decimal] = field(default_factory=dict)
    items: int = 0


def top_failures(items: Iterable[BlockedItemOut], limit: int = 10) -> list[Failure]:
    """Failures ranked by the money they block (an item held by two failures counts for both)."""
    failures: dict[str, Failure] = {}
    for item in items:
        for blocker in item.blocked_by:
            failure = failures.get(blocker.event_id)
            if failure is None:
                failure = failures[blocker.event_id] = Failure(
                    event_id=blocker.event_id,
                    event_type=blocker.event_type,
                    error_category=blocker.error_category,
                    error_code=blocker.error_code,
                    owner=blocker.owner,
                    failed_since=blocker.failed_since,
                )
            failure.items += 1
            if item.amount is not None:
                failure.blocked[item.currency] = (
                    failure.blocked.get(item.currency, Decimal(0)) + item.amount
                )
    ranked = sorted(
        failures.values(), key=lambda f: (-largest_amount(f.blocked), -f.items, f.event_id)
    )
    return ranked[:limit]


def currency_bar(totals: Mapping[str, Decimal], newly: Mapping[str, Decimal]) -> go.Figure:
    """Blocked value per currency, split into blocked before and within the last 7 days."""
    currencies = sorted(totals, key=lambda c: -totals[c])
    older = [totals[c] - newly.get(c, Decimal(0)) for c in currencies]
    recent = [newly.get(c, Decimal(0)) for c in currencies]
    figure = go.Figure(
        [
            go.Bar(
                name=name,
                x=currencies,
                y=[plotted(amount) for amount in amounts],
                customdata=[format_money(amount, "") for amount in amounts],
                hovertemplate="%{x} %{customdata}<extra>" + name + "</extra>",
                marker_color=colour,
            )
            for name, amounts, colour in (
                ("blocked earlier", older, "#f4a6a6"),
                ("newly blocked (7 days)", recent, DANGER),
            )
        ]
    )
    figure.update_layout(
        barmode="stack", height=280, margin={"t": 30, "b": 10, "l": 10, "r": 10}, yaxis_title=None
    )
    return figure


def treemap(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Currency → error category → system → legal entity, sized by blocked amount."""
    ids: list[str] = []
    labels: list[str] = []
    parents: list[str] = []
    values: list[Decimal] = []
    sums: dict[tuple[str, ...], Decimal] = {}
    for row in rows:
        if row.get("amount") is None:
            continue
        path: tuple[str, ...] = (
            str(row["currency"]),
            str(row["error_category"] or "uncategorised"),
            str(row["system"]),
            str(row["legal_entity"] or "?"),
        )
        for depth in range(1, len(path) + 1):
            sums[path[:depth]] = sums.get(path[:depth], Decimal(0)) + row["amount"]
    for path, value in sorted(sums.items()):
        ids.append("/".join(path))
        labels.append(path[-1])
        parents.append("/".join(path[:-1]))
        values.append(value)
    figure = go.Figure(
        go.Treemap(
            ids=ids,
            labels=labels,
            parents=parents,
            values=[plotted(value) for value in values],
            customdata=[format_money(value, "") for value in values],
            branchvalues="total",
            texttemplate="%{label}<br>%{value:,.0f}",
            hovertemplate="%{id}<br>%{customdata}<extra></extra>",
        )
    )
    figure.update_layout(height=420, margin={"t": 10, "b": 10, "l": 10, "r": 10})
    return figure


def sankey(rows: Sequence[Mapping[str, Any]], currency: str) -> go.Figure:
    """Error category → system → legal entity for one currency; widths are blocked amounts."""
    flows: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        if row.get("currency") != currency or row.get("amount") is None:
            continue
        category = f"{row['error_category'] or 'uncategorised'}"
        system = f"{row['system']} "  # trailing space keeps a system apart from a same-named entity
        entity = str(row["legal_entity"] or "?")
        for link in ((category, system), (system, entity)):
            flows[link] = flows.get(link, Decimal(0)) + row["amount"]
    nodes = sorted({name for link in flows for name in link})
    index = {name: position for position, name in enumerate(nodes)}
    links = sorted(flows.items())
    figure = go.Figure(
        go.Sankey(
            node={"label": [n.strip() for n in nodes], "pad": 14},
            link={
                "source": [index[a] for (a, _), _v in links],
                "target": [index[b] for (_, b), _v in links],
                "value": [plotted(v) for _, v in links],
                "customdata": [format_money(v, "") for _, v in links],
                "hovertemplate": "%{source.label} → %{target.label}<br>"
                + currency
                + " %{customdata}<extra></extra>",
            },
        )
    )
    figure.update_layout(height=380, margin={"t": 10, "b": 10, "l": 10, "r": 10})
    return figure


def by_group_bar(rows: Sequence[Mapping[str, Any]], group: str, currency: str) -> go.Figure:
    """Blocked amount in ``currency`` per value of ``group`` (legal_entity, owner, …), stacked by
    error category."""
    totals: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        if row.get("currency") != currency or row.get("amount") is None:
            continue
        key = (str(row.get(group) or "?"), str(row.get("error_category") or "uncategorised"))
        totals[key] = totals.get(key, Decimal(0)) + row["amount"]
    groups = sorted({g for g, _ in totals})
    categories = sorted({c for _, c in totals})
    amounts = {
        category: [totals.get((g, category), Decimal(0)) for g in groups] for category in categories
    }
    figure = go.Figure(
        [
            go.Bar(
                name=category,
                x=groups,
                y=[plotted(amount) for amount in amounts[category]],
                customdata=[format_money(amount, "") for amount in amounts[category]],
                hovertemplate="%{x}<br>"
                + category
                + f"<br>{currency} "
                + "%{customdata}<extra></extra>",
            )
            for category in categories
        ]
    )
    figure.update_layout(
        barmode="stack",
        height=320,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        yaxis_title=currency,
        legend_title="error category",
    )
    return figure
