"""The work queue as the dashboard shows it: items grouped by the owner of the fix, each group with
its money blocked per currency and its oldest item's age in business time. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dashboard.figures.money import format_totals
from slas.work_item_models import OwnerTotalOut, WorkItemOut

KIND_LABELS = {"blocking_failure": "failure blocking items", "breached_timer": "breached SLA timer"}


@dataclass(frozen=True)
class OwnerGroup:
    """One owner's items: how many match (``count``: on every page, of which ``items`` were
    listed), the money they hold per currency, and the oldest one's age."""

    owner: str
    items: tuple[WorkItemOut, ...]
    money: dict[str, Decimal]
    oldest_business_hours: float
    count: int

    @property
    def heading(self) -> str:
        count = f"{self.count:,} item{'s' if self.count != 1 else ''}"
        if len(self.items) < self.count:
            count += f" ({len(self.items):,} listed)"
        return (
            f"{self.owner or 'unowned'} · {count} · {money_text(self.money)} · oldest "
            f"{self.oldest_business_hours:,.1f} business h"
        )


def money_text(money: dict[str, Decimal]) -> str:
    """``EUR 200,000.00 · USD 50.00`` (largest first), ``—`` without money."""
    return format_totals(money)


def owner_groups(
    items: Sequence[WorkItemOut], totals: Sequence[OwnerTotalOut] = ()
) -> list[OwnerGroup]:
    """Items by owner; the owners holding the most money (in any one currency) first, then those
    with more items; within a group, the oldest item first. With ``totals`` (the answer's
    ``owners``: every page's items), each group counts and sums all of its owner's items, not
    only those listed; else the listed ones."""
    by_owner: dict[str, list[WorkItemOut]] = {}
    for item in items:
        by_owner.setdefault(item.owner, []).append(item)
    groups = [
        OwnerGroup(
            owner=total.owner,
            items=tuple(sorted(by_owner.get(total.owner, []), key=_oldest_first)),
            money=dict(sorted(total.money_blocked.items())),
            oldest_business_hours=total.oldest_business_hours,
            count=total.items,
        )
        for total in totals
    ]
    if not totals:
        groups = [_listed_group(owner, owned) for owner, owned in by_owner.items()]
    return sorted(
        groups, key=lambda g: (-max(g.money.values(), default=Decimal(0)), -g.count, g.owner)
    )


def _listed_group(owner: str, owned: list[WorkItemOut]) -> OwnerGroup:
    money: dict[str, Decimal] = {}
    for item in owned:
        for currency, amount in item.money_blocked.items():
            money[currency] = money.get(currency, Decimal(0)) + amount
    ordered = sorted(owned, key=_oldest_first)
    return OwnerGroup(
        owner=owner,
        items=tuple(ordered),
        money=dict(sorted(money.items())),
        oldest_business_hours=ordered[0].age_business_hours,
        count=len(ordered),
    )


def _oldest_first(item: WorkItemOut) -> tuple[float, str]:
    return -item.age_business_hours, item.id


def item_rows(items: Sequence[WorkItemOut]) -> list[dict[str, Any]]:
    """The table of one owner's items."""
    return [
        {
            "item": item.title,
            "detail": item.detail,
            "kind": KIND_LABELS.get(item.kind, item.kind),
            "legal entity": ", ".join(item.legal_entities),
            "money blocked": money_text(item.money_blocked),
            "age (business h)": item.age_business_hours,
            "state": item.state if not item.resolution else f"{item.state} ({item.resolution})",
            "assignee": item.assignee,
            "snoozed until": item.snoozed_until,
            "last comment": item.last_comment,
            "id": item.id,
        }
        for item in items
    ]


def item_label(item: WorkItemOut) -> str:
    """How an item is named in the action form's picker."""
    return f"{item.title} · {item.detail} · {item.owner} ({item.id})"
