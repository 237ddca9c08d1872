"""Which events form each timer: keys, cycles, failed stops, keys reached through the graph."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from domain import semconv as sc
from slas.definitions import (
    TIME_TO_BILL_READINESS,
    TIME_TO_PROJECT_CREATION,
    TIME_TO_REVENUE_POSTING,
)
from slas.snapshot import NO_TIME
from slas.timer_pairing import TimerSet, correlate, first_stop_at_or_after
from tests.slas.events import Event, at, event, micros, object_hash, retried, snapshot_of

LATE = at(days=30)


def signed(contract: str, when: datetime, *, obligations: tuple[str, ...] = ()) -> Event:
    objects: dict[str, str | list[str]] = {sc.CONTRACT: contract}
    if obligations:
        objects[sc.OBLIGATION] = list(obligations)
    return event(sc.CONTRACT_SIGNED, contract, objects, when, legal_entity="LE-DE01", customer="C1")


def activated(project: str, contract: str, when: datetime) -> Event:
    objects: dict[str, str | list[str]] = {sc.PROJECT: project, sc.CONTRACT: contract}
    return event(sc.PROJECT_ACTIVATED, project, objects, when, legal_entity="LE-DE01")


def stops_of(timers: TimerSet) -> dict[int, int]:
    return dict(zip(timers.key.tolist(), timers.stopped_us.tolist(), strict=True))


class TestDirectKeys:
    def test_a_start_and_its_stop_make_one_timer(self) -> None:
        """contract.signed → project.activated of the same contract is one stopped timer."""
        events = [signed("CTR-1", at(0)), activated("PRJ-1", "CTR-1", at(hours=5))]
        timers = correlate(snapshot_of(events, LATE), TIME_TO_PROJECT_CREATION)
        assert len(timers) == 1
        assert timers.key[0] == object_hash(sc.CONTRACT, "CTR-1")
        assert timers.stopped_us[0] == micros(at(hours=5))
        assert timers.entity_name(int(timers.legal_entity[0])) == "LE-DE01"

    def test_a_failed_stop_does_not_stop_the_timer(self) -> None:
        """A project activation whose latest attempt failed leaves the timer running."""
        failed = activated("PRJ-1", "CTR-1", at(hours=5))
        failed.attempts = [(at(hours=5), sc.FAILED, "2026-09")]
        timers = correlate(
            snapshot_of([signed("CTR-1", at(0)), failed], LATE), TIME_TO_PROJECT_CREATION
        )
        assert timers.stopped_us.tolist() == [NO_TIME]

    def test_a_retried_stop_stops_at_its_successful_attempt(self) -> None:
        """The stop instant is the start of the attempt that succeeded, not the first try."""
        first = activated("PRJ-1", "CTR-1", at(hours=5))
        first.attempts = [(at(hours=5), sc.RETRYING, "2026-09")]
        stop = retried(first, (at(hours=9), sc.SUCCESS, "2026-09"))
        timers = correlate(
            snapshot_of([signed("CTR-1", at(0)), stop], LATE), TIME_TO_PROJECT_CREATION
        )
        assert timers.stopped_us.tolist() == [micros(at(hours=9))]

    def test_a_start_that_never_took_effect_starts_nothing(self) -> None:
        """Only start events with a successful attempt open a timer."""
        start = signed("CTR-1", at(0))
        start.attempts = [(at(0), sc.DEAD_LETTERED, "2026-09")]
        assert len(correlate(snapshot_of([start], LATE), TIME_TO_PROJECT_CREATION)) == 0

    def test_a_stop_after_as_of_is_not_seen(self) -> None:
        """Evaluated before the activation, the timer is still open."""
        events = [signed("CTR-1", at(0)), activated("PRJ-1", "CTR-1", at(days=3))]
        timers = correlate(snapshot_of(events, at(days=1)), TIME_TO_PROJECT_CREATION)
        assert timers.stopped_us.tolist() == [NO_TIME]

    def test_one_billing_event_stops_every_time_entry_it_bills(self) -> None:
        """billing.ready carries an array of time entries: each entry's timer stops."""
        approvals = [
            event(sc.TIME_APPROVED, te, {sc.TIME_ENTRY: te, sc.PROJECT: "PRJ-1"}, at(hours=h))
            for te, h in (("TE-1", 1), ("TE-2", 2), ("TE-3", 3))
        ]
        ready = event(
            sc.BILLING_READY,
            "BE-1",
            {sc.BILLING_EVENT: "BE-1", sc.PROJECT: "PRJ-1", sc.TIME_ENTRY: ["TE-1", "TE-2"]},
            at(days=2),
        )
        project = activated("PRJ-1", "CTR-1", at(0))
        timers = correlate(snapshot_of([*approvals, ready, project], LATE), TIME_TO_BILL_READINESS)
        stops = stops_of(timers)
        assert stops[object_hash(sc.TIME_ENTRY, "TE-1")] == micros(at(days=2))
        assert stops[object_hash(sc.TIME_ENTRY, "TE-2")] == micros(at(days=2))
        assert stops[object_hash(sc.TIME_ENTRY, "TE-3")] == NO_TIME
        names = {timers.entity_name(int(code)) for code in timers.legal_entity}
        assert names == {"LE-DE01"}, "time entries inherit the legal entity of their project"


