"""Money as the dashboard shows it: per currency, never converted, formatted to the cent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SAFE = "#2a7ab0"
WARNING = "#f0a202"
DANGER = "#d62728"
MUTED = "#9e9e9e"


def format_money(amount: float | None, currency: str) -> str:
    """``EUR 1,331,142.55``; an unknown amount is shown as ``—``."""
    if amount is None:
        return "—"
    return f"{currency} {amount:,.2f}".strip()


def format_totals(totals: Mapping[str, float]) -> str:
    """Several currencies on one line, largest first: ``EUR 1,200.00 · USD 30.00``."""
    if not totals:
        return "—"
    ordered = sorted(totals.items(), key=lambda pair: (-pair[1], pair[0]))
    return " · ".join(format_money(amount, currency) for currency, amount in ordered)


def sum_by_currency(amounts: Iterable[tuple[float | None, str]]) -> dict[str, float]:
    """Sum per currency of (amount, currency) pairs that have an amount, rounded to the cent."""
    totals: dict[str, float] = {}
    for amount, currency in amounts:
        if amount is not None:
            totals[currency] = totals.get(currency, 0.0) + amount
    return {currency: round(amount, 2) for currency, amount in sorted(totals.items())}


def largest_amount(totals: Mapping[str, float]) -> float:
    """The ranking key of an amount spread over currencies (no conversion: the largest part)."""
    return max(totals.values(), default=0.0)
