"""Integration trouble: how each delivery of an event goes, from clean success to never recovering.

Persistent causes (``Blocker``: a customer missing in the ERP, an unmapped project dimension, a
revenue hold) fail every attempt until cleared, after which operations replay the event; a posting
into a closed period is rejected and re-posted into the open period; transient trouble (timeouts,
expired tokens, an unavailable ERP) is retried inside the trace and may end in the dead-letter queue.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from domain import semconv
from simulator.business_time import BusinessCalendar
from simulator.events import Attempt, Delivery, SyncError
from simulator.routes import ROUTES

MAX_ATTEMPTS_PER_DELIVERY: Final = 5
DEAD_LETTER_REPLAY_SHARE: Final = 0.6
PERIOD_REPOST_SHARE: Final = 0.75


@dataclass(frozen=True, slots=True)
class TransientTrouble:
    """Shares of deliveries that meet timeouts (then succeed), dead-lettering and token expiry."""

    timeout: float
    dead_letter: float = 0.0
    auth: float = 0.0


TRANSIENT_TROUBLE: Final = {
    semconv.CUSTOMER_SYNCED: TransientTrouble(timeout=0.02),
    semconv.CONTRACT_SIGNED: TransientTrouble(timeout=0.005),
    semconv.CONTRACT_AMENDED: TransientTrouble(timeout=0.005),
    semconv.PROJECT_ACTIVATED: TransientTrouble(timeout=0.01),
    semconv.REVENUE_SCHEDULED: TransientTrouble(timeout=0.01),
    semconv.REVENUE_ADJUSTED: TransientTrouble(timeout=0.01),
    semconv.TIME_APPROVED: TransientTrouble(timeout=0.008),
    semconv.EXPENSE_APPROVED: TransientTrouble(timeout=0.01),
    semconv.MILESTONE_COMPLETED: TransientTrouble(timeout=0.01),
    semconv.BILLING_READY: TransientTrouble(timeout=0.03, dead_letter=0.006),
    semconv.INVOICE_POSTED: TransientTrouble(timeout=0.05, dead_letter=0.015, auth=0.01),
    semconv.REVENUE_POSTED: TransientTrouble(timeout=0.04, dead_letter=0.01),
}


@dataclass(frozen=True, slots=True)
class Blocker:
    """A persistent cause that fails every attempt until ``cleared_at`` (``None``: never)."""

    error: SyncError
    cleared_at: datetime | None

    def is_active(self, at: datetime) -> bool:
        return self.cleared_at is None or at < self.cleared_at


def customer_not_in_erp(customer: str, legal_entity: str) -> SyncError:
    return SyncError(
        semconv.MASTER_DATA,
        "CUSTOMER_NOT_FOUND",
        f"customer {customer} is not set up in legal entity {legal_entity}",
        "ErpMasterDataError",
    )


def tax_registration_missing(customer: str) -> SyncError:
    return SyncError(
        semconv.MASTER_DATA,
        "TAX_REGISTRATION_MISSING",
        f"customer {customer} has no tax registration number",
        "ErpMasterDataError",
    )


def project_dimension_unmapped(project: str) -> SyncError:
    return SyncError(
        semconv.MAPPING,
        "DIMENSION_VALUE_UNKNOWN",
        f"project code {project} has no value in ERP dimension PROJECT",
        "DimensionMappingError",
    )


def project_template_missing(contract: str) -> SyncError:
    return SyncError(
        semconv.VALIDATION,
        "PROJECT_TEMPLATE_REQUIRED",
        f"contract {contract} has no delivery template for project creation",
        "PsaValidationError",
    )


def revenue_hold(contract: str) -> SyncError:
    return SyncError(
        semconv.VALIDATION,
        "REVENUE_HOLD",
        f"revenue release for contract {contract} is on hold pending credit review",
        "RevenueHoldError",
    )


def period_closed(period: str, legal_entity: str) -> SyncError:
    return SyncError(
        semconv.PERIOD_CLOSED,
        "PERIOD_LOCKED",
        f"posting period {period} is closed in legal entity {legal_entity}",
        "ErpPeriodClosedError",
    )


def _timeout(target: str) -> SyncError:
    return SyncError(
        semconv.TIMEOUT, "READ_TIMEOUT", f"{target} did not answer within 30 s", "ReadTimeout"
    )


def _unavailable(target: str) -> SyncError:
    return SyncError(
        semconv.DOWNSTREAM, "HTTP_503", f"{target} is unavailable (maintenance)", "HTTPStatusError"
    )


def _token_expired(target: str) -> SyncError:
    return SyncError(
        semconv.AUTH, "HTTP_401", f"{target} rejected an expired access token", "HTTPStatusError"
    )


def _ms(milliseconds: float) -> timedelta:
    return timedelta(milliseconds=milliseconds)


class DeliveryPlanner:
    """Plans the deliveries of events of one legal entity up to the end of the scenario."""

    def __init__(
        self,
        rng: random.Random,
        calendar: BusinessCalendar,
        end: datetime,
        close_deadline: Callable[[str], datetime],
        legal_entity: str,
    ) -> None:
        self._rng = rng
        self._calendar = calendar
        self._end = end
        self._close_deadline = close_deadline
        self._legal_entity = legal_entity

    def deliver(
        self,
        event_type: str,
        first_at: datetime,
        *,
        blockers: Sequence[Blocker] = (),
        period: str | None = None,
        posts_into_period: bool = False,
    ) -> tuple[Delivery, ...]:
        """Every delivery of one event that starts by the end, first at ``first_at``.

        A posting (``posts_into_period``) into a period whose close deadline has passed is
        rejected; a re-post goes into the period open at the time of the replay.
        """
        deliveries: list[Delivery] = []
        received_at = first_at
        number = 1
        while received_at <= self._end:
            start = received_at + _ms(self._rng.uniform(8, 40))
            blocker = next((b for b in blockers if b.is_active(received_at)), None)
            next_at: datetime | None
            if blocker is not None:
                attempts = [self._refused(number, start, blocker.error, period)]
                next_at = None if blocker.cleared_at is None else self._later(blocker.cleared_at)
            elif posts_into_period and period and received_at >= self._close_deadline(period):
                error = period_closed(period, self._legal_entity)
                attempts = [self._refused(number, start, error, period)]
                next_at = None
                if self._rng.random() < PERIOD_REPOST_SHARE:
                    next_at = self._later(received_at, 4, 48)
                    period = self._calendar.period_of(next_at)
            else:
                attempts, next_at = self._transient(event_type, number, start, period)
            attempts = [attempt for attempt in attempts if attempt.started_at <= self._end]
            if not attempts:
                break
            deliveries.append(Delivery(received_at, tuple(attempts), is_replay=number > 1))
            if attempts[-1].succeeded or next_at is None:
                break
            number += len(attempts)
            received_at = next_at
        return tuple(deliveries)

    def _later(self, after: datetime, low: float = 1, high: float = 20) -> datetime:
        """When operations get round to a replay: ``low`` to ``high`` business hours after."""
        return self._calendar.add_business_hours(after, self._rng.uniform(low, high))

    def _refused(
        self, number: int, start: datetime, error: SyncError, period: str | None
    ) -> Attempt:
        ended = start + _ms(self._rng.uniform(80, 400))
        return Attempt(number, start, ended, semconv.FAILED, period, error)

    def _transient(
        self, event_type: str, number: int, start: datetime, period: str | None
    ) -> tuple[list[Attempt], datetime | None]:
        trouble = TRANSIENT_TROUBLE[event_type]
        target = ROUTES[event_type].target_system
        roll = self._rng.random()
        failures: list[SyncError] = []
        dead_lettered = False
        if roll < trouble.timeout:
            failures = [_timeout(target)] * self._rng.choice((1, 1, 1, 2, 2, 3))
        elif roll < trouble.timeout + trouble.dead_letter:
            error = _timeout(target) if self._rng.random() < 0.5 else _unavailable(target)
            failures = [error] * MAX_ATTEMPTS_PER_DELIVERY
            dead_lettered = True
        elif roll < trouble.timeout + trouble.dead_letter + trouble.auth:
            failures = [_token_expired(target)]
        attempts: list[Attempt] = []
        at = start
        for index, error in enumerate(failures):
            last = dead_lettered and index == len(failures) - 1
            took = 30_000 + self._rng.uniform(0, 40) if error.category == semconv.TIMEOUT else 120
            outcome = semconv.DEAD_LETTERED if last else semconv.RETRYING
            attempts.append(Attempt(number + index, at, at + _ms(took), outcome, period, error))
            at += _ms(took + 1000 * 2**index + self._rng.uniform(0, 250))
        if dead_lettered:
            replay = self._rng.random() < DEAD_LETTER_REPLAY_SHARE
            return attempts, self._later(at, 6, 60) if replay else None
        ended = at + _ms(self._rng.uniform(90, 900))
        attempts.append(Attempt(number + len(failures), at, ended, semconv.SUCCESS, period))
        return attempts, None
