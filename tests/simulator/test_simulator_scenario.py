"""The scenario model: deterministic, plausible, and faithful to the event table of docs/semantic-conventions.md."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from domain import semconv
from simulator.assessment import BREACHED, MET, OPEN, timer_outcome
from simulator.events import BusinessEvent
from simulator.firm import ROLES, scale_named
from simulator.history import SLA_DEFINITIONS, ContractHistory
from simulator.lifecycle import LARGEST_CONTRACT, SMALLEST_CONTRACT, contract_history
from simulator.scenario import Scenario
from simulator.truth import write_truth
from tests.simulator.quarters import END, SEED

# docs/semantic-conventions.md, "Event types".
IDS_BY_EVENT_TYPE = {
    semconv.CUSTOMER_SYNCED: (semconv.CUSTOMER, semconv.LEGAL_ENTITY),
    semconv.CONTRACT_SIGNED: (
        semconv.CONTRACT,
        semconv.CUSTOMER,
        semconv.LEGAL_ENTITY,
        semconv.OBLIGATION,
    ),
    semconv.CONTRACT_AMENDED: (semconv.CONTRACT, semconv.OBLIGATION),
    semconv.PROJECT_ACTIVATED: (
        semconv.PROJECT,
        semconv.CONTRACT,
        semconv.CUSTOMER,
        semconv.LEGAL_ENTITY,
    ),
    semconv.TIME_APPROVED: (semconv.TIME_ENTRY, semconv.PROJECT),
    semconv.EXPENSE_APPROVED: (semconv.EXPENSE, semconv.PROJECT),
    semconv.MILESTONE_COMPLETED: (semconv.MILESTONE, semconv.PROJECT, semconv.OBLIGATION),
    semconv.BILLING_READY: (semconv.BILLING_EVENT, semconv.PROJECT),
    semconv.INVOICE_POSTED: (
        semconv.INVOICE,
        semconv.BILLING_EVENT,
        semconv.PROJECT,
        semconv.CUSTOMER,
        semconv.LEGAL_ENTITY,
    ),
    semconv.REVENUE_SCHEDULED: (semconv.REVENUE_SCHEDULE, semconv.OBLIGATION, semconv.CONTRACT),
    semconv.REVENUE_POSTED: (semconv.REVENUE_SCHEDULE, semconv.OBLIGATION, semconv.JOURNAL),
    semconv.REVENUE_ADJUSTED: (semconv.REVENUE_SCHEDULE, semconv.OBLIGATION),
}
WITH_AMOUNT = (
    semconv.CONTRACT_SIGNED,
    semconv.CONTRACT_AMENDED,
    semconv.TIME_APPROVED,
    semconv.EXPENSE_APPROVED,
    semconv.MILESTONE_COMPLETED,
    semconv.BILLING_READY,
    semconv.INVOICE_POSTED,
    semconv.REVENUE_POSTED,
    semconv.REVENUE_ADJUSTED,
)
ARRAY_IDS = {
    semconv.CONTRACT_SIGNED: semconv.OBLIGATION,
    semconv.CONTRACT_AMENDED: semconv.OBLIGATION,
}
BILLED_OBJECTS = (semconv.TIME_ENTRY, semconv.MILESTONE, semconv.EXPENSE)


def all_events(scenario: Scenario, histories: list[ContractHistory]) -> list[BusinessEvent]:
    return [*scenario.customer_events(), *(e for history in histories for e in history.events)]


class TestDeterminism:
    def test_the_same_seed_gives_identical_ground_truth(self, tmp_path: Path) -> None:
        """Two runs with one seed and one end write byte-identical truth files."""
        first, second = tmp_path / "first.json", tmp_path / "second.json"
        for path in (first, second):
            write_truth(path, Scenario.build(seed=SEED, scale=scale_named("tiny"), end=END))
        assert first.read_bytes() == second.read_bytes()

    def test_different_seeds_give_different_quarters(self, tmp_path: Path) -> None:
        """Another seed draws other customers, amounts and times."""
        first, second = tmp_path / "first.json", tmp_path / "second.json"
        write_truth(first, Scenario.build(seed=1, scale=scale_named("tiny"), end=END))
        write_truth(second, Scenario.build(seed=2, scale=scale_named("tiny"), end=END))
        assert first.read_bytes() != second.read_bytes()

    def test_a_contract_can_be_generated_on_its_own(self, small_scenario: Scenario) -> None:
        """Contract 5 comes out the same alone as in the stream, so generation can stream."""
        setup = small_scenario.setups[1]
        alone = contract_history(setup, 5, seed=SEED, start=small_scenario.start, end=END)
        streamed = [
            h for h in small_scenario.contract_histories() if h.contract_id == "CTR-UK01-00005"
        ]
        assert alone == streamed[0]


class TestEvents:
    def test_every_event_carries_the_ids_design_lists_for_its_type(
        self, small_scenario: Scenario, small_histories: list[ContractHistory]
    ) -> None:
        """Each event type has its documented ids, amounts where money moves, periods on postings."""
        for event in all_events(small_scenario, small_histories):
            assert set(IDS_BY_EVENT_TYPE[event.event_type]) <= set(event.object_ids), event
            assert (event.amount is not None) == (event.event_type in WITH_AMOUNT) or (
                event.event_type == semconv.REVENUE_SCHEDULED
            )
            if event.event_type in ARRAY_IDS:
                assert isinstance(event.object_ids[ARRAY_IDS[event.event_type]], tuple)
            if event.event_type == semconv.BILLING_READY:
                billed = [t for t in BILLED_OBJECTS if t in event.object_ids]
                assert len(billed) == 1
            if event.event_type in semconv.POSTING_EVENT_TYPES:
                assert all(attempt.period for attempt in event.attempts)

    def test_event_ids_are_unique(
        self, small_scenario: Scenario, small_histories: list[ContractHistory]
    ) -> None:
        """Every business event has its own durable id."""
        ids = Counter(e.event_id for e in all_events(small_scenario, small_histories))
        assert ids.most_common(1)[0][1] == 1

    def test_nothing_happens_after_the_end_of_the_quarter(
        self, small_scenario: Scenario, small_histories: list[ContractHistory]
    ) -> None:
        """The quarter ends at ``end``: no attempt starts later, none before the start."""
        for event in all_events(small_scenario, small_histories):
            for attempt in event.attempts:
                assert small_scenario.start <= attempt.started_at <= END

    def test_downstream_events_follow_upstream_success(
        self, small_histories: list[ContractHistory]
    ) -> None:
        """No invoice without a successful billing.ready, no revenue before its trigger took effect."""
        for history in small_histories:
            for item in history.billing:
                if item.invoice is not None:
                    assert item.ready.succeeded_at is not None
                    assert item.invoice.first_seen_at > item.ready.succeeded_at
                for work in item.work:
                    assert work.succeeded_at is not None
                    assert work.succeeded_at <= item.ready.first_seen_at
            for revenue in history.revenue:
                assert revenue.trigger.succeeded_at is not None
                assert revenue.posting.first_seen_at > revenue.trigger.succeeded_at
            if history.billing:
                assert history.activated is not None
                assert history.activated.succeeded_at is not None


class TestRealism:
    def test_a_small_quarter_shows_every_kind_of_integration_trouble(
        self, small_scenario: Scenario, small_histories: list[ContractHistory]
    ) -> None:
        """Master data, mapping, timeouts, dead letters, holds and closed periods all occur."""
        events = all_events(small_scenario, small_histories)
        categories = Counter(c for event in events for c in event.error_categories)
        expected = {
            semconv.MASTER_DATA,
            semconv.MAPPING,
            semconv.TIMEOUT,
            semconv.VALIDATION,
            semconv.PERIOD_CLOSED,
        }
        assert expected <= set(categories)
        outcomes = {attempt.outcome for event in events for attempt in event.attempts}
        assert set(semconv.OUTCOMES) <= outcomes
        failed_once = [event for event in events if event.ever_failed]
        assert any(event.is_failed for event in failed_once)
        assert any(not event.is_failed and len(event.deliveries) > 1 for event in failed_once)

    def test_most_timers_meet_their_target_and_some_breach(
        self, small_scenario: Scenario, small_histories: list[ContractHistory]
    ) -> None:
        """Every SLA is mostly met, each has breaches, and some timers are still open."""
        statuses: dict[str, Counter[str]] = {sla.name: Counter() for sla in SLA_DEFINITIONS}
        for history in small_histories:
            calendar = small_scenario.setup_of(history.legal_entity.id).calendar
            for timer in history.timers:
                statuses[timer.sla.name][timer_outcome(timer, calendar, END).status] += 1
        for counts in statuses.values():
            assert counts[MET] > 0.6 * counts.total()
            assert counts[BREACHED] > 0
        assert sum(counts[OPEN] for counts in statuses.values()) > 0

    def test_money_is_plausible_for_a_mid_size_consulting_firm(
        self, small_histories: list[ContractHistory]
    ) -> None:
        """Contracts are worth 50k to 2M, time bills at 120 to 350 an hour, invoices are positive."""
        for history in small_histories:
            assert SMALLEST_CONTRACT <= history.value <= LARGEST_CONTRACT
            assert all(item.amount > 0 for item in history.billing)
        rates = [
            event.amount / hours
            for history in small_histories
            for event in history.events
            if event.event_type == semconv.TIME_APPROVED and event.amount
            for hours in [6.0, 6.5, 7.0, 7.5, 8.0, 8.5]
            if (event.amount / hours) % 5 == pytest.approx(0, abs=1e-6)
        ]
        assert rates
        assert min(role.lowest_rate for role in ROLES) == 120
        assert max(role.highest_rate for role in ROLES) == 350

    def test_the_quarter_is_thirteen_weeks_ending_at_end(self, small_scenario: Scenario) -> None:
        """The scenario covers the quarter that ends at the given end."""
        assert small_scenario.end - small_scenario.start == timedelta(weeks=13)
