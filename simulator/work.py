"""Delivery work and billing runs: approved time and expenses, completed milestones, billing events.

Consultants book time per working day; project managers approve each week's timesheet early the
next week, before the weekly billing run (Wednesday 05:00 local, or the next working day), so most
time is bill-ready within three business days; a late approval misses the run and waits a week.
Completed milestones are picked up by the daily billing run unless the project manager holds them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from domain import semconv
from simulator.business_time import BusinessCalendar
from simulator.events import BusinessEvent
from simulator.firm import Consultant
from simulator.history import TIME_TO_BILL_READINESS, BillingItem
from simulator.recorder import ContractIds, ContractRecorder
from simulator.trouble import Blocker

BILLING_RUN_HOUR: Final = 5.0
ON_TIME_APPROVAL_SHARE: Final = 0.88
LATE_APPROVAL_SHARE: Final = 0.10
HELD_MILESTONE_SHARE: Final = 0.08
EXPENSE_WEEK_SHARE: Final = 0.35
MAX_LINKED_WORK: Final = 64
"""Span links from a billing event to the approvals it bills (the SDK keeps 128 at most)."""
_HOURS_BOOKED: Final = (6.0, 6.5, 7.0, 7.5, 8.0, 8.0, 8.0, 8.5)
_WEEK: Final = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Assignment:
    """A consultant staffed on a project for some days a week."""

    consultant: Consultant
    days_per_week: int


@dataclass(frozen=True, slots=True)
class Milestone:
    """A fixed-fee milestone of one performance obligation."""

    id: str
    obligation_id: str
    fee: float
    due: date


@dataclass(frozen=True, slots=True)
class _Approved:
    event: BusinessEvent
    succeeded_at: datetime
    object_type: str
    object_id: str
    amount: float


def weekly_billing_run(calendar: BusinessCalendar, monday: date) -> datetime:
    """The billing run of the week starting ``monday``: Wednesday 05:00 or the next working day."""
    return calendar.at(
        calendar.working_day_on_or_after(monday + timedelta(days=2)), BILLING_RUN_HOUR
    )


def bill_time_and_expenses(
    recorder: ContractRecorder,
    ids: ContractIds,
    staffing: Sequence[Assignment],
    work_start: date,
    work_end: date,
    *,
    travels: bool,
    blockers: Sequence[Blocker],
) -> list[BillingItem]:
    """Approve a T&M project's time and expenses week by week and bill them in weekly runs."""
    approved = _approve_timesheets(recorder, ids, staffing, work_start, work_end, travels=travels)
    approved.sort(key=lambda work: work.succeeded_at)
    items: list[BillingItem] = []
    if not approved:
        return items
    first_day = recorder.calendar.local_date(approved[0].succeeded_at)
    monday = first_day - timedelta(days=first_day.weekday())
    next_index = 0
    while next_index < len(approved):
        run = weekly_billing_run(recorder.calendar, monday)
        monday += _WEEK
        if run > recorder.end:
            break
        due_until = next_index
        while due_until < len(approved) and approved[due_until].succeeded_at <= run:
            due_until += 1
        due, next_index = approved[next_index:due_until], due_until
        for object_type in (semconv.TIME_ENTRY, semconv.EXPENSE):
            batch = [work for work in due if work.object_type == object_type]
            if batch:
                items.extend(_billing_event(recorder, ids, run, object_type, batch, blockers))
    for work in approved[next_index:]:
        if work.object_type == semconv.TIME_ENTRY:
            recorder.time(
                TIME_TO_BILL_READINESS, semconv.TIME_ENTRY, work.object_id, work.event, None
            )
    return items


def complete_milestones(
    recorder: ContractRecorder,
    ids: ContractIds,
    milestones: Sequence[Milestone],
    work_start: date,
    *,
    blockers: Sequence[Blocker],
) -> tuple[list[BusinessEvent], list[BillingItem]]:
    """Complete each milestone around its due date and bill it in the next daily run."""
    calendar, rng = recorder.calendar, recorder.rng
    completions: list[BusinessEvent] = []
    items: list[BillingItem] = []
    for milestone in milestones:
        slip = timedelta(days=int(rng.triangular(-4, 16, 0)))
        day = calendar.working_day_on_or_after(max(milestone.due + slip, work_start))
        completed = recorder.record(
            semconv.MILESTONE_COMPLETED,
            milestone.id,
            {
                semconv.MILESTONE: milestone.id,
                semconv.PROJECT: ids.project,
                semconv.OBLIGATION: milestone.obligation_id,
            },
            calendar.at(day, rng.uniform(10, 18)),
            amount=milestone.fee,
            period=calendar.period_of(calendar.at(day, 12)),
        )
        if completed is None or completed.succeeded_at is None:
            continue
        completions.append(completed)
        done_at = completed.succeeded_at
        if rng.random() < HELD_MILESTONE_SHARE:
            ready_at = calendar.add_business_hours(done_at, rng.uniform(80, 150))
        else:
            next_day = calendar.working_day_after(calendar.local_date(done_at))
            ready_at = calendar.at(next_day, BILLING_RUN_HOUR)
        work = _Approved(completed, done_at, semconv.MILESTONE, milestone.id, milestone.fee)
        items.extend(_billing_event(recorder, ids, ready_at, semconv.MILESTONE, [work], blockers))
    return completions, items


