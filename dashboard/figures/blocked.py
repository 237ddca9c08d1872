"""Blocked invoices: items of ``GET /api/v1/impact/blocked-invoices`` turned into table rows,
rankings of the failures that hold the most money, and the charts of where the money is stuck."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.money import DANGER, largest_amount, sum_by_currency

Item = Mapping[str, Any]

# Where each canonical step lands (the event table of docs/semantic-conventions.md); the dashboard talks HTTP only, so it
# keeps this small copy instead of importing warehouse.semconv.
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


def system_of(event_type: str) -> str:
    return SYSTEM_OF_STEP.get(event_type, event_type or "unknown")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def root_cause(item: Item) -> Mapping[str, Any]:
    """The blocker that failed first (the others usually follow from it); {} when none is named."""
    blockers: Sequence[Mapping[str, Any]] = item.get("blocked_by") or []
    if not blockers:
        return {}
    far_future = datetime.max.replace(tzinfo=UTC)
    return min(blockers, key=lambda b: parse_time(b.get("failed_since")) or far_future)


def item_label(item: Item) -> str:
    """The invoice number when one is reserved, else the blocked object's id."""
    return str(item.get("invoice") or item.get("object", {}).get("id", "?"))


def item_owners(item: Item) -> set[str]:
    return {str(b.get("owner") or "unassigned") for b in item.get("blocked_by") or []}


def filter_items(
    items: Iterable[Item],
    *,
    owners: Sequence[str] = (),
    customers: Sequence[str] = (),
) -> list[Item]:
    """Items one of whose blockers is owned by one of ``owners`` and whose customer is one of
    ``customers`` (an empty selection keeps everything)."""
    kept = []
    for item in items:
        if owners and not item_owners(item) & set(owners):
            continue
        if customers and str(item.get("customer") or "") not in customers:
            continue
        kept.append(item)
    return kept


def age_days(since: datetime | None, as_of: datetime) -> float | None:
    return None if since is None else round((as_of - since) / timedelta(days=1), 1)


def blocked_rows(items: Iterable[Item], as_of: datetime) -> list[dict[str, Any]]:
    """One table row per blocked item, its root-cause failure and that failure's age."""
    rows = []
    for item in items:
        cause = root_cause(item)
        since = parse_time(cause.get("failed_since"))
        rows.append(
            {
                "invoice": item_label(item),
                "object_type": item.get("object", {}).get("type", ""),
                "object_id": item.get("object", {}).get("id", ""),
                "amount": item.get("amount"),
                "currency": item.get("currency", ""),
                "legal_entity": item.get("legal_entity", ""),
                "period": item.get("period", ""),
                "customer": item.get("customer", ""),
                "stuck_at": item.get("stage", ""),
                "error_category": cause.get("error_category", ""),
                "error_code": cause.get("error_code", ""),
                "system": system_of(str(cause.get("event_type", ""))),
                "owner": cause.get("owner", ""),
                "failed_since": since,
                "age_days": age_days(since, as_of),
                "blockers": len(item.get("blocked_by") or []),
                "root_cause_event": cause.get("event_id", ""),
            }
        )
    return sorted(rows, key=lambda r: (-(r["amount"] or 0.0), r["invoice"]))


def newly_blocked(items: Iterable[Item], as_of: datetime, days: int = 7) -> dict[str, float]:
    """Value per currency of items whose first failure is within ``days`` before ``as_of``."""
    since = as_of - timedelta(days=days)
    recent = [
        item
        for item in items
        if (failed := parse_time(root_cause(item).get("failed_since"))) is not None
        and since < failed <= as_of
    ]
    return sum_by_currency(recent)


@dataclass
class Failure:
    """A failed event and the money of every item it holds."""

    event_id: str
    event_type: str
    error_category: str
    error_code: str
    owner: str
    failed_since: datetime | None
    blocked: dict[str, float] = field(default_factory=dict)
    items: int = 0


