"""Money's one spelling: fixed point, at least two fraction digits, every digit the amount has."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from domain.money import Money, from_units, money_text, units_of


class Priced(BaseModel):
    amount: Money


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("2E+3", "2000.00"),
        ("2000.0000", "2000.00"),
        ("0.1000", "0.10"),
        ("1234567.8912", "1234567.8912"),
        ("0.0001", "0.0001"),
        ("-1234.5", "-1234.50"),
        ("-0.0000", "0.00"),
    ],
)
def test_one_value_has_one_fixed_point_spelling(amount: str, text: str) -> None:
    """Whatever exponent the Decimal carries, the text is the same and never has an exponent."""
    assert money_text(Decimal(amount)) == text
    assert Priced(amount=Decimal(amount)).model_dump_json() == f'{{"amount":"{text}"}}'


def test_people_read_it_grouped_without_rounding() -> None:
    """Thousands separators for people; the fourth decimal stays."""
    assert money_text(Decimal("1234567.8912"), grouped=True) == "1,234,567.8912"


def test_units_and_decimals_round_trip_exactly() -> None:
    """Ten-thousandths (ClickHouse's Decimal(18, 4) as an integer) and back."""
    assert from_units(12345678912) == Decimal("1234567.8912")
    assert units_of(Decimal("1234567.8912")) == 12345678912


def test_an_amount_finer_than_the_stored_scale_is_refused() -> None:
    """Five fraction digits cannot be a stored amount: the error names it and the limit."""
    with pytest.raises(ValueError, match=r"amount 0\.00001 .* at most 4 fraction digits"):
        units_of(Decimal("0.00001"))


def test_a_float_is_refused_and_a_string_is_read_exactly() -> None:
    """A binary float never becomes money; the JSON string does, digit for digit."""
    with pytest.raises(ValidationError, match=r"not the float 0\.1"):
        Priced.model_validate_json('{"amount": 0.1}')
    assert Priced.model_validate_json('{"amount": "0.1"}').amount == Decimal("0.1")


def test_a_non_finite_amount_cannot_be_written() -> None:
    """NaN has no money text."""
    with pytest.raises(ValueError, match="finite"):
        money_text(Decimal("NaN"))
