"""Fiscal periods: the ``YYYY-MM`` text of ``biz.period``, and the ``YYYYMM`` number state arrays
and tables carry instead."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Final

PERIOD_TEXT: Final = re.compile(r"[0-9]{4}-[0-9]{2}")
"""A period's spelling, ``YYYY-MM`` in ASCII digits (``\\d`` would take any script's digits)."""

PERIOD_PATTERN: Final = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
"""A period with a month 01-12, as the API's query parameters and the dashboard's links take it."""


def parse_period(period: str) -> tuple[int, int]:
    """``YYYY-MM`` as (year, month); ``ValueError`` naming the value otherwise."""
    # ASCII digits only: int() also reads fullwidth digits, "+202" and "2_26": no period
    if not PERIOD_TEXT.fullmatch(period):
        raise ValueError(f"period {period!r}: expected YYYY-MM")
    year, month = int(period[:4]), int(period[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"period {period!r}: expected YYYY-MM")
    return year, month


def last_day(period: str) -> date:
    """The last calendar day of ``period`` (``YYYY-MM``)."""
    year, month = parse_period(period)
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def period_number(period: str) -> int:
    """``"2026-09"`` → 202609 (the spelling of periods in state arrays); 0 for anything else."""
    digits = period.replace("-", "", 1)
    return int(digits) if len(digits) == 6 and digits.isdigit() else 0


def period_text(number: int) -> str:
    """202609 → ``"2026-09"``; 0 (no period) → ``""``."""
    return f"{number // 100:04d}-{number % 100:02d}" if number else ""


def period_of(instant: datetime) -> str:
    """The calendar month ``instant`` falls in, as written (``"2026-09"``)."""
    return f"{instant.year:04d}-{instant.month:02d}"


def periods_back(instant: datetime, count: int) -> list[str]:
    """The ``count`` periods ending with the one ``instant`` falls in, newest first."""
    months = instant.year * 12 + instant.month - 1
    return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(months, months - count, -1)]
