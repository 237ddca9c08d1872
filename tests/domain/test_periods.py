"""Fiscal periods: parsing ``YYYY-MM``, its last day, and the ``YYYYMM`` number of state arrays."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from domain.periods import (
    last_day,
    parse_period,
    period_number,
    period_of,
    period_text,
    periods_back,
)


class TestParsePeriod:
    def test_a_period_is_its_year_and_month(self) -> None:
        """``2026-09`` is (2026, 9)."""
        assert parse_period("2026-09") == (2026, 9)

    @pytest.mark.parametrize(
        "text",
        [
            "2026-13", "2026-00", "2026-9", "26-09", "2026/09", "", "x",
            "\uff12\uff10\uff12\uff16-10", "+202-10", "2026-+9", "202_-10", " 202-10",
        ],
    )  # fmt: skip
    def test_anything_else_is_refused_naming_the_value(self, text: str) -> None:
        """The error names the value and the expected form."""
        with pytest.raises(ValueError, match=re.escape(f"period {text!r}: expected YYYY-MM")):
            parse_period(text)


class TestLastDay:
    @pytest.mark.parametrize(
        ("period", "day"),
        [
            ("2026-09", date(2026, 9, 30)),
            ("2026-12", date(2026, 12, 31)),
            ("2028-02", date(2028, 2, 29)),
            ("2026-02", date(2026, 2, 28)),
        ],
    )
    def test_the_last_calendar_day_of_the_month(self, period: str, day: date) -> None:
        """Month ends, the year end and leap Februaries included."""
        assert last_day(period) == day


class TestPeriodNumber:
    def test_text_and_number_round_trip(self) -> None:
        """``2026-09`` ↔ 202609."""
        assert period_number("2026-09") == 202609
        assert period_text(202609) == "2026-09"

    @pytest.mark.parametrize("text", ["", "2026", "2026-9", "Q3-2026"])
    def test_no_period_is_zero_and_zero_is_empty(self, text: str) -> None:
        """What is not a period has number 0, and 0 reads back as no period."""
        assert period_number(text) == 0
        assert period_text(0) == ""


def test_periods_back_cross_the_year_boundary() -> None:
    """The month of an instant and those before it, newest first, over a new year."""
    moment = datetime(2026, 2, 3, tzinfo=UTC)
    assert period_of(moment) == "2026-02"
    assert periods_back(moment, 4) == ["2026-02", "2026-01", "2025-12", "2025-11"]
