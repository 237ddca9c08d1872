"""Ground truth of a simulated quarter, written as JSON from the scenario's own bookkeeping.

Nothing here reads spans or calls syncsight's lineage or SLA code: later code reconciles against
this file. All instants are UTC, ISO 8601 with microseconds and a ``Z``; an event's time is the
start of the CLIENT span of its successful attempt; amounts are in the legal entity's currency.

Sections (see ``TRUTH_SCHEMA`` for every field):

``invoices``
    Every invoice whose ``invoice.posted`` was attempted by the end, posted or failed, with its
    chain: ``work_event_ids`` (the ``time.approved`` / ``expense.approved`` /
    ``milestone.completed`` events it bills), ``contract_signed_event_id``,
    ``project_activated_event_id``, ``billing_ready_event_id`` and ``invoice_event_id``.
    ``source_event_ids`` = work events + contract.signed; ``chain_event_ids`` = sources +
    project.activated + billing.ready + invoice.posted. Amendments of the contract that took effect
    before the invoice was first attempted are listed apart in ``contract_amended_event_ids``.
``blocked_items``
    Invoice-level items (one per billing event) that are blocked at the end: the billing.ready is
    failed (``stage`` ``billing.ready``, no invoice was attempted), or billing.ready succeeded and
    the invoice.posted is failed (``stage`` ``invoice.posted``). ``blocking_event_ids`` are the
    failed events holding it: the failed stage's event, plus for invoices refused for a missing
    customer the customer's failed ``customer.synced``. A failed event is one whose latest attempt
    is not a success. Items still waiting for a first attempt are not blocked.
``blocked_revenue``
    Revenue releases whose ``revenue.posted`` is failed at the end (holds, closed periods, dead
    letters). T&M revenue follows the invoice, so a blocked invoice has no revenue posting yet.
``sla_timers``
    One timer per start event that took effect: time-to-project-creation (per contract:
    contract.signed → project.activated), time-to-bill-readiness (per time entry: time.approved →
    the billing.ready that bills it; per milestone: milestone.completed → its billing.ready),
    time-to-invoice-posting (per billing event: billing.ready → invoice.posted) and
    time-to-revenue-posting (key obligation; one timer per T&M invoice, invoice.posted →
    revenue.posted of that invoice, and per completed milestone, milestone.completed → its
    revenue.posted). Business time counts real elapsed hours that fall on working days (Mon-Fri,
    not one of the entity's ``holidays`` listed in ``legal_entities``) in its time zone; a
    business day is 24 such hours and ``deadline`` is start + target x 24 business hours. ``status``: ``met`` (stopped
    by the deadline, and for revenue posted into the period of its start event), ``breached``
    (``breach_reason`` ``late``, ``wrong_period`` or ``missing``: not stopped and the deadline is
    before the end) or ``open`` (not stopped, deadline not yet reached). ``business_hours`` is
    measured to the stop, or to the end for unstopped timers.
``close``
    Per legal entity and period, the items that must post in that period: every billing event
    (its invoice, period = billing event's period) and every revenue posting attempted (period of
    its trigger). ``close_deadline`` is the end of business day ``close_day`` after the period's
    last day. An item is posted before close when its successful attempt posted into that period
    by the deadline. ``not_posted_before_close`` is given only for periods closed by the end (else
    ``null``); ``unposted_at_end`` counts items not posted at all by the end.
``failed_events``
    Every event with at least one attempt that was not a success, with ``recovered`` true when its
    latest attempt is a success.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

from simulator.assessment import posted_by, posted_in_time
from simulator.events import BusinessEvent
from simulator.firm import FIRM_NAME
from simulator.history import SLA_DEFINITIONS, ContractHistory
from simulator.scenario import Scenario
from simulator.truth_records import (
    Record,
    blocked_item_records,
    blocked_revenue_records,
    failed_event_record,
    invoice_records,
    iso,
    timer_records,
)

TRUTH_FORMAT: Final = "syncsight.simulator.truth/1"
_STREAMED_SECTIONS: Final = (
    "invoices",
    "blocked_items",
    "blocked_revenue",
    "sla_timers",
    "failed_events",
)

TRUTH_SCHEMA: Final = {
    "format": "str: " + TRUTH_FORMAT,
    "scenario": "{firm, seed, scale, start, end}",
    "legal_entities": "[{id, code, name, country, currency, time_zone, holiday_country, "
    "holiday_subdivision|null, close_day, holidays[] (ISO dates the calendar skips, from a month "
    "before start to two months after end)}]",
    "slas": "[{name, start_event_types[], stop_event_type, key_types[], target_business_days, "
    "same_period}]",
    "invoices": "[{invoice, invoice_event_id, status: posted|failed, posted_at|null, period, "
    "posted_period|null, amount, currency, legal_entity, customer, contract, project, "
    "billing_event, billed_object_type, billing_ready_event_id, project_activated_event_id, "
    "contract_signed_event_id, work_event_ids[], source_event_ids[], chain_event_ids[], "
    "contract_amended_event_ids[]}]",
    "blocked_items": "[{billing_event, invoice|null, stage: billing.ready|invoice.posted, amount, "
    "currency, legal_entity, period, customer, contract, project, blocking_event_ids[], "
    "blocking_error_categories[]}]",
    "blocked_revenue": "[{journal, revenue_posted_event_id, obligation, contract, legal_entity, "
    "amount, currency, period, trigger_event_id, blocking_event_ids[], blocking_error_categories[]}]",
    "sla_timers": "[{sla, key_type, key, legal_entity, start_event_id, start_event_type, "
    "started_at, stop_event_id|null, stopped_at|null, deadline, status: met|breached|open, "
    "breach_reason: late|wrong_period|missing|null, business_hours}]",
    "close": "[{legal_entity, period, currency, close_day, close_deadline, closed_by_end, "
    "invoices: {due, posted_before_close, not_posted_before_close|null, unposted_at_end, "
    "items_not_posted_before_close[]}, revenue: {same}, amount_not_posted_before_close|null}]",
    "failed_events": "[{event_id, event_type, attempts, error_categories[], final_outcome, "
    "recovered}]",
    "summary": "{contracts, invoices, invoices_posted, blocked_items, blocked_invoice_value: "
    "{currency: amount}, failed_events, recovered_events, sla_timers: {sla: {met, breached, open}}}",
}


@dataclass
class _PostingTally:
    due: float = 0.0
    posted_before_close: float = 0.0
    unposted_at_end: float = 0.0
    late_items: list[str] = field(default_factory=list)

    def add(self, item_id: str, amount: float, in_time: bool, posted: bool) -> None:
        self.due += amount
        if in_time:
            self.posted_before_close += amount
        else:
            self.late_items.append(item_id)
        if not posted:
            self.unposted_at_end += amount

    def record(self, closed: bool) -> Record:
        return {
            "due": round(self.due, 2),
            "posted_before_close": round(self.posted_before_close, 2),
            "not_posted_before_close": round(self.due - self.posted_before_close, 2)
            if closed
            else None,
            "unposted_at_end": round(self.unposted_at_end, 2),
            "items_not_posted_before_close": self.late_items if closed else [],
        }


@dataclass
class _CloseTally:
    invoices: _PostingTally = field(default_factory=_PostingTally)
    revenue: _PostingTally = field(default_factory=_PostingTally)


class TruthWriter:
    """Streams the ground truth of ``scenario`` to ``path`` as contracts are generated.

    The long sections go to temporary files while the scenario streams, so memory stays flat even
    for the large scale; ``close()`` assembles the JSON document.
    """

    def __init__(self, path: Path, scenario: Scenario) -> None:
        self._path = path
        self._scenario = scenario
        self._workdir = Path(tempfile.mkdtemp(prefix="syncsight-truth-"))
        self._sections: dict[str, IO[str]] = {
            name: (self._workdir / name).open("w", encoding="utf-8") for name in _STREAMED_SECTIONS
        }
        self._counts = dict.fromkeys(_STREAMED_SECTIONS, 0)
        self._close: dict[tuple[str, str], _CloseTally] = {}
        self._summary: dict[str, Any] = {
            "contracts": 0,
            "invoices": 0,
            "invoices_posted": 0,
            "blocked_items": 0,
            "blocked_invoice_value": {},
            "failed_events": 0,
            "recovered_events": 0,
            "sla_timers": {
                sla.name: {"met": 0, "breached": 0, "open": 0} for sla in SLA_DEFINITIONS
            },
        }

    def __enter__(self) -> TruthWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()

    def add_customer_event(self, event: BusinessEvent) -> None:
        self._add_failed(event)

    def add(self, history: ContractHistory) -> None:
        summary = self._summary
        summary["contracts"] += 1
        for record in invoice_records(history):
            summary["invoices"] += 1
            summary["invoices_posted"] += record["status"] == "posted"
            self._write("invoices", record)
        for record in blocked_item_records(history):
            summary["blocked_items"] += 1
            value = summary["blocked_invoice_value"]
            value[record["currency"]] = round(
                value.get(record["currency"], 0.0) + record["amount"], 2
            )
            self._write("blocked_items", record)
        for record in blocked_revenue_records(history):
            self._write("blocked_revenue", record)
        for record in timer_records(history, self._scenario):
            summary["sla_timers"][record["sla"]][record["status"]] += 1
            self._write("sla_timers", record)
        for event in history.events:
            self._add_failed(event)
        self._tally_close(history)

    def close(self) -> None:
        """Write the JSON document to the path and remove the temporary files."""
        for handle in self._sections.values():
            handle.close()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("w", encoding="utf-8") as out:
            out.write("{\n")
            for key, value in self._header().items():
                out.write(f"{json.dumps(key)}: {json.dumps(value)},\n")
            for name in _STREAMED_SECTIONS:
                out.write(f"{json.dumps(name)}: [\n")
                with (self._workdir / name).open(encoding="utf-8") as section:
                    shutil.copyfileobj(section, out)
                out.write("],\n")
            out.write(f'"close": {json.dumps(self._close_records())},\n')
            out.write(f'"summary": {json.dumps(self._summary)}\n')
            out.write("}\n")
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _discard(self) -> None:
        for handle in self._sections.values():
            handle.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _write(self, section: str, record: Record) -> None:
        separator = ",\n" if self._counts[section] else ""
        self._sections[section].write(separator + json.dumps(record))
        self._counts[section] += 1

    def _add_failed(self, event: BusinessEvent) -> None:
        if event.ever_failed:
            self._summary["failed_events"] += 1
            self._summary["recovered_events"] += not event.is_failed
            self._write("failed_events", failed_event_record(event))

    def _tally_close(self, history: ContractHistory) -> None:
        setup = self._scenario.setup_of(history.legal_entity.id)
        end = self._scenario.end
        for item in history.billing:
            deadline = setup.close_deadline(item.period)
            tally = self._close.setdefault((history.legal_entity.id, item.period), _CloseTally())
            in_time = posted_in_time(item.invoice, item.period, min(deadline, end))
            tally.invoices.add(
                item.billing_event_id, item.amount, in_time, posted_by(item.invoice, end)
            )
        for revenue in history.revenue:
            deadline = setup.close_deadline(revenue.period)
            tally = self._close.setdefault((history.legal_entity.id, revenue.period), _CloseTally())
            in_time = posted_in_time(revenue.posting, revenue.period, min(deadline, end))
            posted = posted_by(revenue.posting, end)
            tally.revenue.add(revenue.journal_id, revenue.amount, in_time, posted)

    def _close_records(self) -> list[Record]:
        records = []
        for (legal_entity_id, period), tally in sorted(self._close.items()):
            setup = self._scenario.setup_of(legal_entity_id)
            deadline = setup.close_deadline(period)
            closed = deadline <= self._scenario.end
            invoices = tally.invoices.record(closed)
            revenue = tally.revenue.record(closed)
            records.append(
                {
                    "legal_entity": legal_entity_id,
                    "period": period,
                    "currency": setup.entity.currency,
                    "close_day": setup.entity.close_day,
                    "close_deadline": iso(deadline),
                    "closed_by_end": closed,
                    "invoices": invoices,
                    "revenue": revenue,
                    "amount_not_posted_before_close": round(
                        invoices["not_posted_before_close"] + revenue["not_posted_before_close"], 2
                    )
                    if closed
                    else None,
                }
            )
        return records

    def _header(self) -> Record:
        scenario = self._scenario
        return {
            "format": TRUTH_FORMAT,
            "scenario": {
                "firm": FIRM_NAME,
                "seed": scenario.seed,
                "scale": scenario.scale.name,
                "start": iso(scenario.start),
                "end": iso(scenario.end),
            },
            "legal_entities": [
                {
                    "id": setup.entity.id,
                    "code": setup.entity.code,
                    "name": setup.entity.name,
                    "country": setup.entity.country,
                    "currency": setup.entity.currency,
                    "time_zone": setup.entity.time_zone,
                    "holiday_country": setup.entity.holiday_country,
                    "holiday_subdivision": setup.entity.holiday_subdivision,
                    "close_day": setup.entity.close_day,
                    "holidays": [
                        day.isoformat()
                        for day in setup.calendar.holidays_between(
                            scenario.start.date() - timedelta(days=31),
                            scenario.end.date() + timedelta(days=62),
                        )
                    ],
                }
                for setup in scenario.setups
            ],
            "slas": [
                {
                    "name": sla.name,
                    "start_event_types": list(sla.start_event_types),
                    "stop_event_type": sla.stop_event_type,
                    "key_types": list(sla.key_types),
                    "target_business_days": sla.business_days,
                    "same_period": sla.same_period,
                }
                for sla in SLA_DEFINITIONS
            ],
        }


def write_truth(path: Path, scenario: Scenario) -> None:
    """Generate ``scenario`` and write its ground truth to ``path`` (no spans are emitted)."""
    with TruthWriter(path, scenario) as writer:
        for event in scenario.customer_events():
            writer.add_customer_event(event)
        for history in scenario.contract_histories():
            writer.add(history)
