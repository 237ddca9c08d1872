"""Business semantic conventions: the span attribute keys, event types and object types.

This is the only module that spells a ``biz.*`` key. Middleware that wants its traces understood by
syncsight sets these attributes on the span that carries the business outcome of a sync step.
"""

from __future__ import annotations

from typing import Final

# --- attribute keys -------------------------------------------------------------------------------

EVENT_TYPE: Final = "biz.event.type"
"""Canonical event type (see ``EVENT_TYPES``); a span is a business event when it carries this key."""
EVENT_ID: Final = "biz.event.id"
"""Durable id of the business event; retries and replays of the same event keep it."""
SOURCE_SYSTEM: Final = "biz.source.system"
TARGET_SYSTEM: Final = "biz.target.system"
OUTCOME: Final = "biz.outcome"
"""``success``, ``failed``, ``retrying`` or ``dead_lettered``; absent → derived from span status."""
ERROR_CATEGORY: Final = "biz.error.category"
ERROR_CODE: Final = "biz.error.code"
AMOUNT: Final = "biz.amount"
CURRENCY: Final = "biz.currency"
PERIOD: Final = "biz.period"
"""Fiscal period of the event, ``YYYY-MM``."""
REPLAY_OF: Final = "biz.replay.of"
ATTEMPT: Final = "biz.attempt"
"""Delivery attempt number, 1-based."""

OBJECT_ID_PREFIX: Final = "biz."
OBJECT_ID_SUFFIX: Final = ".id"


def object_id_key(object_type: str) -> str:
    """The attribute key that carries the ids of ``object_type``: ``biz.<object>.id``."""
    return f"{OBJECT_ID_PREFIX}{object_type}{OBJECT_ID_SUFFIX}"


# --- systems --------------------------------------------------------------------------------------

CRM: Final = "crm"
PSA: Final = "psa"
ERP: Final = "erp"
REVREC: Final = "revrec"
SYSTEMS: Final = (CRM, PSA, ERP, REVREC)

# --- outcomes -------------------------------------------------------------------------------------

SUCCESS: Final = "success"
FAILED: Final = "failed"
RETRYING: Final = "retrying"
DEAD_LETTERED: Final = "dead_lettered"
OUTCOMES: Final = (SUCCESS, FAILED, RETRYING, DEAD_LETTERED)

# --- error categories -----------------------------------------------------------------------------

MASTER_DATA: Final = "master_data"
MAPPING: Final = "mapping"
VALIDATION: Final = "validation"
AUTH: Final = "auth"
TIMEOUT: Final = "timeout"
DOWNSTREAM: Final = "downstream"
DUPLICATE: Final = "duplicate"
PERIOD_CLOSED: Final = "period_closed"
ERROR_CATEGORIES: Final = (
    MASTER_DATA,
    MAPPING,
    VALIDATION,
    AUTH,
    TIMEOUT,
    DOWNSTREAM,
    DUPLICATE,
    PERIOD_CLOSED,
)

# --- object types ---------------------------------------------------------------------------------

CUSTOMER: Final = "customer"
LEGAL_ENTITY: Final = "legal_entity"
CONTRACT: Final = "contract"
OBLIGATION: Final = "obligation"
PROJECT: Final = "project"
MILESTONE: Final = "milestone"
TIME_ENTRY: Final = "time_entry"
EXPENSE: Final = "expense"
BILLING_EVENT: Final = "billing_event"
INVOICE: Final = "invoice"
REVENUE_SCHEDULE: Final = "revenue_schedule"
JOURNAL: Final = "journal"
OBJECT_TYPES: Final = (
    CUSTOMER,
    LEGAL_ENTITY,
    CONTRACT,
    OBLIGATION,
    PROJECT,
    MILESTONE,
    TIME_ENTRY,
    EXPENSE,
    BILLING_EVENT,
    INVOICE,
    REVENUE_SCHEDULE,
    JOURNAL,
)
DIMENSION_OBJECT_TYPES: Final = (CUSTOMER, LEGAL_ENTITY)
"""Filters and group-bys, never lineage hops (or every lineage would hold the whole customer)."""

# --- event types ----------------------------------------------------------------------------------

CUSTOMER_SYNCED: Final = "customer.synced"
CONTRACT_SIGNED: Final = "contract.signed"
CONTRACT_AMENDED: Final = "contract.amended"
PROJECT_ACTIVATED: Final = "project.activated"
TIME_APPROVED: Final = "time.approved"
EXPENSE_APPROVED: Final = "expense.approved"
MILESTONE_COMPLETED: Final = "milestone.completed"
BILLING_READY: Final = "billing.ready"
INVOICE_POSTED: Final = "invoice.posted"
REVENUE_SCHEDULED: Final = "revenue.scheduled"
REVENUE_POSTED: Final = "revenue.posted"
REVENUE_ADJUSTED: Final = "revenue.adjusted"
EVENT_TYPES: Final = (
    CUSTOMER_SYNCED,
    CONTRACT_SIGNED,
    CONTRACT_AMENDED,
    PROJECT_ACTIVATED,
    TIME_APPROVED,
    EXPENSE_APPROVED,
    MILESTONE_COMPLETED,
    BILLING_READY,
    INVOICE_POSTED,
    REVENUE_SCHEDULED,
    REVENUE_POSTED,
    REVENUE_ADJUSTED,
)
SOURCE_EVENT_TYPES: Final = (CONTRACT_SIGNED, TIME_APPROVED, EXPENSE_APPROVED, MILESTONE_COMPLETED)
"""Where a lineage may end: the events that originate business facts."""
POSTING_EVENT_TYPES: Final = (INVOICE_POSTED, REVENUE_POSTED)
"""The posted transactions an auditor traces back."""

# --- span status spellings (the exporter wrote both over its versions) ------------------------------

STATUS_ERROR_SPELLINGS: Final = ("Error", "STATUS_CODE_ERROR")
STATUS_OK_SPELLINGS: Final = ("Ok", "STATUS_CODE_OK")
