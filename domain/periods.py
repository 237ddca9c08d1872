"""Fiscal periods: the ``YYYY-MM`` text of ``biz.period``, and the ``YYYYMM`` number state arrays
and tables carry instead."""

from __future__ import annotations

from datetime import date, datetime, timedelta


def parse_period(period: str) -> tuple[int, int]:
    """``YYYY-MM`` as (year, month); ``ValueError`` naming the value otherwise."""
    try:
        year_text, month_text = period.split("-")
        year, month = int(year_text), int(month_text)
    except ValueError:
        raise ValueError(f"period {period!r}: expected YYYY-MM") from None
    if not 1 <= month <= 12 or len(year_text) != 4 or len(month_text) != 2:
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
