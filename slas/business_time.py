"""Vectorised business-time arithmetic: business seconds between instants, and deadlines.

A ``BusinessClock`` holds one calendar's working windows over a range of days as UTC epoch seconds
(each window computed from local wall-clock times, so DST days are 23 or 25 hours long) and the
business seconds elapsed before each window. Business time is then a monotone piecewise-linear
function of real time, evaluated for whole arrays with ``searchsorted``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from domain.instants import EPOCH
from slas.calendars import EntityCalendar

FloatArray = npt.NDArray[np.float64]
_ONE_DAY = timedelta(days=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_MARGIN_DAYS = 7


def epoch_seconds(instant: datetime) -> float:
    """``instant`` (timezone-aware) as UTC epoch seconds."""
    if instant.tzinfo is None:
        raise ValueError(f"instant {instant.isoformat()} must be timezone-aware")
    return instant.timestamp()


def epoch_microseconds(instant: datetime) -> int:
    """``instant`` (timezone-aware) as UTC epoch microseconds, exactly (the engine's
    ``toUnixTimestamp64Micro``)."""
    if instant.tzinfo is None:
        raise ValueError(f"instant {instant.isoformat()} must be timezone-aware")
    return (instant - EPOCH) // _ONE_MICROSECOND


def from_epoch_seconds(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(frozen=True, eq=False)
class BusinessClock:
    """Working windows ``[opens[i], closes[i])`` in UTC epoch seconds, ascending and disjoint."""

    first_day: date
    last_day: date
    opens: FloatArray
    closes: FloatArray
    before: FloatArray
    """Business seconds in all windows before window ``i``."""

    def business_seconds_at(self, instants: FloatArray) -> FloatArray:
        """Business seconds from the clock's first window to each instant."""
        index = np.searchsorted(self.opens, instants, side="right") - 1
        safe = np.clip(index, 0, None)
        inside = np.clip(instants - self.opens[safe], 0.0, self.closes[safe] - self.opens[safe])
        return np.where(index >= 0, self.before[safe] + inside, 0.0)

    def elapsed(self, starts: FloatArray, stops: FloatArray) -> FloatArray:
        """Business seconds from each start to its stop (0 when the stop is not later)."""
        return np.maximum(self.business_seconds_at(stops) - self.business_seconds_at(starts), 0.0)

    def advance(self, starts: FloatArray, business_seconds: FloatArray) -> FloatArray:
        """The instant at which ``business_seconds`` of business time have passed since each start.

        A deadline that lands exactly on the end of a window is that end (as in the simulator:
        a timer that runs out at midnight ends at midnight, not at the next opening).
        """
        goal = self.business_seconds_at(starts) + business_seconds
        after = self.before + (self.closes - self.opens)
        index = np.searchsorted(after, goal, side="left")
        beyond = index >= len(self.opens)
        safe = np.clip(index, 0, len(self.opens) - 1)
        result = self.opens[safe] + (goal - self.before[safe])
        # A zero target on a non-working instant is met at once, not at the next opening.
        result = np.where(business_seconds <= 0, starts, np.maximum(result, starts))
        return np.where(beyond, np.nan, result)

    def rewind(self, ends: FloatArray, business_seconds: FloatArray) -> FloatArray:
        """The latest instant from which ``business_seconds`` of business time pass until each
        end (NaN when the clock does not reach back that far)."""
        goal = self.business_seconds_at(ends) - business_seconds
        after = self.before + (self.closes - self.opens)
        index = np.searchsorted(after, goal, side="left")
        safe = np.clip(index, 0, len(self.opens) - 1)
        result = self.opens[safe] + (goal - self.before[safe])
        result = np.where(business_seconds <= 0, ends, np.minimum(result, ends))
        return np.where(goal < 0, np.nan, result)


def build_clock(calendar: EntityCalendar, first_day: date, last_day: date) -> BusinessClock:
    """The calendar's working windows for every local day from ``first_day`` to ``last_day``."""
    return _cached_clock(calendar, first_day, last_day)


