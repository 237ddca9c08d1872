"""Business time of a legal entity: working days, public holidays and its time zone.

Business time is wall-clock time that falls on a working day (Monday to Friday, not a public
holiday) in the entity's time zone, counted in real elapsed hours; a business day is 24 such hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

HOURS_PER_BUSINESS_DAY = 24.0
OFFICE_OPENS = 8.0
OFFICE_CLOSES = 19.0
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Working days and local time of one legal entity. All instants in and out are UTC-aware."""

    time_zone: ZoneInfo
    holidays: frozenset[date]

    @classmethod
    def for_country(
        cls,
        time_zone: str,
        holiday_country: str,
        years: Iterable[int],
        subdivision: str | None = None,
    ) -> BusinessCalendar:
        """The calendar of ``holiday_country``'s public holidays in ``time_zone`` for ``years``."""
        public_holidays = holidays.country_holidays(
            holiday_country, subdiv=subdivision, years=list(years)
        )
        return cls(ZoneInfo(time_zone), frozenset(public_holidays.keys()))

    def holidays_between(self, first: date, last: date) -> list[date]:
        """Public holidays from ``first`` to ``last`` inclusive, in order."""
        return sorted(day for day in self.holidays if first <= day <= last)

    def is_working_day(self, day: date) -> bool:
        """Monday to Friday and not a public holiday."""
        return day.weekday() < 5 and day not in self.holidays

    def working_day_on_or_after(self, day: date) -> date:
        """``day`` itself when it is a working day, otherwise the next working day."""
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def working_day_after(self, day: date, count: int = 1) -> date:
        """The ``count``-th working day strictly after ``day``."""
        for _ in range(count):
            day = self.working_day_on_or_after(day + _ONE_DAY)
        return day

    def local_date(self, instant: datetime) -> date:
        """The entity's calendar date at ``instant``."""
        return instant.astimezone(self.time_zone).date()

    def at(self, day: date, hour: float) -> datetime:
        """The UTC instant of local ``day`` at ``hour`` (fractional hours, 0 to 24) wall-clock time."""
        local = datetime.combine(day, time(), tzinfo=self.time_zone) + timedelta(hours=hour)
        return local.astimezone(UTC)

    def local_hour(self, instant: datetime) -> float:
        """Fractional wall-clock hour of ``instant`` in the entity's time zone."""
        local = instant.astimezone(self.time_zone)
        return local.hour + local.minute / 60 + local.second / 3600

    def start_of_day(self, day: date) -> datetime:
        """Local midnight at the start of ``day``, as UTC."""
        return datetime.combine(day, time(), tzinfo=self.time_zone).astimezone(UTC)

    def office_time_from(self, instant: datetime, jitter_hours: float = 0.0) -> datetime:
        """``instant`` if it is in office hours of a working day, else the next opening plus jitter.

        People in the simulation (sales, project managers, consultants) act in office hours.
        """
        day = self.local_date(instant)
        hour = self.local_hour(instant)
        if self.is_working_day(day) and hour < OFFICE_CLOSES:
            return instant if hour >= OFFICE_OPENS else self.at(day, OFFICE_OPENS + jitter_hours)
        return self.at(self.working_day_after(day), OFFICE_OPENS + jitter_hours)

    def period_of(self, instant: datetime) -> str:
        """The fiscal period ``YYYY-MM`` of ``instant`` in the entity's time zone."""
        return self.local_date(instant).strftime("%Y-%m")

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The instant when ``hours`` of business time have elapsed since ``start``.

        Time on non-working days does not count, so a start on a weekend counts from the next
        working day's local midnight.
        """
        remaining = timedelta(hours=hours)
        current = start
        while True:
            day = self.local_date(current)
            if not self.is_working_day(day):
                current = self.start_of_day(self.working_day_on_or_after(day))
                continue
            day_end = self.start_of_day(day + _ONE_DAY)
            available = day_end - current
            if remaining <= available:
                return current + remaining
            remaining -= available
            current = day_end

    def business_hours_between(self, start: datetime, stop: datetime) -> float:
        """Business hours elapsed from ``start`` to ``stop`` (0 when ``stop`` is not later)."""
        if stop <= start:
            return 0.0
        total = timedelta()
        day = self.local_date(start)
        last_day = self.local_date(stop)
        while day <= last_day:
            if self.is_working_day(day):
                window_start = max(start, self.start_of_day(day))
                window_stop = min(stop, self.start_of_day(day + _ONE_DAY))
                if window_stop > window_start:
                    total += window_stop - window_start
            day += _ONE_DAY
        return total.total_seconds() / 3600

    def deadline(self, start: datetime, business_days: float) -> datetime:
        """When a timer of ``business_days`` started at ``start`` runs out."""
        return self.add_business_hours(start, business_days * HOURS_PER_BUSINESS_DAY)

    def close_deadline(self, period: str, close_day: int) -> datetime:
        """End of business day ``close_day`` after the last day of ``period`` (``YYYY-MM``)."""
        year, month = (int(part) for part in period.split("-"))
        first_of_next = date(year + month // 12, month % 12 + 1, 1)
        close = self.working_day_after(first_of_next - _ONE_DAY, close_day)
        return self.start_of_day(close + _ONE_DAY)
