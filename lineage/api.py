"""REST routes of lineage, evidence, OCEL export and completeness: each reads through the query
layer, calls the pure core and returns its result. (Blocked-invoice impact is answered from the
business state, ``slas.api``.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from lineage.assembly import Lineage
from lineage.completeness import completeness
from lineage.evidence import evidence_records, seal
from lineage.graph import ObjectRef
from lineage.models import (
    CompletenessOut,
    LineageOut,
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
MaxNodesQuery = Annotated[
    int | None,
    Query(
        ge=1,
        description="Most events in the answer; default and upper bound: the service's "
        "lineage_max_nodes. A lineage cut there says `truncated: true`.",
    ),
]
TRUNCATED_HEADER = "X-Syncsight-Truncated"


def lineage_router(
    pool: ClientPool,
    rules: LineageRules,
    owners: OwnerRouting,
    *,
    max_nodes: int,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    """The routes; a lineage holds at most ``max_nodes`` events (a request may ask for fewer)."""
    router = APIRouter(tags=["lineage"])

    def traced(
        object_type: str, object_id: str, direction: str, requested_nodes: int | None
    ) -> Lineage:
        limit = max_nodes if requested_nodes is None else min(requested_nodes, max_nodes)
        try:
            return trace(pool.client(), rules, object_type, object_id, direction, max_nodes=limit)
        except (UnknownLineageType, UnknownRoot) as error:
            raise HTTPException(status_code=404, detail=str(error)) from error

    def truncation_header(lineage: Lineage) -> dict[str, str]:
        return {TRUNCATED_HEADER: "true"} if lineage.truncated else {}

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
        return completeness_out(result)

    @router.get(
        "/lineage/{object_type}/{object_id}",
        response_model=LineageOut,
        summary="Lineage of an object (or of one event: type `event`)",
    )
    def lineage(
        object_type: str,
        object_id: str,
        direction: DirectionQuery = "upstream",
        max_nodes: MaxNodesQuery = None,
    ) -> LineageOut:
        result = traced(object_type, object_id, direction, max_nodes)
        return lineage_out(result, ObjectRef(object_type, object_id))

    @router.get(
        "/lineage/{object_type}/{object_id}/evidence",
        summary="Tamper-evident evidence pack: raw span facts in a SHA-256 hash chain",
        description="A pack of a lineage cut at its node limit says `truncated: true` in its "
        "summary record and carries the X-Syncsight-Truncated header.",
        response_class=JSONResponse,
    )
    def evidence(
        object_type: str,
        object_id: str,
        direction: DirectionQuery = "upstream",
        max_nodes: MaxNodesQuery = None,
    ) -> JSONResponse:
        result = traced(object_type, object_id, direction, max_nodes)
        spans = raw_spans(
            pool.client(),
            [(a.trace_id, a.span_id) for node in result.nodes for a in node.attempts],
        )
        records = evidence_records(
            result, ObjectRef(object_type, object_id), spans, generated_at=clock()
        )
        return JSONResponse(seal(records), headers=truncation_header(result))

    @router.get(
        "/lineage/{object_type}/{object_id}/ocel",
        summary="The lineage as an OCEL 2.0 JSON event log",
        description="A log of a lineage cut at its node limit carries the "
        "X-Syncsight-Truncated: true header.",
        response_class=JSONResponse,
    )
    def ocel(
        object_type: str,
        object_id: str,
        direction: DirectionQuery = "upstream",
        max_nodes: MaxNodesQuery = None,
    ) -> JSONResponse:
        result = traced(object_type, object_id, direction, max_nodes)
        document: dict[str, Any] = to_ocel(result, rules)
        return JSONResponse(document, headers=truncation_header(result))

    return router
