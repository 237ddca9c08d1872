"""Business time of an entity calendar: working days, holidays, time zones and close deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.business_time import BusinessCalendar

UK = BusinessCalendar.for_country("Europe/London", "GB", range(2024, 2027), "ENG")
US = BusinessCalendar.for_country("America/New_York", "US", range(2024, 2027))
DE = BusinessCalendar.for_country("Europe/Berlin", "DE", range(2024, 2027))


class TestBusinessHours:
    def test_a_weekend_does_not_count(self) -> None:
        """Friday noon to Monday noon is one business day."""
        friday = datetime(2025, 6, 13, 11, 0, tzinfo=UTC)
        monday = datetime(2025, 6, 16, 11, 0, tzinfo=UTC)
        assert UK.business_hours_between(friday, monday) == pytest.approx(24)

    def test_public_holidays_do_not_count(self) -> None:
        """Christmas Day and Boxing Day are skipped in the UK calendar."""
        christmas_eve = datetime(2025, 12, 24, 12, 0, tzinfo=UTC)
        assert UK.add_business_hours(christmas_eve, 24) == datetime(2025, 12, 29, 12, 0, tzinfo=UTC)

    def test_a_start_on_a_weekend_counts_from_the_next_working_day(self) -> None:
        """Eight business hours from Saturday end at 08:00 local on Monday."""
        saturday = datetime(2025, 6, 14, 10, 0, tzinfo=UTC)
        assert UK.add_business_hours(saturday, 8) == datetime(2025, 6, 16, 7, 0, tzinfo=UTC)

    @settings(max_examples=60, deadline=None)
    @given(
        start=st.datetimes(
            min_value=datetime(2025, 1, 1), max_value=datetime(2025, 12, 1), timezones=st.just(UTC)
        ),
        hours=st.floats(min_value=0.1, max_value=400),
    )
    def test_adding_business_hours_and_measuring_them_agree(
        self, start: datetime, hours: float
    ) -> None:
        """Measuring from a working-time start to start + h business hours gives h back."""
        start = DE.add_business_hours(start, 0.01)
        stop = DE.add_business_hours(start, hours)
        assert DE.business_hours_between(start, stop) == pytest.approx(hours, abs=1e-6)


class TestPeriodsAndClose:
    def test_the_period_follows_the_entity_time_zone(self) -> None:
        """Late evening of 31 March UTC is already April in Berlin but still March in New York."""
        instant = datetime(2025, 3, 31, 22, 30, tzinfo=UTC)
        assert (DE.period_of(instant), US.period_of(instant)) == ("2025-04", "2025-03")

    def test_the_close_deadline_is_the_end_of_business_day_n_after_period_end(self) -> None:
        """May 2025 closes at the end of 6 June in New York, the fifth business day of June."""
        assert US.close_deadline("2025-05", 5) == datetime(2025, 6, 7, 4, 0, tzinfo=UTC)

    def test_the_close_deadline_skips_holidays(self) -> None:
        """Closing March 2024 in the UK skips Good Friday's weekend and Easter Monday."""
        # April 2024: Mon 1 is Easter Monday, so business day 4 is Friday 5 April.
        assert UK.close_deadline("2024-03", 4) == datetime(2024, 4, 5, 23, 0, tzinfo=UTC)

    def test_office_time_moves_night_work_to_the_next_opening(self) -> None:
        """An instant at 22:00 local on a Friday moves to Monday 08:00 plus the jitter."""
        friday_night = datetime(2025, 6, 13, 21, 0, tzinfo=UTC)
        moved = UK.office_time_from(friday_night, jitter_hours=0.5)
        assert moved == datetime(2025, 6, 16, 7, 30, tzinfo=UTC)
        assert moved - friday_night > timedelta(days=2)
