"""Business-time arithmetic: weekends, each entity's holidays, DST in New York and Berlin."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.business_time import BusinessCalendar
from slas.business_time import (
    add_business_seconds,
    business_seconds_between,
    clock_for_span,
    epoch_microseconds,
)
from slas.calendars import DEFAULT_CALENDAR, EntityCalendar
from tests.firm import FIRM_CALENDARS

US = FIRM_CALENDARS["LE-US01"]
UK = FIRM_CALENDARS["LE-UK01"]
DE = FIRM_CALENDARS["LE-DE01"]
SCOTLAND = EntityCalendar("Europe/London", holiday_country="GB", holiday_subdivision="SCT")
NEW_YORK_OFFICE = EntityCalendar("America/New_York", working_hours=(9.0, 17.0))
BERLIN_OFFICE = EntityCalendar("Europe/Berlin", working_hours=(9.0, 17.0))
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
NEW_YORK_ALL_WEEK = EntityCalendar("America/New_York", working_days=EVERY_DAY)
BERLIN_ALL_WEEK = EntityCalendar("Europe/Berlin", working_days=EVERY_DAY)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class TestElapsed:
    @pytest.mark.parametrize(
        ("calendar", "start", "stop", "hours"),
        [
            pytest.param(
                DEFAULT_CALENDAR, "2026-09-11T18:00", "2026-09-14T06:00", 12, id="weekend"
            ),
            pytest.param(
                DEFAULT_CALENDAR, "2026-09-12T10:00", "2026-09-13T10:00", 0, id="all-weekend"
            ),
            pytest.param(
                DEFAULT_CALENDAR, "2026-09-14T10:00", "2026-09-14T09:00", 0, id="stop-first"
            ),
            pytest.param(US, "2026-07-02T16:00", "2026-07-06T16:00", 24, id="us-independence-day"),
            pytest.param(UK, "2026-08-28T11:00", "2026-09-01T11:00", 24, id="england-bank-holiday"),
            pytest.param(
                SCOTLAND, "2026-08-28T11:00", "2026-09-01T11:00", 48, id="not-in-scotland"
            ),
            pytest.param(DE, "2026-04-02T10:00", "2026-04-07T10:00", 24, id="germany-easter"),
            pytest.param(
                US, "2026-03-06T17:00", "2026-03-09T16:00", 24, id="new-york-spring-forward"
            ),
            pytest.param(DE, "2026-10-23T10:00", "2026-10-26T11:00", 24, id="berlin-fall-back"),
            pytest.param(
                NEW_YORK_ALL_WEEK, "2026-03-07T17:00", "2026-03-08T16:00", 23, id="ny-23h-day"
            ),
            pytest.param(
                BERLIN_ALL_WEEK, "2026-10-24T10:00", "2026-10-25T11:00", 25, id="berlin-25h-day"
            ),
            pytest.param(
                NEW_YORK_OFFICE, "2026-03-06T21:00", "2026-03-09T14:00", 2, id="ny-office-dst"
            ),
            pytest.param(
                BERLIN_OFFICE, "2026-10-23T14:00", "2026-10-26T09:00", 2, id="berlin-office-dst"
            ),
            pytest.param(
                BERLIN_OFFICE, "2026-10-23T05:00", "2026-10-23T20:00", 8, id="office-day-only"
            ),
            pytest.param(DE, "2026-09-07T00:00", "2026-09-21T00:00", 240, id="two-weeks"),
        ],
    )
    def test_business_hours_between_instants(
        self, calendar: EntityCalendar, start: str, stop: str, hours: float
    ) -> None:
        """Only time on working days (in working hours, local time) counts."""
        assert business_seconds_between(calendar, utc(start), utc(stop)) / 3600 == pytest.approx(
            hours
        )


class TestDeadline:
    @pytest.mark.parametrize(
        ("calendar", "start", "business_days", "deadline"),
        [
            pytest.param(US, "2026-07-02T16:00", 2, "2026-07-07T16:00", id="us-over-holiday"),
            pytest.param(DE, "2026-04-01T13:00", 3, "2026-04-08T13:00", id="de-over-easter"),
            pytest.param(UK, "2026-08-27T11:00", 2, "2026-09-01T11:00", id="uk-over-bank-holiday"),
            pytest.param(
                DEFAULT_CALENDAR, "2026-09-12T10:00", 1, "2026-09-15T00:00", id="starts-on-weekend"
            ),
            pytest.param(
                DEFAULT_CALENDAR, "2026-09-14T00:00", 1, "2026-09-15T00:00", id="ends-at-midnight"
            ),
            pytest.param(US, "2026-03-06T17:00", 1, "2026-03-09T16:00", id="ny-spring-forward"),
            pytest.param(DE, "2026-10-23T10:00", 1, "2026-10-26T11:00", id="berlin-fall-back"),
            pytest.param(
                BERLIN_OFFICE, "2026-10-23T13:00", 1, "2026-10-26T14:00", id="office-hours-dst"
            ),
            pytest.param(DE, "2026-09-07T09:00", 10, "2026-09-21T09:00", id="ten-days"),
        ],
    )
    def test_deadline_after_business_days(
        self, calendar: EntityCalendar, start: str, business_days: float, deadline: str
    ) -> None:
        """A target of N business days ends N working days of the entity's calendar later."""
        seconds = business_days * calendar.business_day_seconds
        assert add_business_seconds(calendar, utc(start), seconds) == utc(deadline)

    def test_whole_arrays_match_one_by_one(self) -> None:
        """The vectorised deadline of many timers equals each computed alone."""
        starts = [utc("2026-07-01T00:00") + timedelta(hours=7 * i) for i in range(40)]
        epoch = np.array([s.timestamp() for s in starts])
        clock = clock_for_span(US, epoch.min(), epoch.max(), 3 * 86400)
        together = clock.advance(epoch, np.full(len(starts), 3 * 86400.0))
        alone = [add_business_seconds(US, s, 3 * 86400).timestamp() for s in starts]
        assert together.tolist() == pytest.approx(alone)


