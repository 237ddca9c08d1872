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
from domain.tokens import token_fields, token_text


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
    """A page in ``blocked_order``: every blocked item, or the first ``limit`` (after a cursor)."""
    count: int
    """How many items are blocked in all."""
    more: bool = False
    """Items follow the page's last one."""


def blocked_order(item: BlockedItem) -> tuple[Decimal, str, str]:
    """An answer's order, total: the largest amount first (none counts as zero), then the item's
    identity (type, id)."""
    return -(item.amount or Decimal(0)), item.object.type, item.object.id


AMOUNT_LIMIT = Decimal(10) ** 14
"""Amounts are stored as ``Decimal(18, 4)``: below this, in ten-thousandths."""


@dataclass(frozen=True)
class BlockedCursor:
    """Where a page of blocked items ends: the answer it pages (event and knowledge time, period
    and legal entity: a page for fixed ones never changes) and its last item's place in
    ``blocked_order``, spelt as an opaque URL-safe token."""

    as_of: datetime
    known_at: datetime
    period: str | None
    legal_entity: str | None
    amount: Decimal
    """The last item's amount (zero for none)."""
    item: ObjectRef

    @classmethod
    def after(
        cls,
        item: BlockedItem,
        *,
        as_of: datetime,
        known_at: datetime,
        period: str | None,
        legal_entity: str | None,
    ) -> BlockedCursor:
        """The cursor of the page after the one that ends with ``item``."""
        amount = item.amount or Decimal(0)
        return cls(as_of, known_at, period, legal_entity, amount, item.object)

    @property
    def key(self) -> tuple[Decimal, str, str]:
        """The last item's ``blocked_order``: the page holds the items after it."""
        return -self.amount, self.item.type, self.item.id

    def text(self) -> str:
        return token_text(
            [
                self.as_of.isoformat(),
                self.known_at.isoformat(),
                self.period or "",
                self.legal_entity or "",
                str(self.amount),
                self.item.type,
                self.item.id,
            ]
        )

    @classmethod
    def parse(cls, text: str) -> BlockedCursor:
        """The cursor a previous page gave; ``ValueError`` naming the value when it is not one."""
        fields = token_fields(text, (str,) * 7)
        try:
            if fields is None:
                raise ValueError(text)
            as_of, known_at, period, legal_entity, amount, item_type, item_id = fields
            instants = datetime.fromisoformat(as_of), datetime.fromisoformat(known_at)
            value = Decimal(amount)
            if (
                any(instant.tzinfo is None for instant in instants)
                or not value.is_finite()
                or abs(value) >= AMOUNT_LIMIT
                or int(value.as_tuple().exponent) < -4
                or not (item_type and item_id)
            ):
                raise ValueError(text)
        except (ArithmeticError, ValueError):
            raise ValueError(
                f"cursor={text[:80]!r} is not one this API gave: pass the next_cursor of the "
                "previous page as it came"
            ) from None
        ref = ObjectRef(item_type, item_id)
        # in ten-thousandths, as stored: the engine reads no exponent ("1E+3") as a Decimal
        amount = value.quantize(Decimal("0.0001"))
        return cls(*instants, period or None, legal_entity or None, amount, ref)

    def conflict(
        self,
        *,
        period: str | None,
        legal_entity: str | None,
        as_of: datetime | None,
        known_at: datetime | None,
    ) -> str | None:
        """Why a request with this cursor does not page the cursor's answer (another period or
        legal entity; an as_of or known_at other than the cursor's), None when it does."""
        asked = {
            "period": period,
            "legal_entity": legal_entity,
            "as_of": as_of,
            "known_at": known_at,
        }
        paged = {
            "period": self.period,
            "legal_entity": self.legal_entity,
            "as_of": self.as_of,
            "known_at": self.known_at,
        }
        for name, value in asked.items():
            if name in ("as_of", "known_at") and value is None:
                continue  # the cursor's: a page of a past answer needs none
            if value != paged[name]:
                return (
                    f"{name}={_spelt(value)} with a cursor of the answer for "
                    f"{name}={_spelt(paged[name])}: a cursor pages one answer; ask the next page "
                    "with the same period and legal_entity, and with the cursor's as_of and "
                    "known_at or none"
                )
        return None


def _spelt(value: object) -> str:
    if value is None:
        return "none"
    return value.isoformat() if isinstance(value, datetime) else repr(value)


def totals(items: Iterable[BlockedItem]) -> dict[str, Decimal]:
    """Blocked money per currency (items without an amount add nothing)."""
    found: dict[str, Decimal] = {}
    for item in items:
        if item.amount is not None:
            found[item.currency] = found.get(item.currency, Decimal(0)) + item.amount
    return dict(sorted(found.items()))
