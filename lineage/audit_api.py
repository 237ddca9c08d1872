"""REST route of the completeness-and-accuracy report: read it as known at ``known_at``, sign its
root, name the ledger heads of its period's days, record the download, answer JSON, CSV or PDF."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, HTTPException, Query, Request, Response

from domain.instants import EPOCH, LATEST
from domain.periods import parse_period
from lineage.api import KnownAtQuery, PeriodQuery
from lineage.audit_formats import report_csv, report_pdf
from lineage.audit_models import AuditReportOut
from lineage.audit_report import ReportRequest, build_report, root_of
from lineage.evidence import instant_text
from lineage.ledger import Ledger
from lineage.ledger_api import knowledge_instant, requester_of
from lineage.queries import legal_entity_is_named
from lineage.rules import LineageRules
from warehouse.pool import ClientPool

CloseDeadline = Callable[[str, str], datetime]
"""The close deadline of (legal entity, period): the SLA feature's calendars know it."""

Watermark = Callable[[], datetime]
"""The knowledge time up to which the business state is complete: the report reads the legal
entity and period of every event from it (``lineage.audit_queries``)."""

FIRST_YEAR, LAST_YEAR = EPOCH.year, LATEST.year - 1
"""Periods an answer can be asked for (``domain.instants``), close day included."""

ReportFormat = Literal["json", "csv", "pdf"]
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


def refused(name: str, value: str | None, expected: str) -> HTTPException:
    """The auditors' routes refuse a parameter as FastAPI's own checks do, 422, naming it."""
    return HTTPException(422, f"{name}={value!r}: expected {expected}")


def checked_period(period: str | None) -> str | None:
    """``period`` when it is a ``YYYY-MM`` an answer can be asked for, else a 422 naming it."""
    if period is None:
        return None
    try:
        year, _ = parse_period(period)
    except ValueError:
        raise refused("period", period, "YYYY-MM, for example 2026-10") from None
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise refused("period", period, f"a year from {FIRST_YEAR} to {LAST_YEAR}")
    return period


def check_legal_entity_named(client: Client, legal_entity: str) -> None:
    """A 422 naming ``legal_entity`` when no business event names it: a mistyped id would get a
    signed report (or a log) of nothing, which reads as "nothing missing"."""
    if not legal_entity_is_named(client, legal_entity):
        raise refused("legal_entity", legal_entity, "a legal entity some business event names")


def audit_router(
    pool: ClientPool,
    rules: LineageRules,
    ledger: Ledger,
    close_deadline: CloseDeadline,
    *,
    record_pool: ClientPool,
    settle: timedelta,
    watermark: Watermark,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    """Reads through ``pool``; downloads are recorded through ``record_pool``."""
    router = APIRouter(tags=["audit"])

    @router.get(
        "/audit/report",
        response_model=AuditReportOut,
        summary="Completeness and accuracy of every interface for a period and legal entity, "
        "signed, with the query that computed it",
        responses={
            200: {
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                }
            }
        },
    )
    def audit_report(
        request: Request,
        period: PeriodQuery,
        legal_entity: Annotated[
            str,
            Query(
                min_length=1,
                max_length=100,
                description="Legal entity id, as biz.legal_entity.id carries it.",
                examples=["LE-US01"],
            ),
        ],
        known_at: KnownAtQuery = None,
        format: Annotated[ReportFormat, Query(description="json (default), csv or pdf.")] = "json",
    ) -> Any:
        checked_period(period)
        client = pool.client()
        check_legal_entity_named(client, legal_entity)
        now = clock()
        # the business state resolves every event's legal entity and period: an answer up to
        # its watermark never changes afterwards
        moment = knowledge_instant(known_at, watermark=min(now - settle, watermark()))
        body = build_report(
            client,
            rules,
            ReportRequest(period, legal_entity, moment, close_deadline(legal_entity, period)),
        )
        root = root_of(body)
        signature = ledger.sign_root(root)
        heads = ledger.latest_heads(client, map(date.fromisoformat, body["knowledge_days"]))
        document: dict[str, Any] = {
            **body,
            "root_hash": root,
            "signature": signature,
            "ledger_heads": [heads[day].to_json() for day in sorted(heads)],
            "generated_at": instant_text(now),
        }
        ledger.record_download(
            record_pool.client(),
            requester_of(request),
            kind="report",
            path=request.url.path,
            parameters={
                "period": period,
                "legal_entity": legal_entity,
                "known_at": instant_text(moment),
                "format": format,
            },
            at=now,
            root_hash=root,
            signature=signature["value"],
        )
        if format == "csv":
            return Response(report_csv(document), media_type=MEDIA_TYPES["csv"])
        if format == "pdf":
            name = re.sub(r"[^A-Za-z0-9._-]", "_", f"audit-report-{legal_entity}-{period}.pdf")
            return Response(
                report_pdf(document),
                media_type=MEDIA_TYPES["pdf"],
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return document

    return router