class TestCycles:
    @pytest.mark.parametrize(
        ("starts", "stops", "expected"),
        [
            pytest.param([(1, 10)], [(1, 20)], [0], id="one-cycle"),
            pytest.param([(1, 10), (1, 30)], [(1, 20), (1, 40)], [0, 1], id="reopened"),
            pytest.param([(1, 10), (1, 30)], [(1, 20)], [0, -1], id="second-open"),
            pytest.param([(1, 10)], [(1, 5)], [-1], id="stop-before-start"),
            pytest.param([(1, 10)], [(1, 10)], [0], id="same-instant"),
            pytest.param([(1, 10), (2, 10)], [(2, 15)], [-1, 0], id="other-key"),
            pytest.param([(1, 10)], [], [-1], id="no-stops"),
        ],
    )
    def test_each_start_takes_the_first_stop_of_its_key_at_or_after_it(
        self,
        starts: list[tuple[int, int]],
        stops: list[tuple[int, int]],
        expected: list[int],
    ) -> None:
        """A re-opened key starts a new cycle; a stop before the start belongs to no cycle."""
        found = first_stop_at_or_after(
            np.array([k for k, _ in starts], dtype=np.int64),
            np.array([t for _, t in starts], dtype=np.int64),
            np.array([k for k, _ in stops], dtype=np.int64),
            np.array([t for _, t in stops], dtype=np.int64),
        )
        assert found.tolist() == expected


def invoice(number: str, when: datetime, *, project: str = "PRJ-1") -> Event:
    objects: dict[str, str | list[str]] = {
        sc.INVOICE: f"INV-{number}",
        sc.BILLING_EVENT: f"BE-{number}",
        sc.PROJECT: project,
    }
    return event(sc.INVOICE_POSTED, f"INV-{number}", objects, when, legal_entity="LE-DE01")


def revenue(
    journal: str, obligation: str, when: datetime, *, invoice_id: str | None = None
) -> Event:
    objects: dict[str, str | list[str]] = {
        sc.JOURNAL: journal,
        sc.OBLIGATION: obligation,
        sc.REVENUE_SCHEDULE: f"RS-{obligation}",
    }
    if invoice_id:
        objects[sc.INVOICE] = invoice_id
    return event(sc.REVENUE_POSTED, journal, objects, when)


class TestKeysThroughTheGraph:
    def test_each_invoice_is_its_own_cycle_of_the_obligation(self) -> None:
        """T&M revenue: the posting that names the invoice stops that invoice's timer."""
        events = [
            signed("CTR-1", at(0), obligations=("POB-1",)),
            invoice("1", at(days=1)),
            invoice("2", at(days=8)),
            revenue("JE-2", "POB-1", at(days=9), invoice_id="INV-2"),
            revenue("JE-1", "POB-1", at(days=12), invoice_id="INV-1"),
        ]
        timers = correlate(snapshot_of(events, LATE), TIME_TO_REVENUE_POSTING)
        assert set(timers.key.tolist()) == {object_hash(sc.OBLIGATION, "POB-1")}
        stops = dict(zip(timers.started_us.tolist(), timers.stopped_us.tolist(), strict=True))
        assert stops == {
            micros(at(days=1)): micros(at(days=12)),
            micros(at(days=8)): micros(at(days=9)),
        }

    def test_a_failed_posting_names_the_key_but_does_not_stop(self) -> None:
        """A revenue hold: the failed posting still ties the invoice to its obligation."""
        held = revenue("JE-1", "POB-7", at(days=2), invoice_id="INV-1")
        held.attempts = [(at(days=2), sc.FAILED, "2026-09")]
        timers = correlate(
            snapshot_of([invoice("1", at(days=1)), held], LATE), TIME_TO_REVENUE_POSTING
        )
        assert timers.key.tolist() == [object_hash(sc.OBLIGATION, "POB-7")]
        assert timers.stopped_us.tolist() == [NO_TIME]

    def test_a_first_invoice_finds_its_obligation_through_project_and_contract(self) -> None:
        """No posting yet: invoice → project → project.activated → contract → contract.signed."""
        events = [
            signed("CTR-1", at(0), obligations=("POB-1",)),
            activated("PRJ-1", "CTR-1", at(hours=3)),
            invoice("1", at(days=5)),
        ]
        timers = correlate(snapshot_of(events, LATE), TIME_TO_REVENUE_POSTING)
        assert timers.key.tolist() == [object_hash(sc.OBLIGATION, "POB-1")]

    def test_a_fixed_fee_invoice_belongs_to_its_milestone_cycle(self) -> None:
        """A milestone started the obligation's timer; the milestone's invoice opens none."""
        milestone = event(
            sc.MILESTONE_COMPLETED,
            "MS-1",
            {sc.MILESTONE: "MS-1", sc.PROJECT: "PRJ-1", sc.OBLIGATION: "POB-1"},
            at(days=1),
        )
        events = [milestone, invoice("1", at(days=2)), revenue("JE-1", "POB-1", at(days=3))]
        timers = correlate(snapshot_of(events, LATE), TIME_TO_REVENUE_POSTING)
        assert len(timers) == 1
        assert timers.started_us.tolist() == [micros(at(days=1))]
        assert timers.stopped_us.tolist() == [micros(at(days=3))]

    def test_an_invoice_with_nothing_to_reach_is_keyed_by_itself(self) -> None:
        """Without any path to an obligation the timer is still counted, under the invoice."""
        timers = correlate(snapshot_of([invoice("9", at(0))], LATE), TIME_TO_REVENUE_POSTING)
        assert timers.key.tolist() == [object_hash(sc.INVOICE, "INV-9")]
