"""Money as the dashboard shows it: per currency, never converted, exact (the API's ``Decimal``s,
spelled by ``domain.money``); plotly gets floats only as the position of a bar or a cell."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from domain.money import money_text

SAFE = "#2a7ab0"
WARNING = "#f0a202"
DANGER = "#d62728"
MUTED = "#9e9e9e"


def format_money(amount: Decimal | None, currency: str) -> str:
    """``EUR 1,331,142.55``, every digit the amount has (``EUR 0.1234``); an unknown amount is
    shown as ``—``."""
    if amount is None:
        return "—"
    return f"{currency} {money_text(amount, grouped=True)}".strip()


def format_totals(totals: Mapping[str, Decimal]) -> str:
    """Several currencies on one line, largest first: ``EUR 1,200.00 · USD 30.00``."""
    if not totals:
        return "—"
    ordered = sorted(totals.items(), key=lambda pair: (-pair[1], pair[0]))
    return " · ".join(format_money(amount, currency) for currency, amount in ordered)


def sum_by_currency(amounts: Iterable[tuple[Decimal | None, str]]) -> dict[str, Decimal]:
    """Exact sum per currency of (amount, currency) pairs that have an amount."""
    totals: dict[str, Decimal] = {}
    for amount, currency in amounts:
        if amount is not None:
            totals[currency] = totals.get(currency, Decimal(0)) + amount
    return dict(sorted(totals.items()))


def largest_amount(totals: Mapping[str, Decimal]) -> Decimal:
    """The ranking key of an amount spread over currencies (no conversion: the largest part)."""
    return max(totals.values(), default=Decimal(0))


def plotted(amount: Decimal) -> float:
    """The float plotly places a bar, a cell or a link at: the one place money becomes a float,
    for drawing only (labels and hover texts keep the exact amount)."""
    return float(amount)
