"""Delivery planning: retries inside a trace, replays after a fix, dead letters, closed periods."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from domain import semconv
from simulator.business_time import BusinessCalendar
from simulator.events import Delivery
from simulator.trouble import Blocker, DeliveryPlanner, project_dimension_unmapped

CALENDAR = BusinessCalendar.for_country("Europe/London", "GB", range(2025, 2026), "ENG")
END = datetime(2025, 6, 20, 15, 0, tzinfo=UTC)
FIRST = datetime(2025, 5, 28, 9, 0, tzinfo=UTC)
UNMAPPED = project_dimension_unmapped("PRJ-UK01-00001")


def planner(seed: int) -> DeliveryPlanner:
    return DeliveryPlanner(
        random.Random(seed),
        CALENDAR,
        END,
        lambda period: CALENDAR.close_deadline(period, 4),
        "LE-UK01",
    )


def invoice_deliveries(
    seed: int,
    *,
    blockers: tuple[Blocker, ...] | list[Blocker] = (),
    period: str | None = None,
    posts_into_period: bool = False,
) -> tuple[Delivery, ...]:
    return planner(seed).deliver(
        semconv.INVOICE_POSTED,
        FIRST,
        blockers=blockers,
        period=period,
        posts_into_period=posts_into_period,
    )


class TestPersistentTrouble:
    def test_a_cleared_blocker_is_replayed_as_the_same_event_with_a_higher_attempt(self) -> None:
        """After the fix, operations replay the event: a second delivery, attempt 2, success."""
        fixed_at = FIRST + timedelta(days=3)
        deliveries = invoice_deliveries(1, blockers=[Blocker(UNMAPPED, fixed_at)])
        refused = deliveries[0].attempts[0]
        assert refused.outcome == semconv.FAILED
        assert refused.error == UNMAPPED
        assert deliveries[1].is_replay
        assert deliveries[1].received_at > fixed_at
        assert deliveries[-1].attempts[-1].succeeded
        assert deliveries[1].attempts[0].number == 2

    def test_a_blocker_never_cleared_leaves_one_failed_delivery(self) -> None:
        """Without a fix nobody replays: one refused attempt and the event stays failed."""
        deliveries = invoice_deliveries(1, blockers=[Blocker(UNMAPPED, None)])
        assert [len(d.attempts) for d in deliveries] == [1]
        assert deliveries[0].attempts[0].outcome == semconv.FAILED

    def test_a_posting_after_the_close_is_rejected_and_reposted_into_a_later_period(self) -> None:
        """April closed on 6 May in the UK, so posting into it in late May fails period_closed."""
        reposted = []
        for seed in range(20):
            deliveries = invoice_deliveries(seed, period="2025-04", posts_into_period=True)
            refused = deliveries[0].attempts[0]
            assert refused.error is not None
            assert refused.error.category == semconv.PERIOD_CLOSED
            if len(deliveries) > 1:
                reposted.append(deliveries[-1].attempts[-1])
        assert reposted
        assert all(attempt.period is not None for attempt in reposted)
        assert all(str(attempt.period) > "2025-04" for attempt in reposted)

    def test_a_posting_before_the_close_goes_into_its_own_period(self) -> None:
        """Posting May's invoice on 28 May succeeds into May (barring transient trouble)."""
        for seed in range(20):
            final = invoice_deliveries(seed, period="2025-05", posts_into_period=True)[-1]
            if final.attempts[-1].succeeded:
                assert final.attempts[-1].period == "2025-05"


class TestTransientTrouble:
    def test_timeouts_are_retried_inside_one_trace_until_success(self) -> None:
        """A timed-out call is retried in the same delivery with rising attempt numbers."""
        retried = [
            deliveries[0]
            for deliveries in (invoice_deliveries(seed) for seed in range(300))
            if deliveries[0].attempts[0].outcome == semconv.RETRYING
            and deliveries[0].attempts[-1].succeeded
        ]
        assert retried
        for delivery in retried:
            numbers = [attempt.number for attempt in delivery.attempts]
            assert numbers == list(range(1, len(numbers) + 1))
            starts = [attempt.started_at for attempt in delivery.attempts]
            assert starts == sorted(starts)

    def test_exhausted_retries_dead_letter_the_message(self) -> None:
        """Five failed calls end in dead_lettered; a replay from the dead-letter queue may follow."""
        dead = [
            deliveries
            for deliveries in (invoice_deliveries(seed) for seed in range(600))
            if deliveries[0].attempts[-1].outcome == semconv.DEAD_LETTERED
        ]
        assert dead
        assert all(len(deliveries[0].attempts) == 5 for deliveries in dead)
        assert all(d[1].is_replay and d[1].attempts[0].number == 6 for d in dead if len(d) > 1)

    def test_nothing_is_delivered_after_the_end(self) -> None:
        """A replay that would happen after the end of the quarter is not part of it."""
        late_fix = Blocker(UNMAPPED, END + timedelta(days=1))
        deliveries = invoice_deliveries(3, blockers=[late_fix])
        assert len(deliveries) == 1
        assert planner(3).deliver(semconv.INVOICE_POSTED, END + timedelta(seconds=1)) == ()
