"""One contract's quarter: signing, project activation, amendment, work, invoices and revenue.

Each contract draws from its own generator seeded by (seed, entity, contract number), so contracts
can be generated one at a time, in any order, with the same result.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Final

from domain import semconv
from simulator.events import BusinessEvent
from simulator.history import (
    FIXED_FEE,
    TIME_AND_MATERIALS,
    TIME_TO_PROJECT_CREATION,
    BillingItem,
    ContractHistory,
    RevenueItem,
)
from simulator.population import Customer, EntitySetup
from simulator.postings import Obligation, Postings
from simulator.recorder import ContractIds, ContractRecorder
from simulator.trouble import (
    Blocker,
    project_dimension_unmapped,
    project_template_missing,
    revenue_hold,
)
from simulator.work import Assignment, Milestone, bill_time_and_expenses, complete_milestones

FIXED_FEE_SHARE: Final = 0.4
LATE_ACTIVATION_SHARE: Final = 0.08
MISSING_TEMPLATE_SHARE: Final = 0.04
UNMAPPED_PROJECT_SHARE: Final = 0.07
NEVER_MAPPED_SHARE: Final = 0.3
REVENUE_HOLD_SHARE: Final = 0.06
NEVER_RELEASED_HOLD_SHARE: Final = 0.35
AMENDMENT_SHARE: Final = 0.15
TRAVEL_SHARE: Final = 0.35
SMALLEST_CONTRACT: Final = 50_000.0
LARGEST_CONTRACT: Final = 2_000_000.0
_BUSINESS_DAY_HOURS: Final = 24.0


def contract_history(
    setup: EntitySetup, number: int, *, seed: int, start: datetime, end: datetime
) -> ContractHistory | None:
    """The quarter of contract ``number`` of ``setup``'s entity; ``None`` if never signed by end."""
    rng = random.Random(f"{seed}:{setup.entity.code}:contract:{number}")
    return _Lifecycle(setup, number, rng, start, end).run()


def _clamped_contract_value(value: float) -> float:
    return float(min(max(round(value, -3), SMALLEST_CONTRACT), LARGEST_CONTRACT))


