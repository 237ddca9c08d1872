"""SLA objectives: error budgets and multi-window burn rates in business time, the pure rules and
the SQL answer over ``sla_timers`` on the real engine, and ``SlaBudgetBurn`` from both."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from slas.alerts import FIRE, Change
from slas.business_state import BusinessState
from slas.business_time import business_window_starts
from slas.calendars import CalendarBook, EntityCalendar
from slas.definitions import TIME_TO_PROJECT_CREATION, BusinessDuration
from slas.notifiers.slack import SlackChannel
from slas.notifiers.webhook import WebhookChannel
from slas.objective_answers import BudgetBurnAlerts, ObjectiveAnswers
from slas.objectives import (
    BUDGET_BURN,
    WINDOWS,
    Counts,
    Objective,
    ObjectiveBook,
    ObjectiveStatus,
    budget_burn_alerts,
    burn_rate,
    objective_status,
)
from tests.slas.events import Event, at, event
from tests.slas.test_engine import insert
from tests.templates import database_of
from warehouse.pool import ClientPool

WEEKDAYS = EntityCalendar()
"""Monday to Friday, 24 business hours a day, UTC."""
OFFICE = EntityCalendar(time_zone="Europe/Berlin", working_hours=(9.0, 17.0))
"""Monday to Friday, 09:00-17:00 Berlin."""
SLA = TIME_TO_PROJECT_CREATION.name


def status(objective: float, *counts: tuple[int, int]) -> ObjectiveStatus:
    return objective_status(
        SLA, "LE-1", Objective(objective), WEEKDAYS, [Counts(m, b) for m, b in counts]
    )


class TestBusinessWindows:
    def test_a_business_day_back_from_monday_morning_is_friday_morning(self) -> None:
        """The weekend is no business time: 24 business hours before Monday 09:00 is Friday 09:00."""
        (start,) = business_window_starts(WEEKDAYS, at(0), [24 * 3600.0])
        assert start == at(-3)

    def test_office_hours_count_only_the_working_day(self) -> None:
        """Two business hours before Monday 10:00 Berlin are Friday 16:00 Berlin."""
        monday_ten = datetime(2026, 9, 7, 8, 0, tzinfo=UTC)  # 10:00 CEST
        two_hours, one_day = business_window_starts(OFFICE, monday_ten, [7200.0, 8 * 3600.0])
        assert two_hours == datetime(2026, 9, 4, 14, 0, tzinfo=UTC)
        assert one_day == datetime(2026, 9, 4, 8, 0, tzinfo=UTC)

    def test_a_calendar_with_one_working_day_a_week_reaches_far_enough_back(self) -> None:
        """20 Sundays of business time before Monday 7 September are 26 April to 6 September: the
        window starts where the Sunday before ends (beyond the first guess of 90 days)."""
        sundays = EntityCalendar(working_days=(6,))
        (start,) = business_window_starts(sundays, at(0), [20 * 24 * 3600.0])
        assert start == datetime(2026, 4, 20, tzinfo=UTC)


class TestBudget:
    def test_burn_rate_is_the_breached_share_over_the_allowed_share(self) -> None:
        """1 breach in 10 timers against a 95 % objective burns 2x; no timers burn nothing."""
        assert burn_rate(Counts(9, 1), Objective(0.95)) == pytest.approx(2.0)
        assert burn_rate(Counts(0, 0), Objective(0.95)) == 0.0

    def test_budget_left_goes_negative_once_overspent(self) -> None:
        """90 % over 20 timers allows 2 breaches: 1 leaves half, 4 overspend it twice."""
        half = status(0.9, (19, 1), *[(0, 0)] * (WINDOWS - 1))
        over = status(0.9, (16, 4), *[(0, 0)] * (WINDOWS - 1))
        assert (half.budget, half.budget_left, half.attainment) == pytest.approx((2.0, 0.5, 0.95))
        assert over.budget_left == pytest.approx(-1.0)

    def test_without_timers_nothing_is_known(self) -> None:
        """No timer ended in the window: no attainment and no budget figure."""
        empty = status(0.9, *[(0, 0)] * WINDOWS)
        assert (empty.attainment, empty.budget_left) == (None, None)

    def test_factors_follow_the_window(self) -> None:
        """A 20-day window: the fast tier fires above 2x, the slow one above 1x."""
        burns = status(0.9, *[(1, 0)] * WINDOWS).burns
        assert [(b.tier, b.window, b.factor) for b in burns] == [
            ("fast", "1d", 2.0),
            ("slow", "5d", 1.0),
        ]
        assert [(b.long_window_hours, b.short_window_hours) for b in burns] == [(24, 2), (120, 10)]

    def test_a_tier_longer_than_the_window_is_left_out(self) -> None:
        """A 3-day objective has no 5-day tier."""
        short = objective_status(
            SLA, "LE-1", Objective(0.9, BusinessDuration(days=3)), WEEKDAYS, [Counts(1, 0)] * 5
        )
        assert [b.tier for b in short.burns] == ["fast"]

    def test_wrong_number_of_windows_is_refused(self) -> None:
        """Counts must match the windows, naming both numbers."""
        with pytest.raises(ValueError, match="expected counts for 5 windows, got 2"):
            status(0.9, (1, 0), (1, 0))


class TestAlerts:
    NOW = at(days=2)

    @pytest.mark.parametrize(
        ("short", "fires"),
        [((0, 2), True), ((8, 1), False), ((0, 0), False)],
        ids=["both-windows-burn", "short-window-recovered", "short-window-empty"],
    )
    def test_both_windows_must_burn(self, short: tuple[int, int], fires: bool) -> None:
        """The fast tier fires only while the long and the short window burn above 2x."""
        counts = [(10, 10), (2, 2), short, (10, 10), (10, 10)]
        alerts = budget_burn_alerts(
            [status(0.9, *counts)],
            {SLA: "sales-operations"},
            now=self.NOW,
            public_url="https://s.example",
        )
        fast = [a for a in alerts if a.labels["window"] == "1d"]
        assert bool(fast) is fires
        slow = [a for a in alerts if a.labels["window"] == "5d"]
        assert len(slow) == 1, "the slow tier burns 5x in both its windows"

    def test_labels_name_sla_entity_window_and_severity(self) -> None:
        """Labels identify the alert; rates and the budget left go in annotations."""
        (alert, _) = budget_burn_alerts(
            [status(0.9, *[(5, 5)] * WINDOWS)],
            {SLA: "sales-operations"},
            now=self.NOW,
            public_url="https://s.example",
        )
        assert alert.labels == {
            "alertname": BUDGET_BURN,
            "sla": SLA,
            "legal_entity": "LE-1",
            "window": "1d",
            "severity": "critical",
            "owner": "sales-operations",
        }
        assert alert.annotations["long_burn_rate"] == "5.00"
        assert alert.annotations["budget_left"] == "-4.0000"
        assert (
            "5.0x over the last 24h and 5.0x over the last 2h" in alert.annotations["description"]
        )

    def test_direct_channels_tell_it_by_its_summary(self) -> None:
        """Slack and the webhook render a budget burn (an SLA label, but no timer)."""
        (alert, _) = budget_burn_alerts(
            [status(0.9, *[(5, 5)] * WINDOWS)],
            {SLA: "sales-operations"},
            now=self.NOW,
            public_url="https://s.example",
        )
        fresh, stale = Change(FIRE, alert), Change(FIRE, alert, stale=True)
        slack = SlackChannel("https://hooks.example/x").render([fresh, stale], [], now=self.NOW)
        assert (
            f"SlaBudgetBurn firing: {SLA} burns its error budget 5.0x at LE-1"
            in (slack[0].body["text"])
        )
        assert "• SlaBudgetBurn:" in str(slack[1].body)
        (hook,) = WebhookChannel("https://hooks.example/y").render([fresh], [], now=self.NOW)
        assert hook.body["alerts"][0]["labels"]["window"] == "1d"


def contracts(count: int, signed: datetime, *, activated_after: timedelta | None) -> list[Event]:
    """``count`` contracts of LE-DE01 signed at ``signed``; activated after the delay or never."""
    events = []
    for number in range(count):
        name = f"CTR-{signed:%d%H%M}-{'A' if activated_after else 'N'}{number}"
        events.append(
            event(sc.CONTRACT_SIGNED, name, {sc.CONTRACT: name}, signed, legal_entity="LE-DE01")
        )
        if activated_after is not None:
            project = f"PRJ-{name}"
            events.append(
                event(
                    sc.PROJECT_ACTIVATED,
                    project,
                    {sc.PROJECT: project, sc.CONTRACT: name},
                    signed + activated_after,
                    legal_entity="LE-DE01",
                )
            )
    return events


def scenario() -> list[Event]:
    """Monday 09:00: 6 contracts activated within the hour, 2 never (breached Wednesday 09:00)."""
    return contracts(6, at(0), activated_after=timedelta(hours=1)) + contracts(
        2, at(0), activated_after=None
    )


@pytest.fixture(scope="module")
def decided(
    module_migrated: Client, module_engine_url: str
) -> Iterator[tuple[ClientPool, CalendarBook, BusinessState]]:
    """The scenario stored and its timers decided by a tick, once for the module: its tests only
    read the timers (each through an ``ObjectiveAnswers`` of its own, whose objectives two of
    them change), and a tick with nothing new writes nothing."""
    insert(module_migrated, scenario())
    pool = ClientPool(module_engine_url, database=database_of(module_migrated))
    book = CalendarBook({"LE-DE01": WEEKDAYS})
    state = BusinessState(pool.client, [TIME_TO_PROJECT_CREATION], book, settle=timedelta(0))
    time.sleep(0.002)
    state.tick(datetime.now(UTC))
    try:
        yield pool, book, state
    finally:
        pool.close()


@pytest.fixture
def answers(decided: tuple[ClientPool, CalendarBook, BusinessState]) -> ObjectiveAnswers:
    pool, book, state = decided
    objectives = ObjectiveBook({SLA: Objective(0.9)}, {SLA: {"LE-OTHER": Objective(0.5)}})
    return ObjectiveAnswers(pool.client, [TIME_TO_PROJECT_CREATION], book, state, objectives)


class TestAnswersOnTheEngine:
    def test_counts_timers_decided_in_each_window(self, answers: ObjectiveAnswers) -> None:
        """Wednesday 10:00: 6 met on Monday and 2 breached at 09:00 in the 20-day window; only
        the breaches in the fast windows (1 day, 2 hours); all 8 in the slow long window."""
        _, (found, other) = answers.report(at(days=2, hours=1), None)
        assert (found.sla, found.legal_entity, found.met, found.breached) == (
            SLA,
            "LE-DE01",
            6,
            2,
        )
        assert (other.legal_entity, other.met, other.breached) == ("LE-OTHER", 0, 0)
        assert found.attainment == pytest.approx(0.75)
        assert found.budget == pytest.approx(0.8)
        assert found.budget_left == pytest.approx(1 - 2 / 0.8)
        fast, slow = found.burns
        assert (fast.long_burn, fast.short_burn) == pytest.approx((10.0, 10.0))
        assert (slow.long_burn, slow.short_burn) == pytest.approx((2.5, 10.0))

    def test_the_short_window_lets_the_burn_fall(self, answers: ObjectiveAnswers) -> None:
        """Wednesday 12:00 nothing was decided for two business hours: the fast tier stops."""
        _, (found, _) = answers.report(at(days=2, hours=3), None)
        fast, slow = found.burns
        assert (fast.long_burn, fast.short_burn) == pytest.approx((10.0, 0.0))
        assert not fast.firing
        assert slow.firing

    def test_before_any_decision_every_configured_entity_is_listed_with_nothing_decided(
        self, answers: ObjectiveAnswers
    ) -> None:
        """Monday 09:30 no timer has stopped or run out: the entities with a calendar or an
        objective of their own are listed with met 0 and breached 0, attainment and budget left
        unknown, nothing burning (before, nothing was listed: a quiet window read as "no
        objective", found from outside)."""
        _, found = answers.report(at(hours=0.5), None)
        assert [(f.legal_entity, f.objective.share) for f in found] == [
            ("LE-DE01", 0.9),
            ("LE-OTHER", 0.5),
        ]
        for quiet in found:
            assert (quiet.met, quiet.breached, quiet.attainment, quiet.budget_left) == (
                0,
                0,
                None,
                None,
            )
            assert not any(burn.firing for burn in quiet.burns)
        assert BudgetBurnAlerts(answers, public_url="").alerts(at(hours=0.5)) == []

    def test_a_known_at_before_the_state_knew_anything_counts_nothing(
        self, answers: ObjectiveAnswers
    ) -> None:
        """Knowledge time: as known in 2020 no timer existed, so nothing is counted."""
        known, found = answers.report(at(days=2, hours=1), datetime(2020, 1, 1, tzinfo=UTC))
        assert known == datetime(2020, 1, 1, tzinfo=UTC)
        assert [(f.legal_entity, f.met, f.breached) for f in found] == [
            ("LE-DE01", 0, 0),
            ("LE-OTHER", 0, 0),
        ]

    def test_an_sla_without_objective_is_not_read(self, answers: ObjectiveAnswers) -> None:
        """No objective anywhere: an empty answer and no alert."""
        answers.objectives = ObjectiveBook()
        assert answers.report(at(days=2, hours=1), None)[1] == []
        assert BudgetBurnAlerts(answers, public_url="").alerts(at(days=2, hours=1)) == []

    def test_an_entity_objective_overrides_the_sla(self, answers: ObjectiveAnswers) -> None:
        """LE-DE01 allowed half its timers to breach: the same breaches burn 2x less than 0.9."""
        answers.objectives = ObjectiveBook({}, {SLA: {"LE-DE01": Objective(0.5)}})
        _, (found,) = answers.report(at(days=2, hours=1), None)
        assert found.objective == Objective(0.5)
        assert found.burns[0].long_burn == pytest.approx(2.0)

    def test_the_source_fires_per_tier_and_resolves_when_the_burn_falls(
        self, answers: ObjectiveAnswers
    ) -> None:
        """Both tiers fire at 10:00; at 12:00 only the slow one is still wanted."""
        source = BudgetBurnAlerts(answers, public_url="https://s.example")
        firing = source.alerts(at(days=2, hours=1))
        assert sorted((a.labels["window"], a.labels["severity"]) for a in firing) == [
            ("1d", "critical"),
            ("5d", "warning"),
        ]
        later = source.alerts(at(days=2, hours=3))
        assert [a.labels["window"] for a in later] == ["5d"]
