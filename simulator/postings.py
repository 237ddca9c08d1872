"""Postings into the ERP: invoices of bill-ready billing events and revenue releases.

T&M revenue follows the invoice (the right-to-invoice practical expedient); fixed-fee revenue is
released when a milestone is completed. Both post into a period and can hit a closed one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from domain import semconv
from simulator.events import BusinessEvent
from simulator.history import (
    TIME_TO_INVOICE_POSTING,
    TIME_TO_REVENUE_POSTING,
    BillingItem,
    RevenueItem,
)
from simulator.population import Customer
from simulator.recorder import ContractIds, ContractRecorder
from simulator.trouble import Blocker

NEXT_BATCH_INVOICE_SHARE: Final = 0.06
APPROVED_INVOICE_AMOUNT: Final = 100_000.0
"""Invoices from this amount wait for a controller's approval in the ERP before they post."""
LATE_REVENUE_SHARE: Final = 0.05
REVENUE_JOB_HOUR: Final = 6.0


@dataclass(frozen=True, slots=True)
class Obligation:
    """A performance obligation, its revenue schedule and, for fixed fee, its milestone."""

    id: str
    schedule_id: str
    value: float
    milestone_id: str | None = None
    due_share: float = 1.0
    """When the milestone falls due, as a share of the project's duration."""


class Postings:
    """Posts one contract's invoices and revenue releases through its recorder."""

    def __init__(self, recorder: ContractRecorder, ids: ContractIds) -> None:
        self._recorder = recorder
        self._ids = ids
        self._calendar = recorder.calendar
        self._rng = recorder.rng
        self._entity = recorder.setup.entity

    def invoice(self, item: BillingItem, customer: Customer) -> BillingItem:
        """Post the invoice of a bill-ready billing event in the ERP."""
        ready_at = item.ready.succeeded_at
        if ready_at is None:
            return item
        if item.amount >= APPROVED_INVOICE_AMOUNT:
            first_at = self._calendar.add_business_hours(ready_at, self._rng.uniform(6, 130))
        elif self._rng.random() < NEXT_BATCH_INVOICE_SHARE:
            next_day = self._calendar.working_day_after(self._calendar.local_date(ready_at))
            first_at = self._calendar.at(next_day, 7.0) + self._recorder.minutes(0, 60)
        else:
            first_at = ready_at + self._recorder.minutes(3, 90)
        blocker = customer.invoicing_blocker()
        invoice = self._recorder.record(
            semconv.INVOICE_POSTED,
            item.invoice_id,
            {
                semconv.INVOICE: item.invoice_id,
                semconv.BILLING_EVENT: item.billing_event_id,
                semconv.PROJECT: self._ids.project,
                semconv.CUSTOMER: customer.id,
                semconv.LEGAL_ENTITY: self._entity.id,
            },
            first_at,
            amount=item.amount,
            upstream=[item.ready],
            blockers=[blocker] if blocker else [],
            period=item.period,
            posts_into_period=True,
        )
        self._recorder.time(
            TIME_TO_INVOICE_POSTING,
            semconv.BILLING_EVENT,
            item.billing_event_id,
            item.ready,
            invoice,
        )
        causes: tuple[BusinessEvent, ...] = ()
        if invoice and blocker and customer.sync and blocker.is_active(invoice.first_seen_at):
            causes = (customer.sync,)
        return replace(item, invoice=invoice, causes=causes)

    def time_revenue(
        self,
        billing: list[BillingItem],
        obligation: Obligation,
        schedules: dict[str, BusinessEvent | None],
        hold: list[Blocker],
    ) -> list[RevenueItem]:
        """T&M revenue follows the invoice (the right-to-invoice practical expedient)."""
        released: list[RevenueItem] = []
        for item in billing:
            attempt = item.invoice.successful_attempt if item.invoice else None
            if item.invoice is None or attempt is None:
                continue
            first_at = self._revenue_job_time(attempt.started_at)
            period = attempt.period or item.period
            released.extend(
                self._release(
                    obligation,
                    schedules,
                    item.invoice,
                    first_at,
                    item.amount,
                    period,
                    item.invoice_id,
                    hold,
                )
            )
        return released

    def milestone_revenue(
        self,
        completions: list[BusinessEvent],
        billing: list[BillingItem],
        obligations: list[Obligation],
        schedules: dict[str, BusinessEvent | None],
        hold: list[Blocker],
    ) -> list[RevenueItem]:
        """Fixed-fee revenue is recognised when a milestone is completed (an output method)."""
        invoice_of = {item.work[0].event_id: item for item in billing}
        obligation_of = {obligation.id: obligation for obligation in obligations}
        released: list[RevenueItem] = []
        for completed in completions:
            assert completed.succeeded_at is not None
            assert completed.amount is not None
            obligation = obligation_of[str(completed.object_ids[semconv.OBLIGATION])]
            first_at = self._revenue_job_time(completed.succeeded_at)
            item = invoice_of.get(completed.event_id)
            invoiced_at = item.invoice.succeeded_at if item and item.invoice else None
            invoice_id = (
                item.invoice_id if item and invoiced_at and invoiced_at <= first_at else None
            )
            attempt = completed.successful_attempt
            assert attempt is not None
            period = attempt.period or self._calendar.period_of(completed.succeeded_at)
            released.extend(
                self._release(
                    obligation,
                    schedules,
                    completed,
                    first_at,
                    completed.amount,
                    period,
                    invoice_id,
                    hold,
                )
            )
        return released

    def _revenue_job_time(self, trigger_at: datetime) -> datetime:
        """The nightly revenue release after ``trigger_at``; now and then days late."""
        if self._rng.random() < LATE_REVENUE_SHARE:
            return self._calendar.add_business_hours(trigger_at, self._rng.uniform(56, 110))
        next_day = self._calendar.working_day_after(self._calendar.local_date(trigger_at))
        return self._calendar.at(next_day, REVENUE_JOB_HOUR) + self._recorder.minutes(0, 40)

    def _release(
        self,
        obligation: Obligation,
        schedules: dict[str, BusinessEvent | None],
        trigger: BusinessEvent,
        first_at: datetime,
        amount: float,
        period: str,
        invoice_id: str | None,
        hold: list[Blocker],
    ) -> list[RevenueItem]:
        journal_id = self._ids.next_journal()
        object_ids: dict[str, str | tuple[str, ...]] = {
            semconv.REVENUE_SCHEDULE: obligation.schedule_id,
            semconv.OBLIGATION: obligation.id,
            semconv.JOURNAL: journal_id,
        }
        if invoice_id is not None:
            object_ids[semconv.INVOICE] = invoice_id
        schedule = schedules.get(obligation.id)
        posting = None
        if schedule is not None and schedule.succeeded_at is not None:
            posting = self._recorder.record(
                semconv.REVENUE_POSTED,
                journal_id,
                object_ids,
                first_at,
                amount=amount,
                upstream=[trigger],
                blockers=hold,
                period=period,
                posts_into_period=True,
            )
        self._recorder.time(
            TIME_TO_REVENUE_POSTING, semconv.OBLIGATION, obligation.id, trigger, posting
        )
        if posting is None or schedule is None:
            return []
        return [RevenueItem(obligation.id, journal_id, period, amount, schedule, trigger, posting)]
