"""Timer states in business time, as_of before and after deadlines, and the SLA summary."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from domain import semconv as sc
from slas.calendars import CalendarBook, EntityCalendar
from slas.definitions import TIME_TO_PROJECT_CREATION, TIME_TO_REVENUE_POSTING, SlaDefinition
from slas.timer_pairing import correlate
from slas.timers import (
    BREACH_REASONS,
    STATES,
    EvaluatedTimers,
    apply_filters,
    evaluate_timers,
    summarize,
)
from tests.slas.events import Event, at, event, snapshot_of

BOOK = CalendarBook({"LE-DE01": EntityCalendar("Europe/Berlin", holiday_country="DE")})
MONDAY_NOON = at(hours=3)  # 2026-09-07 12:00 UTC, 14:00 in Berlin


def contract_timer(
    *, stop: datetime | None, as_of: datetime, definition: SlaDefinition = TIME_TO_PROJECT_CREATION
) -> EvaluatedTimers:
    events: list[Event] = [
        event(
            sc.CONTRACT_SIGNED, "CTR-1", {sc.CONTRACT: "CTR-1"}, MONDAY_NOON, legal_entity="LE-DE01"
        )
    ]
    if stop is not None:
        events.append(
            event(sc.PROJECT_ACTIVATED, "PRJ-1", {sc.PROJECT: "PRJ-1", sc.CONTRACT: "CTR-1"}, stop)
        )
    timers = correlate(snapshot_of(events, as_of), definition)
    return evaluate_timers(timers, definition, BOOK, as_of)


class TestStates:
    @pytest.mark.parametrize(
        ("stop", "as_of", "state", "reason"),
        [
            pytest.param(at(days=1), at(days=10), "met", "", id="stopped-in-time"),
            pytest.param(at(days=2, hours=3), at(days=10), "met", "", id="stopped-at-deadline"),
            pytest.param(at(days=3), at(days=10), "breached", "late", id="stopped-late"),
            pytest.param(None, at(days=10), "breached", "missing", id="never-stopped"),
            pytest.param(None, at(hours=10), "on_track", "", id="open-early"),
            pytest.param(None, at(days=1, hours=10), "at_risk", "", id="past-half"),
            pytest.param(None, at(days=2, hours=3), "at_risk", "", id="at-deadline-still-open"),
            pytest.param(at(days=3), at(days=1), "on_track", "", id="before-late-stop-seen"),
            pytest.param(
                at(days=3), at(days=2, hours=4), "breached", "missing", id="past-deadline"
            ),
        ],
    )
    def test_state_at_as_of(
        self, stop: datetime | None, as_of: datetime, state: str, reason: str
    ) -> None:
        """2 business days from Monday 14:00 Berlin end Wednesday 14:00 (12:00 UTC)."""
        evaluated = contract_timer(stop=stop, as_of=as_of)
        assert STATES[int(evaluated.state[0])] == state
        assert BREACH_REASONS[int(evaluated.reason[0])] == reason

    def test_the_weekend_does_not_count(self) -> None:
        """Started Thursday 14:00 Berlin, 2 business days end Monday 14:00: 34 hours by Sunday."""
        start = at(days=3, hours=3)  # Thursday 2026-09-10 12:00 UTC
        events = [event(sc.CONTRACT_SIGNED, "C", {sc.CONTRACT: "C"}, start, legal_entity="LE-DE01")]
        as_of = at(days=6)  # Sunday 09:00 UTC
        evaluated = evaluate_timers(
            correlate(snapshot_of(events, as_of), TIME_TO_PROJECT_CREATION),
            TIME_TO_PROJECT_CREATION,
            BOOK,
            as_of,
        )
        assert STATES[int(evaluated.state[0])] == "at_risk"
        assert evaluated.elapsed_seconds[0] / 3600 == pytest.approx(34)
        assert evaluated.deadline[0] == pytest.approx(at(days=7, hours=3).timestamp())

    def test_revenue_posted_into_another_period_is_a_breach(self) -> None:
        """In time but into October for a September milestone: breached, wrong period."""
        milestone = event(
            sc.MILESTONE_COMPLETED, "MS-1", {sc.MILESTONE: "MS-1", sc.OBLIGATION: "POB-1"}, at(0)
        )
        posting = event(
            sc.REVENUE_POSTED,
            "JE-1",
            {sc.JOURNAL: "JE-1", sc.OBLIGATION: "POB-1"},
            at(days=1),
            period="2026-10",
        )
        as_of = at(days=5)
        timers = correlate(snapshot_of([milestone, posting], as_of), TIME_TO_REVENUE_POSTING)
        evaluated = evaluate_timers(timers, TIME_TO_REVENUE_POSTING, BOOK, as_of)
        assert BREACH_REASONS[int(evaluated.reason[0])] == "wrong_period"

    def test_thresholds_are_configurable(self) -> None:
        """With a single 90 % threshold, a timer past half is still on track."""
        definition = replace(TIME_TO_PROJECT_CREATION, warning_thresholds=(0.9,))
        evaluated = contract_timer(stop=None, as_of=at(days=1, hours=10), definition=definition)
        assert STATES[int(evaluated.state[0])] == "on_track"


class TestSummary:
    def test_counts_attainment_and_percentiles(self) -> None:
        """Attainment is met over decided timers; percentiles come from stopped timers."""
        starts = [at(days=d) for d in range(4)]
        events = []
        for number, start in enumerate(starts):
            contract = f"CTR-{number}"
            events.append(
                event(
                    sc.CONTRACT_SIGNED,
                    contract,
                    {sc.CONTRACT: contract},
                    start,
                    legal_entity="LE-DE01",
                )
            )
        stops = {0: at(hours=6), 1: at(days=5)}
        for number, stop in stops.items():
            project = f"PRJ-{number}"
            events.append(
                event(
                    sc.PROJECT_ACTIVATED,
                    project,
                    {sc.PROJECT: project, sc.CONTRACT: f"CTR-{number}"},
                    stop,
                )
            )
        as_of = at(days=3, hours=6)
        evaluated = evaluate_timers(
            correlate(snapshot_of(events, as_of), TIME_TO_PROJECT_CREATION),
            TIME_TO_PROJECT_CREATION,
            BOOK,
            as_of,
        )
        summary = summarize(TIME_TO_PROJECT_CREATION, evaluated)
        assert summary.counts == {"met": 1, "breached": 1, "at_risk": 1, "on_track": 1}
        assert summary.attainment == 0.5
        assert summary.p50_business_hours == pytest.approx(6.0)
        assert summary.target == "2d"

    def test_no_timers_means_no_attainment(self) -> None:
        """An SLA without timers reports nulls, not zero."""
        evaluated = contract_timer(stop=None, as_of=at(days=-1))
        summary = summarize(TIME_TO_PROJECT_CREATION, evaluated)
        assert summary.counts == dict.fromkeys(STATES, 0)
        assert summary.attainment is None
        assert summary.p95_business_hours is None


class TestDefaultCalendar:
    def test_an_entity_without_a_calendar_is_reported_once_and_kept(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """LE-FR01's timers use the default calendar; the log says so once per entity."""
        book = CalendarBook({})
        events = [
            event(sc.CONTRACT_SIGNED, c, {sc.CONTRACT: c}, at(0), legal_entity="LE-FR01")
            for c in ("A", "B")
        ]
        timers = correlate(snapshot_of(events, at(days=1)), TIME_TO_PROJECT_CREATION)
        with caplog.at_level("WARNING"):
            for _ in range(3):
                evaluated = evaluate_timers(timers, TIME_TO_PROJECT_CREATION, book, at(days=1))
        assert len(evaluated) == 2
        assert [r.getMessage() for r in caplog.records] == [
            "legal entity 'LE-FR01' has no calendar configured; its events use the default "
            "calendar (UTC, working days mon,tue,wed,thu,fri, close day 5)"
        ]


class TestFilters:
    def test_a_legal_entity_filter_keeps_only_its_timers(self) -> None:
        """An SLA scoped to LE-US01 ignores the German contract."""
        events = [
            event(sc.CONTRACT_SIGNED, c, {sc.CONTRACT: c}, at(0), legal_entity=le)
            for c, le in (("A", "LE-DE01"), ("B", "LE-US01"))
        ]
        definition = replace(TIME_TO_PROJECT_CREATION, legal_entities=("LE-US01",))
        timers = apply_filters(correlate(snapshot_of(events, at(1)), definition), definition, {})
        assert [timers.entity_name(int(code)) for code in timers.legal_entity] == ["LE-US01"]