class TestCloseCalendar:
    @pytest.mark.parametrize(
        ("calendar", "period", "close_date", "deadline"),
        [
            (US, "2026-09", date(2026, 10, 7), "2026-10-08T04:00"),
            (US, "2026-06", date(2026, 7, 8), "2026-07-09T04:00"),
            (UK, "2026-08", date(2026, 9, 4), "2026-09-04T23:00"),
            (DE, "2026-09", date(2026, 10, 8), "2026-10-08T22:00"),
            (DE, "2026-12", date(2027, 1, 11), "2027-01-11T23:00"),
            (BERLIN_OFFICE, "2026-09", date(2026, 10, 7), "2026-10-07T15:00"),
        ],
    )
    def test_close_is_business_day_n_after_period_end(
        self, calendar: EntityCalendar, period: str, close_date: date, deadline: str
    ) -> None:
        """Weekends and holidays after the period end do not count towards the close day."""
        assert calendar.close_date(period) == close_date
        assert calendar.close_deadline(period) == utc(deadline)

    @pytest.mark.parametrize("period", ["2026-13", "2026-9", "26-09", "september"])
    def test_a_malformed_period_is_refused(self, period: str) -> None:
        """The message names the value and the expected form."""
        with pytest.raises(ValueError, match=rf"period {period!r}: expected YYYY-MM"):
            DE.close_date(period)


ENTITIES = {
    name: BusinessCalendar.for_country(
        calendar.time_zone,
        calendar.holiday_country or "",
        range(2025, 2029),
        calendar.holiday_subdivision,
    )
    for name, calendar in FIRM_CALENDARS.items()
}
INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 6, 30), timezones=st.just(UTC)
)


class TestAgainstTheSimulator:
    @settings(max_examples=150, deadline=None)
    @given(
        entity=st.sampled_from(sorted(ENTITIES)),
        start=INSTANTS,
        hours=st.floats(min_value=0, max_value=400),
        target=st.floats(min_value=0.01, max_value=150),
    )
    def test_same_business_time_as_the_ground_truth(
        self, entity: str, start: datetime, hours: float, target: float
    ) -> None:
        """The firm's configured calendars count exactly what simulator/truth.py counts."""
        calendar = FIRM_CALENDARS[entity]
        oracle = ENTITIES[entity]
        stop = start + timedelta(hours=hours)
        assert business_seconds_between(calendar, start, stop) / 3600 == pytest.approx(
            oracle.business_hours_between(start, stop), abs=1e-6
        )
        deadline = add_business_seconds(calendar, start, target * 3600)
        assert deadline.timestamp() == pytest.approx(
            oracle.add_business_hours(start, target).timestamp(), abs=1e-3
        )


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
@settings(max_examples=200)
def test_epoch_microseconds_are_the_engines_exactly(naive: datetime) -> None:
    """Integer microseconds since the epoch, with no float rounding (the engine's
    ``toUnixTimestamp64Micro``, which close risk compares them with); a naive instant refused."""
    instant = naive.replace(tzinfo=UTC)
    micros = epoch_microseconds(instant)
    assert datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros) == instant
    with pytest.raises(ValueError, match="timezone-aware"):
        epoch_microseconds(naive)
