"""``POST /api/v1/admin/rebuild``: re-derive the business tables from ``otel_traces`` inside the
running service (in embedded mode the service owns the data, so the CLI cannot do it meanwhile).

There is no config-reload endpoint: routers and the SLA evaluator are built from the config at
start-up, so a reload that left them on the old config would be a lie. Reloading means restarting.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from warehouse.correlation_rules import CorrelationRules
from warehouse.pool import ClientPool
from warehouse.rebuild import rebuild
from warehouse.schema import Topology

logger = logging.getLogger(__name__)


class RebuildResult(BaseModel):
    """What a rebuild read and derived."""

    spans: int = Field(description="Raw spans read from otel_traces.")
    events: int = Field(description="Business events derived (after de-duplication).")
    references: int = Field(description="Event → object references derived.")
    new_knowledge: int = Field(
        description="Business events known from the rebuild on: derived differently (a changed "
        "correlation rule) or for the first time, and those ingested while it ran. Every other "
        "event keeps the instant it was first stored."
    )
    kept_before: datetime | None = Field(
        description="Business events before this instant were kept as stored, not derived "
        "again: the raw retention's horizon, or the oldest raw span stored if later (null when "
        "every event was derived again)."
    )
    seconds: float = Field(description="Wall-clock time the rebuild took.")


def admin_router(
    pool: ClientPool, rules: CorrelationRules, topology: Topology, *, raw_days: int = 0
) -> APIRouter:
    """Admin operations over one pool, with the correlation rules and the raw retention
    (``raw_days``, 0 for none) the service started with."""
    router = APIRouter(tags=["admin"])
    running = threading.Lock()

    @router.post(
        "/admin/rebuild",
        response_model=RebuildResult,
        summary="Re-derive the business tables from otel_traces",
        description="The business rows of events whose raw spans are still stored (from the raw "
        "retention's horizon and the oldest raw span on) are deleted and derived again (every fact derived as it was keeps its knowledge time); older ones are "
        "kept as stored. Those rows are missing until the rebuild finishes; spans ingested "
        "meanwhile are derived as usual and de-duplicated. 409 while another rebuild runs.",
        responses={409: {"description": "A rebuild is already running."}},
    )
    def rebuild_business_tables() -> RebuildResult:
        if not running.acquire(blocking=False):
            raise HTTPException(status_code=409, detail="a rebuild is already running")
        try:
            started = time.monotonic()
            logger.info("admin: re-deriving the business tables")
            report = rebuild(pool.client(), rules, topology, raw_days=raw_days)
            seconds = round(time.monotonic() - started, 3)
        finally:
            running.release()
        logger.info(
            "admin rebuild done in %.1fs: %d spans, %d events, %d references; %d events known "
            "from now on, events before %s kept as stored",
            seconds,
            report.spans,
            report.events,
            report.references,
            report.new_knowledge,
            report.kept_before.isoformat() if report.kept_before else "none",
        )
        return RebuildResult(
            spans=report.spans,
            events=report.events,
            references=report.references,
            new_knowledge=report.new_knowledge,
            kept_before=report.kept_before,
            seconds=seconds,
        )

    return router
