"""Legal-entity calendars: time zone, working days and hours, public and custom holidays, close day.

A ``CalendarBook`` answers "which calendar does this legal entity use"; entities without one get
the default calendar, and each such entity is logged once (its events are never dropped).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from domain.periods import last_day

logger = logging.getLogger(__name__)

_ONE_DAY = timedelta(days=1)
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONDAY_TO_FRIDAY = (0, 1, 2, 3, 4)
DEFAULT_MATERIALITY = Decimal(250_000)


@dataclass(frozen=True)
class EntityCalendar:
    """How one legal entity counts business time, when its books close, and what is material.

    ``working_hours`` are local wall-clock hours ``(open, close)`` of every working day, 0 to 24;
    a business day is ``close - open`` hours of business time. ``close_day`` is the business day
    after period end at whose end the books close; ``materiality`` (entity currency) scales the
    close-risk levels.
    """

    time_zone: str = "UTC"
    working_days: tuple[int, ...] = MONDAY_TO_FRIDAY
    working_hours: tuple[float, float] = (0.0, 24.0)
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    custom_holidays: frozenset[date] = field(default_factory=frozenset)
    close_day: int = 5
    materiality: Decimal = DEFAULT_MATERIALITY

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def business_day_seconds(self) -> float:
        """Business seconds in one working day."""
        return (self.working_hours[1] - self.working_hours[0]) * 3600.0

    def holidays_between(self, first: date, last: date) -> frozenset[date]:
        """Public holidays of the configured country plus the custom dates, ``first``..``last``."""
        return _public_holidays(
            self.holiday_country, self.holiday_subdivision, first.year, last.year
        ) | frozenset(day for day in self.custom_holidays if first <= day <= last)

    def is_working_day(self, day: date, holiday_set: frozenset[date]) -> bool:
        return day.weekday() in self.working_days and day not in holiday_set

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def at_local(self, day: date, hour: float) -> datetime:
        """The UTC instant of ``hour`` (fractional, 0 to 24) on local ``day``."""
        local = datetime.combine(day, time(), tzinfo=self.zone) + timedelta(hours=hour)
        return local.astimezone(UTC)

    def working_days_after(self, day: date, count: int) -> date:
        """The ``count``-th working day strictly after ``day`` (``day`` itself when count is 0)."""
        holiday_set = self.holidays_between(day, day + timedelta(days=31 + 3 * count))
        for _ in range(count):
            day += _ONE_DAY
            while not self.is_working_day(day, holiday_set):
                day += _ONE_DAY
        return day

    def close_date(self, period: str) -> date:
        """Business day ``close_day`` after the last day of ``period`` (``YYYY-MM``)."""
        return self.working_days_after(last_day(period), self.close_day)

    def close_deadline(self, period: str) -> datetime:
        """The end of the close day: local midnight after it (end of its working hours if earlier)."""
        close = self.close_date(period)
        if self.working_hours[1] >= 24.0:
            return self.at_local(close + _ONE_DAY, 0.0)
        return self.at_local(close, self.working_hours[1])


@lru_cache(maxsize=256)
def _public_holidays(
    country: str | None, subdivision: str | None, first_year: int, last_year: int
) -> frozenset[date]:
    if not country:
        return frozenset()
    calendar = holidays.country_holidays(
        country, subdiv=subdivision, years=range(first_year, last_year + 1)
    )
    return frozenset(calendar.keys())


DEFAULT_CALENDAR = EntityCalendar()
"""Monday to Friday, UTC, no holidays, close day 5: for entities nobody configured."""


class CalendarBook:
    """Calendars by legal entity, with a default for the rest (reported once per entity)."""

    def __init__(
        self,
        calendars: dict[str, EntityCalendar] | None = None,
        default: EntityCalendar = DEFAULT_CALENDAR,
    ) -> None:
        self.calendars = dict(calendars or {})
        self.default = default
        self._reported: set[str] = set()
        self._lock = threading.Lock()

    def for_entity(self, legal_entity: str) -> EntityCalendar:
        """The entity's calendar, or the default (logging the entity the first time)."""
        calendar = self.calendars.get(legal_entity)
        if calendar is not None:
            return calendar
        with self._lock:
            if legal_entity not in self._reported:
                self._reported.add(legal_entity)
                logger.warning(
                    "%s has no calendar configured; its events use the default calendar "
                    "(%s, working days %s, close day %d)",
                    f"legal entity {legal_entity!r}" if legal_entity else "an unknown legal entity",
                    self.default.time_zone,
                    ",".join(WEEKDAY_NAMES[d] for d in self.default.working_days),
                    self.default.close_day,
                )
        return self.default