def _approve_timesheets(
    recorder: ContractRecorder,
    ids: ContractIds,
    staffing: Sequence[Assignment],
    work_start: date,
    work_end: date,
    *,
    travels: bool,
) -> list[_Approved]:
    calendar, rng = recorder.calendar, recorder.rng
    last_day = min(work_end, calendar.local_date(recorder.end))
    monday = work_start - timedelta(days=work_start.weekday())
    approved: list[_Approved] = []
    while monday <= last_day:
        week = [monday + timedelta(days=offset) for offset in range(5)]
        working = [day for day in week if work_start <= day <= last_day]
        working = [day for day in working if calendar.is_working_day(day)]
        run = weekly_billing_run(calendar, monday + _WEEK)
        for assignment in staffing:
            days = working[: assignment.days_per_week]
            if not days:
                continue
            at = _approval_time(rng, calendar, monday + _WEEK, run)
            for day in days:
                hours = rng.choice(_HOURS_BOOKED)
                amount = round(hours * assignment.consultant.hourly_rate, 2)
                at += recorder.minutes(0.005, 0.03)
                entry_id = ids.next_time_entry()
                object_ids = {semconv.TIME_ENTRY: entry_id, semconv.PROJECT: ids.project}
                period = calendar.period_of(calendar.at(day, 12))
                event = recorder.record(
                    semconv.TIME_APPROVED, entry_id, object_ids, at, amount=amount, period=period
                )
                approved.extend(_as_approved(event, semconv.TIME_ENTRY, entry_id, amount))
            if travels and rng.random() < EXPENSE_WEEK_SHARE:
                expense_id = ids.next_expense()
                amount = round(rng.uniform(60, 1800), 2)
                object_ids = {semconv.EXPENSE: expense_id, semconv.PROJECT: ids.project}
                period = calendar.period_of(calendar.at(days[-1], 12))
                event = recorder.record(
                    semconv.EXPENSE_APPROVED,
                    expense_id,
                    object_ids,
                    at + recorder.minutes(0.01, 0.05),
                    amount=amount,
                    period=period,
                )
                approved.extend(_as_approved(event, semconv.EXPENSE, expense_id, amount))
        monday += _WEEK
    return approved


def _approval_time(
    rng: random.Random, calendar: BusinessCalendar, next_monday: date, run: datetime
) -> datetime:
    """When the project manager approves a week's timesheet: mostly before the next run."""
    first_day = calendar.working_day_on_or_after(next_monday)
    roll = rng.random()
    if roll < ON_TIME_APPROVAL_SHARE:
        day = first_day if rng.random() < 0.6 else calendar.working_day_after(first_day)
        if calendar.at(day, 8.5) >= run:
            day = first_day
        return calendar.at(day, rng.uniform(8.5, 18))
    run_day = calendar.local_date(run)
    if roll < ON_TIME_APPROVAL_SHARE + LATE_APPROVAL_SHARE:
        if rng.random() < 0.6:
            return calendar.at(run_day, rng.uniform(9, 17))
        return calendar.at(calendar.working_day_after(run_day), rng.uniform(9, 14))
    return calendar.at(calendar.working_day_after(first_day, rng.randint(5, 8)), rng.uniform(9, 17))


def _as_approved(
    event: BusinessEvent | None, object_type: str, object_id: str, amount: float
) -> list[_Approved]:
    if event is None or event.succeeded_at is None:
        return []
    return [_Approved(event, event.succeeded_at, object_type, object_id, amount)]


def _billing_event(
    recorder: ContractRecorder,
    ids: ContractIds,
    run: datetime,
    object_type: str,
    batch: Sequence[_Approved],
    blockers: Sequence[Blocker],
) -> list[BillingItem]:
    """One billing.ready for ``batch``; the bill-readiness timers of its time and milestones."""
    billing_event_id, invoice_id = ids.next_billing_event()
    amount = round(sum(work.amount for work in batch), 2)
    billed: str | tuple[str, ...]
    if object_type == semconv.MILESTONE:
        billed = batch[0].object_id
    else:
        billed = tuple(work.object_id for work in batch)
    period = recorder.calendar.period_of(run)
    ready = recorder.record(
        semconv.BILLING_READY,
        billing_event_id,
        {
            semconv.BILLING_EVENT: billing_event_id,
            semconv.PROJECT: ids.project,
            object_type: billed,
        },
        run + recorder.minutes(1, 45),
        amount=amount,
        upstream=[work.event for work in batch[:MAX_LINKED_WORK]],
        blockers=blockers,
        period=period,
    )
    if object_type != semconv.EXPENSE:
        for work in batch:
            recorder.time(TIME_TO_BILL_READINESS, object_type, work.object_id, work.event, ready)
    if ready is None:
        return []
    work_events = tuple(work.event for work in batch)
    return [
        BillingItem(
            billing_event_id, invoice_id, object_type, period, amount, ready, None, work_events
        )
    ]
