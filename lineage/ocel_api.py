"""REST route of the OCEL 2.0 export of a period and/or a legal entity: parameters checked (422
naming the bad one, as the audit report), the download recorded on the access trail, the log
streamed as OCEL 2.0 JSON or as the OCEL 2.0 SQLite file (``lineage.ocel_export``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from domain.answer_headers import KNOWN_AT_HEADER
from lineage.audit_api import check_legal_entity_named, checked_period, refused
from lineage.evidence import instant_text
from lineage.ledger import Ledger
from lineage.ledger_api import knowledge_instant, requester_of
from lineage.ocel_export import STREAMS, export_stream
from lineage.ocel_log import DEFAULT_PAGE_SIZE, LogRequest, StateFacts, describe_objects, log_pages
from lineage.rules import LineageRules
from warehouse.pool import ClientPool

MEDIA_TYPES: Final = {"json": "application/ocel+json", "sqlite": "application/vnd.sqlite3"}
SUFFIXES: Final = {"json": "jsonocel", "sqlite": "sqlite"}
LEGAL_ENTITY_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


def ocel_router(
    pool: ClientPool,
    rules: LineageRules,
    ledger: Ledger,
    facts: StateFacts,
    *,
    record_pool: ClientPool,
    settle: timedelta,
    page_size: int = DEFAULT_PAGE_SIZE,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    """Reads through ``pool`` in pages of ``page_size`` attempts; downloads are recorded through
    ``record_pool``; ``facts``: what the business state knows (the SLA feature)."""
    router = APIRouter(tags=["audit"])

    @router.get(
        "/ocel",
        summary="OCEL 2.0 event log of a period and/or a legal entity, streamed as JSON or as "
        "the OCEL 2.0 SQLite file",
        description="Events are business events (retries folded) with qualified relations to "
        "the objects they touch; objects carry amount, currency, legal entity, customer and "
        "status as the business state knows them; object-to-object relations follow the "
        "lineage rules' hops. Read in bounded pages and streamed; every download is on the "
        "access trail. 422 names a bad period, legal entity or format.",
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {
                    MEDIA_TYPES["json"]: {"schema": {"type": "object"}},
                    MEDIA_TYPES["sqlite"]: {"schema": {"type": "string", "format": "binary"}},
                }
            },
            422: {"description": "A bad period, legal entity or format, named."},
        },
    )
    def ocel_export(
        request: Request,
        period: Annotated[
            str | None,
            Query(description="Fiscal period, YYYY-MM (an event's own, else its UTC month).",
                  examples=["2026-10"]),
        ] = None,
        legal_entity: Annotated[
            str | None,
            Query(description="Legal entity id, as biz.legal_entity.id carries it.",
                  examples=["LE-US01"]),
        ] = None,
        format: Annotated[str, Query(description="json (default) or sqlite.")] = "json",
        known_at: Annotated[
            datetime | None,
            Query(description="Knowledge time: only what was stored by then. Default (and cap): "
                  "now minus the settle time; echoed in the X-Syncsight-Known-At header."),
        ] = None,
    ) -> StreamingResponse:  # fmt: skip
        if format not in STREAMS:
            raise refused("format", format, f"one of {', '.join(STREAMS)}")
        wanted_period = checked_period(period)
        if legal_entity is not None:
            if not LEGAL_ENTITY_PATTERN.match(legal_entity):
                raise refused("legal_entity", legal_entity, "a legal entity id such as LE-US01")
            check_legal_entity_named(pool.client(), legal_entity)
        if wanted_period is None and legal_entity is None:
            raise HTTPException(422, "give a period (YYYY-MM), a legal_entity, or both")
        now = clock()
        moment = knowledge_instant(known_at, watermark=now - settle)
        ledger.record_download(
            record_pool.client(),
            requester_of(request),
            kind="ocel",
            path=request.url.path,
            parameters={
                "period": wanted_period or "",
                "legal_entity": legal_entity or "",
                "format": format,
                "known_at": instant_text(moment),
            },
            at=now,
        )
        log = LogRequest(wanted_period, legal_entity, moment)
        pages = log_pages(pool.client, rules, log, facts, shape=format, page_size=page_size)
        describe = describe_objects(pool.client, rules, facts, moment)
        name = re.sub(
            r"[^A-Za-z0-9._-]",
            "_",
            "-".join(["ocel", *filter(None, [legal_entity, wanted_period])]),
        )
        return StreamingResponse(
            export_stream(format, pages, describe),
            media_type=MEDIA_TYPES[format],
            headers={
                "Content-Disposition": f'attachment; filename="{name}.{SUFFIXES[format]}"',
                KNOWN_AT_HEADER: instant_text(moment),
            },
        )

    return router
