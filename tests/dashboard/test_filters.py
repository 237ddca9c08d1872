"""Shared filter state: seeded from the URL, read back from the widgets, mirrored to the URL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from dashboard.filters import (
    ALL,
    KEY_DATE,
    KEY_ENTITY,
    KEY_LIVE,
    KEY_PERIOD,
    KEY_TIME,
    Filters,
    filters_from_state,
    initial_state,
    instant_caption,
    parse_as_of,
    recent_periods,
)

NOW = datetime(2026, 11, 28, 21, 38, 23, 500, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-30T17:00:00Z", datetime(2026, 10, 30, 17, 0, tzinfo=UTC)),
        ("2026-10-30T19:00:00+02:00", datetime(2026, 10, 30, 17, 0, tzinfo=UTC)),
        ("2026-10-30T17:00:00", datetime(2026, 10, 30, 17, 0, tzinfo=UTC)),
        ("live", None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_as_of_in_the_url_is_an_instant_or_live(text: str, expected: datetime | None) -> None:
    """RFC 3339 with any offset, naive as UTC; anything else means live."""
    assert parse_as_of(text) == expected


def test_a_new_session_takes_its_filters_from_the_url() -> None:
    """A shared link reopens the same moment, period and legal entity."""
    state = initial_state(
        {"as_of": "2026-10-30T17:00:00Z", "period": "2026-10", "legal_entity": "LE-UK01"}, NOW
    )
    assert filters_from_state(state, NOW) == Filters(
        as_of=datetime(2026, 10, 30, 17, 0, tzinfo=UTC),
        period="2026-10",
        legal_entity="LE-UK01",
        live=False,
    )


def test_without_url_parameters_the_dashboard_is_live_over_everything() -> None:
    """Live means now, floored to the minute so cached reads are reused within it."""
    filters = filters_from_state(initial_state({}, NOW), NOW)
    assert filters == Filters(as_of=datetime(2026, 11, 28, 21, 38, tzinfo=UTC), live=True)
    assert filters.current_period == "2026-11"


def test_an_invalid_period_in_the_url_is_ignored() -> None:
    """period=2026-13 does not reach the API."""
    assert initial_state({"period": "2026-13"}, NOW)[KEY_PERIOD] == ALL


def test_fixed_time_comes_from_the_date_and_time_widgets() -> None:
    """Live off: as_of is the chosen UTC date and time."""
    state = {
        KEY_LIVE: False,
        KEY_DATE: date(2026, 9, 30),
        KEY_TIME: time(12, 15),
        KEY_PERIOD: ALL,
        KEY_ENTITY: ALL,
    }
    assert filters_from_state(state, NOW).as_of == datetime(2026, 9, 30, 12, 15, tzinfo=UTC)


def test_query_parameters_round_trip() -> None:
    """What the URL shows reopens the same filters."""
    filters = Filters(datetime(2026, 10, 30, 17, 0, tzinfo=UTC), "2026-10", "LE-DE01", live=False)
    assert filters.query_params() == {
        "as_of": "2026-10-30T17:00:00Z",
        "period": "2026-10",
        "legal_entity": "LE-DE01",
    }
    assert filters_from_state(initial_state(filters.query_params(), NOW), NOW) == filters
    assert Filters(NOW).query_params() == {"as_of": "live"}


def test_recent_periods_cross_the_year_boundary() -> None:
    """Six periods back from February reach into the previous year."""
    assert recent_periods(datetime(2026, 2, 3, tzinfo=UTC), 4) == [
        "2026-02",
        "2026-01",
        "2025-12",
        "2025-11",
    ]


def test_caption_names_both_instants_and_the_scope() -> None:
    """Every page says once as of when, known at when, which period and which legal entity."""
    caption = instant_caption(
        Filters(datetime(2026, 10, 30, 17, 0, tzinfo=UTC), None, "LE-UK01", live=False),
        datetime(2026, 10, 30, 16, 59, 58, 250000, tzinfo=UTC),
    )
    assert caption == (
        "As of **2026-10-30 17:00 UTC** (fixed) · known at **2026-10-30 16:59:58 UTC** · "
        "all periods · LE-UK01"
    )


def test_caption_says_when_no_answer_reported_its_knowledge_time() -> None:
    """A page whose reads failed does not invent a known-at instant."""
    caption = instant_caption(Filters(datetime(2026, 10, 30, 17, 0, tzinfo=UTC)), None)
    assert "known at: not reported" in caption