@lru_cache(maxsize=64)
def _cached_clock(calendar: EntityCalendar, first_day: date, last_day: date) -> BusinessClock:
    holiday_set = calendar.holidays_between(first_day, last_day)
    open_hour, close_hour = calendar.working_hours
    opens: list[float] = []
    closes: list[float] = []
    day = first_day
    while day <= last_day:
        if calendar.is_working_day(day, holiday_set):
            window_open = calendar.at_local(day, open_hour).timestamp()
            window_close = calendar.at_local(day, close_hour).timestamp()
            if window_close > window_open:
                opens.append(window_open)
                closes.append(window_close)
        day += _ONE_DAY
    opens_array = np.array(opens, dtype=np.float64)
    closes_array = np.array(closes, dtype=np.float64)
    lengths = closes_array - opens_array
    before = np.concatenate(([0.0], np.cumsum(lengths)[:-1])) if len(lengths) else lengths
    return BusinessClock(first_day, last_day, opens_array, closes_array, before)


def clock_for_span(
    calendar: EntityCalendar, low: float, high: float, ahead_business_seconds: float = 0.0
) -> BusinessClock:
    """A clock covering ``[low, high]`` (epoch seconds) and deadlines up to ``ahead`` past ``high``.

    Days are padded so that any deadline of up to ``ahead_business_seconds`` from an instant in
    the range is inside the clock even across long holiday stretches.
    """
    day_seconds = max(calendar.business_day_seconds, 1.0)
    ahead_days = int(np.ceil(ahead_business_seconds / day_seconds)) if ahead_business_seconds else 0
    # Weekends and holidays: allow more than two calendar days per business day, plus a margin.
    padding = timedelta(days=ahead_days * 3 + 30)
    first = (from_epoch_seconds(low) - timedelta(days=_MARGIN_DAYS)).date()
    last = (from_epoch_seconds(high) + padding + timedelta(days=_MARGIN_DAYS)).date()
    # Round the range outwards to whole months so that repeated evaluations share cached clocks.
    first = first.replace(day=1)
    last = (last.replace(day=1) + timedelta(days=32)).replace(day=1)
    return build_clock(calendar, first, last)


def business_seconds_between(calendar: EntityCalendar, start: datetime, stop: datetime) -> float:
    """Scalar convenience: business seconds from ``start`` to ``stop`` in ``calendar``."""
    low, high = epoch_seconds(start), epoch_seconds(stop)
    clock = clock_for_span(calendar, min(low, high), max(low, high))
    return float(clock.elapsed(np.array([low]), np.array([high]))[0])


def add_business_seconds(calendar: EntityCalendar, start: datetime, seconds: float) -> datetime:
    """Scalar convenience: the instant ``seconds`` of business time after ``start``."""
    low = epoch_seconds(start)
    clock = clock_for_span(calendar, low, low, seconds)
    return from_epoch_seconds(float(clock.advance(np.array([low]), np.array([seconds]))[0]))


def business_window_starts(
    calendar: EntityCalendar, end: datetime, seconds: Sequence[float]
) -> list[datetime]:
    """The wall-clock start of each window of ``seconds`` business time that ends at ``end``."""
    high = epoch_seconds(end)
    longest = max(seconds, default=0.0)
    day_seconds = max(calendar.business_day_seconds, 1.0)
    # weekends and holidays: allow more than two calendar days per business day, plus a margin;
    # a calendar with fewer working days needs more, so reach further back until it suffices
    back = timedelta(days=int(np.ceil(longest / day_seconds)) * 3 + 30).total_seconds()
    for _ in range(6):
        clock = clock_for_span(calendar, high - back, high)
        starts = clock.rewind(np.full(len(seconds), high), np.array(seconds, dtype=np.float64))
        if not np.isnan(starts).any():
            return [from_epoch_seconds(float(start)) for start in starts.tolist()]
        back *= 4
    raise ValueError(
        f"no {longest / 3600:g} business hours before {end.isoformat()} in a calendar of "
        f"working days {calendar.working_days} and hours {calendar.working_hours}"
    )
