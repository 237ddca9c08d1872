"""Which middleware service carries each event type, from which system, over which queue, to where.

Every route is one integration flow: it consumes a message from the source system's queue and posts
it to the target system's API. The service names become the ``service.name`` of the traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from domain import semconv


@dataclass(frozen=True, slots=True)
class Route:
    """One integration flow of the middleware."""

    service: str
    source_system: str
    target_system: str
    queue: str
    http_method: str
    target_path: str

    @property
    def server_address(self) -> str:
        return f"{self.target_system}.harborvale.example"


_CRM_TO_ERP: Final = "mw-crm-to-erp"
_CRM_TO_PSA: Final = "mw-crm-to-psa"
_CRM_TO_REVREC: Final = "mw-crm-to-revrec"
_PSA_TO_ERP: Final = "mw-psa-to-erp"
_PSA_TO_REVREC: Final = "mw-psa-to-revrec"
_BILLING_TO_ERP: Final = "mw-billing-to-erp"
_REVREC_TO_ERP: Final = "mw-revrec-to-erp"

ROUTES: Final = {
    semconv.CUSTOMER_SYNCED: Route(
        _CRM_TO_ERP, semconv.CRM, semconv.ERP, "crm.accounts", "PUT", "/api/v2/customers"
    ),
    semconv.CONTRACT_SIGNED: Route(
        _CRM_TO_PSA, semconv.CRM, semconv.PSA, "crm.opportunities.closed-won", "POST", "/contracts"
    ),
    semconv.CONTRACT_AMENDED: Route(
        _CRM_TO_PSA, semconv.CRM, semconv.PSA, "crm.contracts.amended", "PATCH", "/contracts"
    ),
    semconv.PROJECT_ACTIVATED: Route(
        _CRM_TO_PSA, semconv.CRM, semconv.PSA, "crm.contracts.signed", "POST", "/projects"
    ),
    semconv.REVENUE_SCHEDULED: Route(
        _CRM_TO_REVREC, semconv.CRM, semconv.REVREC, "crm.contracts.signed", "POST", "/schedules"
    ),
    semconv.REVENUE_ADJUSTED: Route(
        _CRM_TO_REVREC, semconv.CRM, semconv.REVREC, "crm.contracts.amended", "PATCH", "/schedules"
    ),
    semconv.TIME_APPROVED: Route(
        _PSA_TO_ERP, semconv.PSA, semconv.ERP, "psa.timesheets.approved", "POST", "/api/v2/wip/time"
    ),
    semconv.EXPENSE_APPROVED: Route(
        _PSA_TO_ERP,
        semconv.PSA,
        semconv.ERP,
        "psa.expenses.approved",
        "POST",
        "/api/v2/wip/expenses",
    ),
    semconv.BILLING_READY: Route(
        _PSA_TO_ERP,
        semconv.PSA,
        semconv.ERP,
        "psa.billing-events",
        "POST",
        "/api/v2/billing-events",
    ),
    semconv.MILESTONE_COMPLETED: Route(
        _PSA_TO_REVREC, semconv.PSA, semconv.REVREC, "psa.milestones", "POST", "/fulfilment-events"
    ),
    semconv.INVOICE_POSTED: Route(
        _BILLING_TO_ERP,
        semconv.PSA,
        semconv.ERP,
        "erp.invoice-requests",
        "POST",
        "/api/v2/invoices",
    ),
    semconv.REVENUE_POSTED: Route(
        _REVREC_TO_ERP, semconv.REVREC, semconv.ERP, "revrec.releases", "POST", "/api/v2/journals"
    ),
}

SERVICES: Final = tuple(sorted({route.service for route in ROUTES.values()}))