class _Lifecycle:
    def __init__(
        self, setup: EntitySetup, number: int, rng: random.Random, start: datetime, end: datetime
    ) -> None:
        self._setup = setup
        self._entity = setup.entity
        self._calendar = setup.calendar
        self._rng = rng
        self._start = start
        self._end = end
        self._recorder = ContractRecorder(setup, rng, end)
        self._ids = ContractIds(setup.entity.code, number)
        self._postings = Postings(self._recorder, self._ids)

    def run(self) -> ContractHistory | None:
        rng, ids = self._rng, self._ids
        customer = rng.choices(self._setup.customers, self._setup.customer_cumulative_weights)[0]
        fixed_fee = rng.random() < FIXED_FEE_SHARE
        weeks = rng.randint(6, 20) if fixed_fee else rng.randint(6, 26)
        staffing = () if fixed_fee else self._staff()
        if fixed_fee:
            value = _clamped_contract_value(math.exp(rng.gauss(math.log(280_000), 0.75)))
        else:
            weekly = sum(a.consultant.hourly_rate * 7.5 * a.days_per_week for a in staffing)
            value = _clamped_contract_value(weekly * weeks)
        obligations = self._obligations(value, fixed_fee)
        signed = self._recorder.record(
            semconv.CONTRACT_SIGNED,
            ids.contract,
            {
                semconv.CONTRACT: ids.contract,
                semconv.CUSTOMER: customer.id,
                semconv.LEGAL_ENTITY: self._entity.id,
                semconv.OBLIGATION: tuple(obligation.id for obligation in obligations),
            },
            self._signing_time(customer),
            amount=value,
            period=None,
        )
        if signed is None or signed.succeeded_at is None:
            return None
        schedules = {o.id: self._schedule(o, signed) for o in obligations}
        activated = self._activate(customer, signed)
        amendments: list[BusinessEvent] = []
        billing: list[BillingItem] = []
        revenue: list[RevenueItem] = []
        if activated is not None and activated.succeeded_at is not None:
            activated_at = activated.succeeded_at
            work_start = self._calendar.working_day_after(
                self._calendar.local_date(activated_at), rng.randint(1, 5)
            )
            work_end = work_start + timedelta(weeks=weeks)
            unmapped = self._unmapped_project(activated_at)
            hold = self._revenue_hold(signed.succeeded_at)
            milestones = [
                Milestone(
                    o.milestone_id, o.id, o.value, work_start + timedelta(weeks=weeks * o.due_share)
                )
                for o in obligations
                if o.milestone_id is not None
            ]
            amendment_at = activated_at + timedelta(days=rng.uniform(10, 50))
            amended, change_order = self._amend(
                obligations, value, fixed_fee, amendment_at, schedules
            )
            amendments.extend(amended)
            milestones.extend(change_order)
            if fixed_fee:
                completions, items = complete_milestones(
                    self._recorder, ids, milestones, work_start, blockers=unmapped
                )
                billing = [self._postings.invoice(item, customer) for item in items]
                revenue = self._postings.milestone_revenue(
                    completions, billing, obligations, schedules, hold
                )
            else:
                items = bill_time_and_expenses(
                    self._recorder,
                    ids,
                    staffing,
                    work_start,
                    work_end,
                    travels=rng.random() < TRAVEL_SHARE,
                    blockers=unmapped,
                )
                billing = [self._postings.invoice(item, customer) for item in items]
                revenue = self._postings.time_revenue(billing, obligations[0], schedules, hold)
        events = sorted(self._recorder.events, key=lambda event: event.first_seen_at)
        return ContractHistory(
            contract_id=ids.contract,
            project_id=ids.project,
            customer_id=customer.id,
            legal_entity=self._entity,
            billing_model=FIXED_FEE if fixed_fee else TIME_AND_MATERIALS,
            value=value,
            signed=signed,
            activated=activated,
            amendments=tuple(amendments),
            billing=tuple(billing),
            revenue=tuple(revenue),
            timers=tuple(self._recorder.timers),
            events=tuple(events),
        )

    def _staff(self) -> tuple[Assignment, ...]:
        size = self._rng.choice((2, 2, 3, 3, 3, 4, 4, 5, 6))
        consultants = self._rng.sample(self._setup.consultants, size)
        return tuple(Assignment(c, self._rng.choice((5, 5, 5, 4, 3, 2))) for c in consultants)

    def _obligations(self, value: float, fixed_fee: bool) -> list[Obligation]:
        ids = self._ids
        if not fixed_fee:
            return [Obligation(ids.obligation(1), ids.revenue_schedule(1), value, None)]
        count = self._rng.randint(2, 4)
        weights = [self._rng.uniform(0.6, 1.4) for _ in range(count)]
        fees = [round(value * weight / sum(weights), -2) for weight in weights[:-1]]
        fees.append(round(value - sum(fees), 2))
        obligations = []
        for index, fee in enumerate(fees, start=1):
            due_share = min(1.0, index / count + self._rng.uniform(-0.08, 0.04))
            obligations.append(
                Obligation(
                    ids.obligation(index),
                    ids.revenue_schedule(index),
                    fee,
                    ids.milestone(index),
                    due_share,
                )
            )
        return obligations

    def _signing_time(self, customer: Customer) -> datetime:
        latest = self._end - timedelta(days=10)
        at = self._start + (latest - self._start) * self._rng.random() ** 1.5
        if customer.onboarded_at is not None:
            at = max(at, customer.onboarded_at + timedelta(hours=self._rng.uniform(20, 200)))
        day = self._calendar.working_day_on_or_after(self._calendar.local_date(at))
        return self._calendar.at(day, self._rng.uniform(9, 18))

    def _schedule(self, obligation: Obligation, cause: BusinessEvent) -> BusinessEvent | None:
        if cause.succeeded_at is None:
            return None
        return self._recorder.record(
            semconv.REVENUE_SCHEDULED,
            obligation.schedule_id,
            {
                semconv.REVENUE_SCHEDULE: obligation.schedule_id,
                semconv.OBLIGATION: obligation.id,
                semconv.CONTRACT: self._ids.contract,
            },
            cause.succeeded_at + self._recorder.minutes(2, 90),
            amount=obligation.value,
            upstream=[cause],
        )

    def _activate(self, customer: Customer, signed: BusinessEvent) -> BusinessEvent | None:
        rng, calendar = self._rng, self._calendar
        assert signed.succeeded_at is not None
        if rng.random() < LATE_ACTIVATION_SHARE:
            first_at = calendar.add_business_hours(signed.succeeded_at, rng.uniform(56, 144))
        else:
            first_at = calendar.add_business_hours(signed.succeeded_at, rng.uniform(1, 28))
        first_at = calendar.office_time_from(first_at, rng.uniform(0, 1.5))
        blockers = []
        if rng.random() < MISSING_TEMPLATE_SHARE:
            fixed = rng.random() < 0.85
            cleared_at = (
                calendar.add_business_hours(first_at, rng.uniform(4, 60)) if fixed else None
            )
            blockers.append(Blocker(project_template_missing(self._ids.contract), cleared_at))
        activated = self._recorder.record(
            semconv.PROJECT_ACTIVATED,
            self._ids.project,
            {
                semconv.PROJECT: self._ids.project,
                semconv.CONTRACT: self._ids.contract,
                semconv.CUSTOMER: customer.id,
                semconv.LEGAL_ENTITY: self._entity.id,
            },
            first_at,
            upstream=[signed],
            blockers=blockers,
        )
        self._recorder.time(
            TIME_TO_PROJECT_CREATION, semconv.CONTRACT, self._ids.contract, signed, activated
        )
        return activated

    def _unmapped_project(self, activated_at: datetime) -> list[Blocker]:
        if self._rng.random() >= UNMAPPED_PROJECT_SHARE:
            return []
        cleared_at = None
        if self._rng.random() >= NEVER_MAPPED_SHARE:
            hours = self._rng.uniform(5, 30) * _BUSINESS_DAY_HOURS
            cleared_at = self._calendar.add_business_hours(activated_at, hours)
        return [Blocker(project_dimension_unmapped(self._ids.project), cleared_at)]

    def _revenue_hold(self, signed_at: datetime) -> list[Blocker]:
        if self._rng.random() >= REVENUE_HOLD_SHARE:
            return []
        cleared_at = None
        if self._rng.random() >= NEVER_RELEASED_HOLD_SHARE:
            hours = self._rng.uniform(8, 35) * _BUSINESS_DAY_HOURS
            cleared_at = self._calendar.add_business_hours(signed_at, hours)
        return [Blocker(revenue_hold(self._ids.contract), cleared_at)]

    def _amend(
        self,
        obligations: list[Obligation],
        value: float,
        fixed_fee: bool,
        at: datetime,
        schedules: dict[str, BusinessEvent | None],
    ) -> tuple[list[BusinessEvent], list[Milestone]]:
        """Maybe amend the contract: a T&M budget change or a fixed-fee change order."""
        rng, ids = self._rng, self._ids
        if rng.random() >= AMENDMENT_SHARE:
            return [], []
        at = self._calendar.office_time_from(at, rng.uniform(0, 2))
        if fixed_fee:
            index = len(obligations) + 1
            amount = round(value * rng.uniform(0.1, 0.25), -2)
            added = Obligation(
                ids.obligation(index), ids.revenue_schedule(index), amount, ids.milestone(index)
            )
            changed = added.id
        else:
            share = rng.uniform(0.1, 0.4) if rng.random() < 0.9 else -rng.uniform(0.05, 0.15)
            amount = round(value * share, -2)
            changed = obligations[0].id
        amended = self._recorder.record(
            semconv.CONTRACT_AMENDED,
            f"{ids.contract}-A1",
            {semconv.CONTRACT: ids.contract, semconv.OBLIGATION: (changed,)},
            at,
            amount=amount,
        )
        if amended is None or amended.succeeded_at is None:
            return [], []
        if not fixed_fee:
            schedule_id = obligations[0].schedule_id
            self._recorder.record(
                semconv.REVENUE_ADJUSTED,
                f"{schedule_id}-A1",
                {semconv.REVENUE_SCHEDULE: schedule_id, semconv.OBLIGATION: changed},
                amended.succeeded_at + self._recorder.minutes(2, 90),
                amount=amount,
                upstream=[amended],
            )
            return [amended], []
        obligations.append(added)
        schedules[added.id] = self._schedule(added, amended)
        due = self._calendar.local_date(amended.succeeded_at) + timedelta(days=rng.randint(14, 45))
        assert added.milestone_id is not None
        return [amended], [Milestone(added.milestone_id, added.id, amount, due)]
