"""REST routes of lineage, evidence, OCEL export and completeness: each reads through the query
layer, calls the pure core and returns its result. (Blocked-invoice impact is answered from the
business state, ``slas.api``.)"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from domain.answer_headers import KNOWN_AT_HEADER
from domain.instants import utc
from domain.objects import ObjectRef
from domain.periods import PERIOD_PATTERN
from lineage.assembly import Lineage
from lineage.completeness import completeness
from lineage.evidence import canonical_json, evidence_records, instant_text, seal
from lineage.evidence_spans import pack_spans
from lineage.ledger import FactIdentity, Ledger
from lineage.ledger_api import in_range, knowledge_instant, requester_of
from lineage.models import (
    CompletenessOut,
    LineageOut,
    StreamSilenceOut,
    completeness_out,
    lineage_out,
)
from lineage.ocel import to_ocel
from lineage.owners import OwnerRouting
from lineage.queries import FactReader
from lineage.rules import LineageRules
from lineage.traversal import NodeReader, UnknownLineageType, UnknownRoot, trace
from warehouse.pool import ClientPool

Direction = Literal["upstream", "downstream", "both"]
PeriodQuery = Annotated[
    str, Query(pattern=PERIOD_PATTERN, description="Fiscal period, YYYY-MM.", examples=["2026-09"])
]
DirectionQuery = Annotated[
    Direction, Query(description="upstream (to the sources), downstream (to the postings), both.")
]
KnownAtQuery = Annotated[
    datetime | None,
    Query(
        description="Knowledge time: only rows stored by then count, so the same known_at gives "
        "the same answer. Default (and cap): now minus the settle time; echoed in the answer "
        "(the X-Syncsight-Known-At header, or the pack's known_at)."
    ),
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
    ledger: Ledger,
    *,
    record_pool: ClientPool,
    settle: timedelta,
    max_nodes: int,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    missing_evidence: Callable[[datetime], list[StreamSilenceOut]] | None = None,
) -> APIRouter:
    """Routes over ``pool`` (reads); downloads are recorded through ``record_pool``; a lineage
    holds at most ``max_nodes`` events (a request may ask for fewer). ``missing_evidence``: the
    telemetry streams silent beyond their limit at an instant, for the completeness answer (the
    SLA feature learns them)."""
    router = APIRouter(tags=["lineage"])

    def traced(
        object_type: str,
        object_id: str,
        direction: str,
        requested_nodes: int | None,
        known_at: datetime | None = None,
        read_nodes: NodeReader | None = None,
    ) -> Lineage:
        limit = max_nodes if requested_nodes is None else min(requested_nodes, max_nodes)
        try:
            return trace(
                pool.client(),
                rules,
                object_type,
                object_id,
                direction,
                known_at=known_at,
                max_nodes=limit,
                read_nodes=read_nodes,
            )
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
        response: Response,
        period: PeriodQuery,
        legal_entity: str | None = None,
        as_of: Annotated[
            datetime | None,
            Query(description="Reference instant for the age of stuck sources; default now."),
        ] = None,
        known_at: KnownAtQuery = None,
    ) -> CompletenessOut:
        now = clock()
        moment = now if as_of is None else in_range(as_of, "as_of")
        knowledge = knowledge_instant(known_at, watermark=now - settle)
        result = completeness(
            pool.client(),
            rules,
            period=period,
            as_of=moment.replace(tzinfo=UTC),
            known_at=knowledge,
            legal_entity=legal_entity,
        )
        response.headers[KNOWN_AT_HEADER] = instant_text(knowledge)
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
        object_type: str,
        object_id: str,
        direction: DirectionQuery = "upstream",
        max_nodes: MaxNodesQuery = None,
    ) -> LineageOut:
        result = traced(object_type, object_id, direction, max_nodes)
        return lineage_out(result, ObjectRef(object_type, object_id))

    @router.get(
        "/lineage/{object_type}/{object_id}/evidence",
        summary="Signed evidence pack: stored facts and raw spans in a SHA-256 hash chain, with "
        "inclusion proofs against the ledger's signed daily tree heads",
        description="A pack of a lineage cut at its node limit says `truncated: true` in its "
        "summary record and carries the X-Syncsight-Truncated header.",
        response_class=JSONResponse,
    )
    def evidence(
        request: Request,
        object_type: str,
        object_id: str,
        direction: DirectionQuery = "upstream",
        known_at: KnownAtQuery = None,
        max_nodes: MaxNodesQuery = None,
    ) -> JSONResponse:
        now = clock()
        moment = knowledge_instant(known_at, watermark=now - settle)
        client = pool.client()
        reader = FactReader(client, known_at=moment)  # the traversal's last read keeps the facts
        result = traced(object_type, object_id, direction, max_nodes, moment, reader)
        facts = reader.facts_of(result.nodes)
        spans = pack_spans(client, (fact for versions in facts.values() for fact in versions))
        pack = seal(
            evidence_records(
                result, ObjectRef(object_type, object_id), spans, facts, known_at=moment
            )
        )
        signature = ledger.sign_root(pack["root_hash"])
        identities = [
            FactIdentity(
                event_id, trace_id, span_id, utc(datetime.fromisoformat(f.texts["ingested_at"]))
            )
            for (event_id, trace_id, span_id), versions in facts.items()
            for f in versions
        ]
        document = {
            **pack,
            "known_at": instant_text(moment),
            "generated_at": instant_text(now),
            "signature": signature,
            "ledger": ledger.proofs(client, identities),
        }
        parameters = {
            "object_type": object_type,
            "object_id": object_id,
            "direction": direction,
            "known_at": instant_text(moment),
        }
        ledger.record_download(
            record_pool.client(),
            requester_of(request),
            kind="evidence",
            path=request.url.path,
            parameters=parameters,
            at=now,
            root_hash=pack["root_hash"],
            signature=signature["value"],
        )
        return JSONResponse(document, headers=truncation_header(result))

    @router.get(
        "/lineage/{object_type}/{object_id}/ocel",
        summary="The lineage as an OCEL 2.0 JSON event log",
        description="A log of a lineage cut at its node limit carries the "
        "X-Syncsight-Truncated: true header.",
        response_class=JSONResponse,
    )
    def ocel(
        request: Request,
        object_type: str,
        object_id: str,
        direction: DirectionQuery = "upstream",
        known_at: KnownAtQuery = None,
        max_nodes: MaxNodesQuery = None,
    ) -> JSONResponse:
        # As for evidence: the trail's root is the hash of what was stored by a recorded
        # known_at, so asking again with it re-derives the document the trail names.
        now = clock()
        moment = knowledge_instant(known_at, watermark=now - settle)
        result = traced(object_type, object_id, direction, max_nodes, moment)
        document: dict[str, Any] = to_ocel(result, rules)
        ledger.record_download(
            record_pool.client(),
            requester_of(request),
            kind="ocel",
            path=request.url.path,
            parameters={
                "object_type": object_type,
                "object_id": object_id,
                "direction": direction,
                "known_at": instant_text(moment),
            },
            at=now,
            root_hash=hashlib.sha256(canonical_json(document)).hexdigest(),
        )
        headers = {**truncation_header(result), KNOWN_AT_HEADER: instant_text(moment)}
        return JSONResponse(document, headers=headers)

    return router
