"""REST routes of lineage, evidence, OCEL export and completeness: each reads through the query
layer, calls the pure core and returns its result. (Blocked-invoice impact is answered from the
business state, ``slas.api``.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from domain.objects import ObjectRef
from lineage.assembly import Lineage
from lineage.completeness import completeness
from lineage.evidence import evidence_records, seal
from lineage.models import (
    CompletenessOut,
    LineageOut,
    StreamSilenceOut,
    completeness_out,
    lineage_out,
)
from lineage.ocel import to_ocel
from lineage.owners import OwnerRouting
from lineage.queries import raw_spans
from lineage.rules import LineageRules
from lineage.traversal import UnknownLineageType, UnknownRoot, trace
from warehouse.pool import ClientPool

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
Direction = Literal["upstream", "downstream", "both"]
PeriodQuery = Annotated[
    str, Query(pattern=PERIOD_PATTERN, description="Fiscal period, YYYY-MM.", examples=["2026-09"])
]
DirectionQuery = Annotated[
    Direction, Query(description="upstream (to the sources), downstream (to the postings), both.")
]


def lineage_router(
    pool: ClientPool,
    rules: LineageRules,
    owners: OwnerRouting,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    missing_evidence: Callable[[datetime], list[StreamSilenceOut]] | None = None,
) -> APIRouter:
    """``missing_evidence``: the telemetry streams silent beyond their limit at an instant, for
    the completeness answer (the SLA feature learns them)."""
    router = APIRouter(tags=["lineage"])

    def traced(object_type: str, object_id: str, direction: str) -> Lineage:
        try:
            return trace(pool.client(), rules, object_type, object_id, direction)
        except (UnknownLineageType, UnknownRoot) as error:
            raise HTTPException(status_code=404, detail=str(error)) from error

    @router.get(
        "/lineage/completeness",
        response_model=CompletenessOut,
        summary="Share of postings traceable to their sources, orphans and stuck sources",
    )
    def lineage_completeness(
        period: PeriodQuery,
        legal_entity: str | None = None,
        as_of: Annotated[
            datetime | None,
            Query(description="Reference instant for the age of stuck sources; default now."),
        ] = None,
    ) -> CompletenessOut:
        moment = as_of.astimezone(UTC) if as_of and as_of.tzinfo else as_of
        result = completeness(
            pool.client(),
            rules,
            period=period,
            as_of=(moment or clock()).replace(tzinfo=UTC),
            legal_entity=legal_entity,
        )
        answer = completeness_out(result)
        if missing_evidence is not None and as_of is None:
            answer.missing_evidence = missing_evidence(result.as_of)
        return answer

    @router.get(
        "/lineage/{object_type}/{object_id}",
        response_model=LineageOut,
        summary="Lineage of an object (or of one event: type `event`)",
    )
    def lineage(
        object_type: str, object_id: str, direction: DirectionQuery = "upstream"
    ) -> LineageOut:
        result = traced(object_type, object_id, direction)
        return lineage_out(result, ObjectRef(object_type, object_id))

    @router.get(
        "/lineage/{object_type}/{object_id}/evidence",
        summary="Tamper-evident evidence pack: raw span facts in a SHA-256 hash chain",
        response_class=JSONResponse,
    )
    def evidence(
        object_type: str, object_id: str, direction: DirectionQuery = "upstream"
    ) -> JSONResponse:
        result = traced(object_type, object_id, direction)
        spans = raw_spans(
            pool.client(),
            [(a.trace_id, a.span_id) for node in result.nodes for a in node.attempts],
        )
        records = evidence_records(
            result, ObjectRef(object_type, object_id), spans, generated_at=clock()
        )
        return JSONResponse(seal(records))

    @router.get(
        "/lineage/{object_type}/{object_id}/ocel",
        summary="The lineage as an OCEL 2.0 JSON event log",
        response_class=JSONResponse,
    )
    def ocel(
        object_type: str, object_id: str, direction: DirectionQuery = "upstream"
    ) -> JSONResponse:
        document: dict[str, Any] = to_ocel(traced(object_type, object_id, direction), rules)
        return JSONResponse(document)

    return router