def top_failures(items: Iterable[Item], limit: int = 10) -> list[Failure]:
    """Failures ranked by the money they block (an item held by two failures counts for both)."""
    failures: dict[str, Failure] = {}
    for item in items:
        for blocker in item.get("blocked_by") or []:
            event_id = str(blocker.get("event_id", ""))
            failure = failures.get(event_id)
            if failure is None:
                failure = failures[event_id] = Failure(
                    event_id=event_id,
                    event_type=str(blocker.get("event_type", "")),
                    error_category=str(blocker.get("error_category", "")),
                    error_code=str(blocker.get("error_code", "")),
                    owner=str(blocker.get("owner", "")),
                    failed_since=parse_time(blocker.get("failed_since")),
                )
            failure.items += 1
            if item.get("amount") is not None:
                currency = str(item.get("currency", ""))
                failure.blocked[currency] = round(
                    failure.blocked.get(currency, 0.0) + float(item["amount"]), 2
                )
    ranked = sorted(
        failures.values(), key=lambda f: (-largest_amount(f.blocked), -f.items, f.event_id)
    )
    return ranked[:limit]


def currency_bar(totals: Mapping[str, float], newly: Mapping[str, float]) -> go.Figure:
    """Blocked value per currency, split into blocked before and within the last 7 days."""
    currencies = sorted(totals, key=lambda c: -totals[c])
    older = [round(totals[c] - newly.get(c, 0.0), 2) for c in currencies]
    recent = [newly.get(c, 0.0) for c in currencies]
    figure = go.Figure(
        [
            go.Bar(name="blocked earlier", x=currencies, y=older, marker_color="#f4a6a6"),
            go.Bar(name="newly blocked (7 days)", x=currencies, y=recent, marker_color=DANGER),
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
    values: list[float] = []
    sums: dict[tuple[str, ...], float] = {}
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
            sums[path[:depth]] = sums.get(path[:depth], 0.0) + float(row["amount"])
    for path, value in sorted(sums.items()):
        ids.append("/".join(path))
        labels.append(path[-1])
        parents.append("/".join(path[:-1]))
        values.append(round(value, 2))
    figure = go.Figure(
        go.Treemap(
            ids=ids,
            labels=labels,
            parents=parents,
            values=values,
            branchvalues="total",
            texttemplate="%{label}<br>%{value:,.0f}",
            hovertemplate="%{id}<br>%{value:,.2f}<extra></extra>",
        )
    )
    figure.update_layout(height=420, margin={"t": 10, "b": 10, "l": 10, "r": 10})
    return figure


def sankey(rows: Sequence[Mapping[str, Any]], currency: str) -> go.Figure:
    """Error category → system → legal entity for one currency; widths are blocked amounts."""
    flows: dict[tuple[str, str], float] = {}
    for row in rows:
        if row.get("currency") != currency or row.get("amount") is None:
            continue
        category = f"{row['error_category'] or 'uncategorised'}"
        system = f"{row['system']} "  # trailing space keeps a system apart from a same-named entity
        entity = str(row["legal_entity"] or "?")
        for link in ((category, system), (system, entity)):
            flows[link] = flows.get(link, 0.0) + float(row["amount"])
    nodes = sorted({name for link in flows for name in link})
    index = {name: position for position, name in enumerate(nodes)}
    links = sorted(flows.items())
    figure = go.Figure(
        go.Sankey(
            node={"label": [n.strip() for n in nodes], "pad": 14},
            link={
                "source": [index[a] for (a, _), _v in links],
                "target": [index[b] for (_, b), _v in links],
                "value": [round(v, 2) for _, v in links],
                "hovertemplate": "%{source.label} → %{target.label}<br>"
                + currency
                + " %{value:,.2f}<extra></extra>",
            },
        )
    )
    figure.update_layout(height=380, margin={"t": 10, "b": 10, "l": 10, "r": 10})
    return figure


def by_group_bar(rows: Sequence[Mapping[str, Any]], group: str, currency: str) -> go.Figure:
    """Blocked amount in ``currency`` per value of ``group`` (legal_entity, owner, …), stacked by
    error category."""
    totals: dict[tuple[str, str], float] = {}
    for row in rows:
        if row.get("currency") != currency or row.get("amount") is None:
            continue
        key = (str(row.get(group) or "?"), str(row.get("error_category") or "uncategorised"))
        totals[key] = totals.get(key, 0.0) + float(row["amount"])
    groups = sorted({g for g, _ in totals})
    categories = sorted({c for _, c in totals})
    figure = go.Figure(
        [
            go.Bar(
                name=category,
                x=groups,
                y=[round(totals.get((g, category), 0.0), 2) for g in groups],
                hovertemplate="%{x}<br>"
                + category
                + f"<br>{currency} "
                + "%{y:,.2f}<extra></extra>",
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
