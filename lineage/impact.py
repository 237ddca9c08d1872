"""Blocked-invoice impact as values: invoice-level items (billing events) that have not posted
because an event on their path failed and has not succeeded since, with the money and who owns
each fix. The rule that finds them lives with the business state (``slas.close_state`` and
``slas.blocking``), shared with close risk; these are the values it answers with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.objects import ObjectRef


@dataclass(frozen=True)
class Blocker:
    """A failed event that holds an item, and who owns its fix."""

    event_id: str
    event_type: str
    error_category: str
    error_code: str
    owner: str
    failed_since: datetime | None


@dataclass(frozen=True)
class BlockedItem:
    """One invoice-level item that has not reached invoice.posted."""

    object: ObjectRef
    invoice: str | None
    stage: str
    amount: Decimal | None
    currency: str
    legal_entity: str
    period: str
    blocked_by: tuple[Blocker, ...]


@dataclass(frozen=True)
class BlockedInvoices:
    total: dict[str, Decimal]
    """Blocked money per currency, of every blocked item."""
    items: tuple[BlockedItem, ...]
    """Largest amount first: every blocked item, or the largest when the answer was limited."""
    count: int
    """How many items are blocked in all."""


def totals(items: Iterable[BlockedItem]) -> dict[str, Decimal]:
    """Blocked money per currency (items without an amount add nothing)."""
    found: dict[str, Decimal] = {}
    for item in items:
        if item.amount is not None:
            found[item.currency] = found.get(item.currency, Decimal(0)) + item.amount
    return dict(sorted(found.items()))
