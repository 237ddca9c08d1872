"""The records of the ground truth, one function per section, from one contract's bookkeeping.

``simulator.truth`` documents what each field means and assembles the document.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from simulator.assessment import billing_blockage, revenue_blockage, timer_outcome
from simulator.events import BusinessEvent
from simulator.history import ContractHistory
from simulator.scenario import Scenario

Record = dict[str, Any]


def iso(instant: datetime | None) -> str | None:
    """UTC ISO 8601 with microseconds and ``Z``, the one spelling of instants in the truth."""
    if instant is None:
        return None
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def invoice_records(history: ContractHistory) -> Iterable[Record]:
    """Every attempted invoice of ``history`` with its upstream chain of event ids."""
    activated = history.activated
    for item in history.billing:
        invoice = item.invoice
        if invoice is None or activated is None:
            continue
        work_ids = [event.event_id for event in item.work]
        sources = [*work_ids, history.signed.event_id]
        chain = [*sources, activated.event_id, item.ready.event_id, invoice.event_id]
        attempt = invoice.successful_attempt
        amended = [
            event.event_id
            for event in history.amendments
            if event.succeeded_at is not None and event.succeeded_at <= invoice.first_seen_at
        ]
        yield {
            "invoice": item.invoice_id,
            "invoice_event_id": invoice.event_id,
            "status": "failed" if invoice.is_failed else "posted",
            "posted_at": iso(attempt.started_at if attempt else None),
            "period": item.period,
            "posted_period": attempt.period if attempt else None,
            "amount": item.amount,
            "currency": history.legal_entity.currency,
            "legal_entity": history.legal_entity.id,
            "customer": history.customer_id,
            "contract": history.contract_id,
            "project": history.project_id,
            "billing_event": item.billing_event_id,
            "billed_object_type": item.billed_object_type,
            "billing_ready_event_id": item.ready.event_id,
            "project_activated_event_id": activated.event_id,
            "contract_signed_event_id": history.signed.event_id,
            "work_event_ids": work_ids,
            "source_event_ids": sources,
            "chain_event_ids": chain,
            "contract_amended_event_ids": amended,
        }


def blocked_item_records(history: ContractHistory) -> Iterable[Record]:
    for item in history.billing:
        blockage = billing_blockage(item)
        if blockage is None:
            continue
        yield {
            "billing_event": item.billing_event_id,
            "invoice": item.invoice_id if item.invoice is not None else None,
            "stage": blockage.stage,
            "amount": item.amount,
            "currency": history.legal_entity.currency,
            "legal_entity": history.legal_entity.id,
            "period": item.period,
            "customer": history.customer_id,
            "contract": history.contract_id,
            "project": history.project_id,
            "blocking_event_ids": [event.event_id for event in blockage.blocking],
            "blocking_error_categories": list(blockage.error_categories),
        }


def blocked_revenue_records(history: ContractHistory) -> Iterable[Record]:
    for item in history.revenue:
        blockage = revenue_blockage(item)
        if blockage is None:
            continue
        yield {
            "journal": item.journal_id,
            "revenue_posted_event_id": item.posting.event_id,
            "obligation": item.obligation_id,
            "contract": history.contract_id,
            "legal_entity": history.legal_entity.id,
            "amount": item.amount,
            "currency": history.legal_entity.currency,
            "period": item.period,
            "trigger_event_id": item.trigger.event_id,
            "blocking_event_ids": [event.event_id for event in blockage.blocking],
            "blocking_error_categories": list(blockage.error_categories),
        }


def timer_records(history: ContractHistory, scenario: Scenario) -> Iterable[Record]:
    calendar = scenario.setup_of(history.legal_entity.id).calendar
    for timer in history.timers:
        outcome = timer_outcome(timer, calendar, scenario.end)
        yield {
            "sla": timer.sla.name,
            "key_type": timer.key_type,
            "key": timer.key,
            "legal_entity": history.legal_entity.id,
            "start_event_id": timer.start.event_id,
            "start_event_type": timer.start.event_type,
            "started_at": iso(outcome.started_at),
            "stop_event_id": timer.stop.event_id if outcome.stopped_at and timer.stop else None,
            "stopped_at": iso(outcome.stopped_at),
            "deadline": iso(outcome.deadline),
            "status": outcome.status,
            "breach_reason": outcome.breach_reason,
            "business_hours": round(outcome.business_hours, 4),
        }


def failed_event_record(event: BusinessEvent) -> Record:
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "attempts": len(event.attempts),
        "error_categories": list(event.error_categories),
        "final_outcome": event.latest_attempt.outcome,
        "recovered": not event.is_failed,
    }
