"""How things stand at the end of the quarter: SLA timer outcomes, blocked items, close deadlines.

Pure functions over the scenario's bookkeeping, shared by the ground truth and the statistics; the
exact semantics are documented in ``simulator.truth``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from domain import semconv
from simulator.business_time import HOURS_PER_BUSINESS_DAY, BusinessCalendar
from simulator.events import BusinessEvent
from simulator.history import BillingItem, RevenueItem, TimerRun

MET: Final = "met"
BREACHED: Final = "breached"
OPEN: Final = "open"
LATE: Final = "late"
WRONG_PERIOD: Final = "wrong_period"
MISSING: Final = "missing"


@dataclass(frozen=True, slots=True)
class TimerOutcome:
    """One SLA timer evaluated at the end of the quarter."""

    started_at: datetime
    stopped_at: datetime | None
    deadline: datetime
    status: str
    breach_reason: str | None
    business_hours: float


def timer_outcome(timer: TimerRun, calendar: BusinessCalendar, end: datetime) -> TimerOutcome:
    """``met``, ``breached`` (late, in the wrong period, or still open past its deadline), ``open``."""
    started_at = timer.start.succeeded_at
    assert started_at is not None, "timers are recorded only for start events that took effect"
    deadline = calendar.add_business_hours(
        started_at, timer.sla.business_days * HOURS_PER_BUSINESS_DAY
    )
    stop_attempt = timer.stop.successful_attempt if timer.stop else None
    if stop_attempt is None:
        status, reason = (BREACHED, MISSING) if deadline < end else (OPEN, None)
        hours = calendar.business_hours_between(started_at, end)
        return TimerOutcome(started_at, None, deadline, status, reason, hours)
    stopped_at = stop_attempt.started_at
    reason = None
    if stopped_at > deadline:
        reason = LATE
    elif timer.sla.same_period and stop_attempt.period != _period_of(timer.start):
        reason = WRONG_PERIOD
    hours = calendar.business_hours_between(started_at, stopped_at)
    status = MET if reason is None else BREACHED
    return TimerOutcome(started_at, stopped_at, deadline, status, reason, hours)


def _period_of(event: BusinessEvent) -> str | None:
    attempt = event.successful_attempt
    return attempt.period if attempt else None


@dataclass(frozen=True, slots=True)
class Blockage:
    """Why an item has not posted: the stage that failed and the failed events blocking it."""

    stage: str
    blocking: tuple[BusinessEvent, ...]

    @property
    def error_categories(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for event in self.blocking:
            for category in event.error_categories:
                seen.setdefault(category, None)
        return tuple(seen)


def billing_blockage(item: BillingItem) -> Blockage | None:
    """The failed billing.ready, or the failed invoice.posted and the failed events it waits on."""
    if item.ready.is_failed:
        return Blockage(semconv.BILLING_READY, (item.ready,))
    if item.invoice is not None and item.invoice.is_failed:
        causes = tuple(cause for cause in item.causes if cause.is_failed)
        return Blockage(semconv.INVOICE_POSTED, (item.invoice, *causes))
    return None


def revenue_blockage(item: RevenueItem) -> Blockage | None:
    if item.posting.is_failed:
        return Blockage(semconv.REVENUE_POSTED, (item.posting,))
    return None


def posted_in_time(posting: BusinessEvent | None, period: str, close_deadline: datetime) -> bool:
    """Whether ``posting`` took effect into ``period`` by the period's close deadline."""
    attempt = posting.successful_attempt if posting else None
    return attempt is not None and attempt.period == period and attempt.started_at <= close_deadline


def posted_by(posting: BusinessEvent | None, end: datetime) -> bool:
    attempt = posting.successful_attempt if posting else None
    return attempt is not None and attempt.started_at <= end
