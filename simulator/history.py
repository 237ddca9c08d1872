"""The scenario's own bookkeeping of one contract: what happened, what it fed, which timers ran.

Ground truth and statistics are computed from these records, never from spans or from syncsight's
lineage and SLA code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from domain import semconv
from simulator.events import BusinessEvent
from simulator.firm import LegalEntity

TIME_AND_MATERIALS: Final = "time_and_materials"
FIXED_FEE: Final = "fixed_fee"


@dataclass(frozen=True, slots=True)
class SlaDefinition:
    """A business SLA with its default target (README, Business SLAs)."""

    name: str
    start_event_types: tuple[str, ...]
    stop_event_type: str
    key_types: tuple[str, ...]
    business_days: float
    same_period: bool = False


TIME_TO_PROJECT_CREATION: Final = SlaDefinition(
    "time-to-project-creation",
    (semconv.CONTRACT_SIGNED,),
    semconv.PROJECT_ACTIVATED,
    (semconv.CONTRACT,),
    2,
)
TIME_TO_BILL_READINESS: Final = SlaDefinition(
    "time-to-bill-readiness",
    (semconv.TIME_APPROVED, semconv.MILESTONE_COMPLETED),
    semconv.BILLING_READY,
    (semconv.TIME_ENTRY, semconv.MILESTONE),
    3,
)
TIME_TO_INVOICE_POSTING: Final = SlaDefinition(
    "time-to-invoice-posting",
    (semconv.BILLING_READY,),
    semconv.INVOICE_POSTED,
    (semconv.BILLING_EVENT,),
    1,
)
TIME_TO_REVENUE_POSTING: Final = SlaDefinition(
    "time-to-revenue-posting",
    (semconv.INVOICE_POSTED, semconv.MILESTONE_COMPLETED),
    semconv.REVENUE_POSTED,
    (semconv.OBLIGATION,),
    2,
    same_period=True,
)
SLA_DEFINITIONS: Final = (
    TIME_TO_PROJECT_CREATION,
    TIME_TO_BILL_READINESS,
    TIME_TO_INVOICE_POSTING,
    TIME_TO_REVENUE_POSTING,
)


@dataclass(frozen=True, slots=True)
class BillingItem:
    """One billing event and the invoice it turns into: the invoice-level item of close risk (README).

    ``invoice`` is ``None`` until the ERP invoicing flow has tried to post it; ``causes`` are
    upstream events (a customer's ERP set-up) whose failure made the invoice posting fail.
    """

    billing_event_id: str
    invoice_id: str
    billed_object_type: str
    period: str
    amount: float
    ready: BusinessEvent
    invoice: BusinessEvent | None
    work: tuple[BusinessEvent, ...]
    causes: tuple[BusinessEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class RevenueItem:
    """One revenue release of an obligation, triggered by an invoice or a completed milestone."""

    obligation_id: str
    journal_id: str
    period: str
    amount: float
    schedule: BusinessEvent
    trigger: BusinessEvent
    posting: BusinessEvent


@dataclass(frozen=True, slots=True)
class TimerRun:
    """One SLA timer: ``start`` took effect; ``stop`` is the event expected to stop it, if any."""

    sla: SlaDefinition
    key_type: str
    key: str
    start: BusinessEvent
    stop: BusinessEvent | None


@dataclass(frozen=True, slots=True)
class ContractHistory:
    """Everything the scenario did for one contract, up to the end of the quarter."""

    contract_id: str
    project_id: str
    customer_id: str
    legal_entity: LegalEntity
    billing_model: str
    value: float
    signed: BusinessEvent
    activated: BusinessEvent | None
    amendments: tuple[BusinessEvent, ...]
    billing: tuple[BillingItem, ...]
    revenue: tuple[RevenueItem, ...]
    timers: tuple[TimerRun, ...]
    events: tuple[BusinessEvent, ...]
    """Every event of the contract, upstream before downstream (by first delivery)."""
