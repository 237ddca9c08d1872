"""Money, the one definition: ``Decimal(18, 4)`` in ClickHouse, ``Decimal`` in Python, a plain
fixed-point string in JSON (``"2000.00"``, ``"1234567.8912"``), never a float, never summed across
currencies. The API's response models, the alerts, the CLI and the dashboard all spell it here."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

SCALE: Final = 4
"""Fraction digits ClickHouse stores (``Decimal(18, 4)``): an amount in units is ten-thousandths."""
MIN_FRACTION_DIGITS: Final = 2
PATTERN: Final = r"^-?[0-9]+\.[0-9]{2,}$"
"""What every money string of the API matches."""


def money_text(amount: Decimal, *, grouped: bool = False) -> str:
    """The exact amount in fixed point, never an exponent: at least two fraction digits and no
    trailing zeros beyond them, so one value has one spelling (``Decimal("2E+3")`` and
    ``Decimal("2000.0000")`` are both ``"2000.00"``); ``grouped`` adds thousands separators for
    people (``"1,234,567.8912"``)."""
    if not amount.is_finite():
        raise ValueError(f"money must be a finite amount, got {amount}")
    # 'f' without a precision writes every digit the Decimal holds, whatever the context precision
    whole, _, fraction = format(amount.copy_abs(), "f").partition(".")
    fraction = fraction.rstrip("0").ljust(MIN_FRACTION_DIGITS, "0")
    if grouped:
        whole = f"{int(whole):,}"
    sign = "-" if amount.is_signed() and not amount.is_zero() else ""
    return f"{sign}{whole}.{fraction}"


def from_units(units: int) -> Decimal:
    """An amount held in ten-thousandths (ClickHouse's ``Decimal(18, 4)`` as an integer) as a
    ``Decimal``; exact, since integer sums of units never round."""
    return Decimal(units).scaleb(-SCALE)


def units_of(amount: Decimal) -> int:
    """The ten-thousandths of an amount ClickHouse returned (the inverse of ``from_units``)."""
    scaled = amount.scaleb(SCALE)
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(
            f"amount {amount} is not a Decimal(18, {SCALE}) value: expected a finite amount with "
            f"at most {SCALE} fraction digits"
        )
    return int(scaled)


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError(
            f"money must be a decimal string such as '2000.00' or a Decimal, not the float "
            f"{value!r}: a binary float cannot hold most amounts exactly"
        )
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    PlainSerializer(money_text, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "decimal",
            "pattern": PATTERN,
            "description": "An exact amount in fixed point (no exponent, at least two fraction "
            "digits), in the currency the object names.",
            "examples": ["2000.00", "1234567.8912"],
        }
    ),
]
"""A money field of an API model: validated from a ``Decimal``, an integer or a decimal string
(never a float), written to JSON by ``money_text``."""
