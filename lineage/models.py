"""The REST shapes of lineage, impact and completeness (pydantic at the edge), and the one place
that turns the pure results into them. The CLI parses the same models back from the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from domain import semconv as sc
from domain.money import Money, money_text
from domain.objects import ObjectRef
from lineage.assembly import Gap, Lineage
from lineage.completeness import Completeness, EntityCompleteness, Share
from lineage.graph import EventNode
from lineage.impact import BlockedInvoices


class ObjectRefOut(BaseModel):
    type: str
    id: str


class FieldDifference(BaseModel):
    field: str = Field(description="The stored fact's field (lineage/facts.py), e.g. `amount`.")
    first: str = Field(description="Its text in the first stored version, the one that counts.")
    conflicting: str = Field(description="Its text in this later version.")


class ConflictOut(BaseModel):
    """A later stored version of one attempt: same event, trace and span id, other content."""

    trace_id: str
    span_id: str
    ingested_at: datetime = Field(description="Its knowledge time: when syncsight stored it.")
    content_hash: str = Field(
        description="SHA-256 of its content texts (every fact field but the knowledge time)."
    )
    differs: list[FieldDifference]


class LineageNode(BaseModel):
    """One business event: all its attempts (retries and replays) as one node."""

    event_id: str
    event_type: str
    timestamp: datetime = Field(
        description="When it took effect (start of its first successful attempt), else its "
        "latest attempt."
    )
    source_system: str
    target_system: str
    outcome: str = Field(description="Outcome of the latest attempt.")
    attempts: int
    replays: int = Field(description="Deliveries after the first (replays of the same event).")
    amount: Money | None
    currency: str
    period: str
    legal_entity: str
    error_category: str = Field(description="Category of the latest failed attempt, if any.")
    objects: dict[str, list[str]]
    trace_id: str
    span_id: str
    conflicts: list[ConflictOut] = Field(
        default_factory=list,
        description="Versions of its attempts re-sent with other content, stored after the first: "
        "kept and listed, never counted (the first stored fact stands).",
    )


class LineageEdge(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    source: str = Field(alias="from", description="The feeding event.")
    target: str = Field(alias="to", description="The event it feeds.")
    via: ObjectRefOut


class LineageGap(BaseModel):
    kind: str
    event_id: str
    event_type: str
    message: str
    via: ObjectRefOut | None = None


class LineageOut(BaseModel):
    root: ObjectRefOut
    root_events: list[str] = Field(description="The events the lineage starts from.")
    direction: str
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    source_events: list[str]
    complete: bool
    gaps: list[LineageGap]
    truncated: bool = Field(
        default=False,
        description="The traversal stopped at its node limit (max_nodes): events beyond it are "
        "left out, and the lineage is never complete.",
    )


def _ref(ref: ObjectRef) -> ObjectRefOut:
    return ObjectRefOut(type=ref.type, id=ref.id)


def node_out(node: EventNode) -> LineageNode:
    decisive = node.decisive
    return LineageNode(
        event_id=node.event_id,
        event_type=node.event_type,
        timestamp=node.timestamp,
        source_system=decisive.source_system,
        target_system=decisive.target_system,
        outcome=node.outcome,
        attempts=len(node.attempts),
        replays=node.replays,
        amount=node.amount,
        currency=node.currency,
        period=node.period,
        legal_entity=node.legal_entity,
        error_category=node.error_category,
        objects={t: list(ids) for t, ids in sorted(node.objects.items())},
        trace_id=decisive.trace_id,
        span_id=decisive.span_id,
        conflicts=[
            ConflictOut(
                trace_id=version.trace_id,
                span_id=version.span_id,
                ingested_at=version.ingested_at,
                content_hash=version.content_hash,
                differs=[
                    FieldDifference(field=name, first=first, conflicting=later)
                    for name, first, later in version.differs
                ],
            )
            for version in node.conflicts
        ],
    )


def gap_out(gap: Gap) -> LineageGap:
    return LineageGap(
        kind=gap.kind,
        event_id=gap.event_id,
        event_type=gap.event_type,
        message=gap.message,
        via=_ref(gap.via) if gap.via else None,
    )


def lineage_out(lineage: Lineage, root: ObjectRef) -> LineageOut:
    return LineageOut(
        root=_ref(root),
        root_events=list(lineage.roots),
        direction=lineage.direction,
        nodes=[node_out(node) for node in lineage.nodes],
        edges=[
            LineageEdge.model_validate({"from": e.source, "to": e.target, "via": _ref(e.via)})
            for e in lineage.edges
        ],
        source_events=list(lineage.source_events),
        complete=lineage.complete,
        gaps=[gap_out(gap) for gap in lineage.gaps],
        truncated=lineage.truncated,
    )


class BlockerOut(BaseModel):
    event_id: str
    event_type: str
    error_category: str
    error_code: str
    owner: str
    failed_since: datetime | None


class BlockedItemOut(BaseModel):
    object: ObjectRefOut
    invoice: str | None = Field(description="The invoice number reserved for the item, if known.")
    stage: str = Field(description="The item's own step that has not succeeded.")
    amount: Money | None
    currency: str
    legal_entity: str
    period: str
    blocked_by: list[BlockerOut]


class BlockedInvoicesOut(BaseModel):
    as_of: datetime = Field(
        description="The instant (event time) the items were blocked at; the response headers "
        "X-Syncsight-As-Of and X-Syncsight-Known-At name both instants the answer describes."
    )
    total: dict[str, Money] = Field(
        description="Blocked value per currency, the exact sum of every blocked item's amount "
        "(of the items on other pages too)."
    )
    count: int = Field(description="How many items are blocked in all (on every page).")
    items: list[BlockedItemOut] = Field(
        description="One page of the blocked items: the largest amount first (none counts as "
        "zero), then by object type and id; at most `limit`, from just after the `cursor`'s item."
    )
    next_cursor: str | None = Field(
        default=None,
        description='Pass as `cursor` for the next page (the `Link: <…>; rel="next"` header '
        "names its URL); null on the last page. It carries the answer's as_of and known_at: "
        "every page describes the same instants, whatever was stored meanwhile.",
    )


def blocked_json(result: BlockedInvoices, as_of: datetime, next_cursor: str | None = None) -> bytes:
    """The ``BlockedInvoicesOut`` of ``result`` (and ``next_cursor``) as JSON: the bytes the
    model's serializer writes (its fields in order, money as ``money_text``; pydantic's own
    writer for the rest), from plain values, without a model per item to build and validate: a
    page may list thousands (``tests/lineage/test_blocked_json.py`` holds the two to the same
    bytes)."""
    blockers: dict[int, dict[str, Any]] = {}  # by identity: items held by one failure share it
    items = []
    for item in result.items:
        blocked_by = []
        for b in item.blocked_by:
            if (blocker := blockers.get(id(b))) is None:
                blocker = blockers[id(b)] = {
                    "event_id": b.event_id,
                    "event_type": b.event_type,
                    "error_category": b.error_category,
                    "error_code": b.error_code,
                    "owner": b.owner,
                    "failed_since": b.failed_since,
                }
            blocked_by.append(blocker)
        items.append(
            {
                "object": {"type": item.object.type, "id": item.object.id},
                "invoice": item.invoice,
                "stage": item.stage,
                "amount": None if item.amount is None else money_text(item.amount),
                "currency": item.currency,
                "legal_entity": item.legal_entity,
                "period": item.period,
                "blocked_by": blocked_by,
            }
        )
    answer = {
        "as_of": as_of,
        "total": {currency: money_text(amount) for currency, amount in result.total.items()},
        "count": result.count,
        "items": items,
        "next_cursor": next_cursor,
    }
    return to_json(answer)


class ShareOut(BaseModel):
    posted: int
    complete: int
    share: float | None = Field(description="complete / posted; null when nothing posted.")


class OrphanOut(BaseModel):
    event_id: str
    event_type: str
    posted_at: datetime
    gaps: list[LineageGap]


class StuckSourceOut(BaseModel):
    event_id: str
    event_type: str
    timestamp: datetime
    age_days: float
    reached: str


class EntityCompletenessOut(BaseModel):
    legal_entity: str
    invoices: ShareOut
    revenue_postings: ShareOut
    by_posting_type: dict[str, ShareOut]
    orphans: list[OrphanOut]
    stuck_sources: list[StuckSourceOut]


class StreamSilenceOut(BaseModel):
    kind: str = Field(description="source_pair (biz.source.system->biz.target.system) or service.")
    stream: str = Field(description="'psa->erp', or the service.name.")
    last_seen: datetime = Field(description="Event time of the stream's latest business event.")
    silence_business_hours: float
    limit_business_hours: float = Field(
        description="Silence tolerated: the learnt cadence or the configured bound, the shorter."
    )
    learnt_business_hours: float | None = Field(
        description="Twice the 99th percentile of the stream's gaps (null until it has 20 gaps)."
    )
    bound_business_hours: float = Field(description="[telemetry.silence] for the stream.")
    missing: bool = Field(description="Silent beyond the limit: its evidence is missing.")


class TelemetrySilenceOut(BaseModel):
    as_of: datetime
    missing: int = Field(description="Streams silent beyond their limit.")
    streams: list[StreamSilenceOut] = Field(
        description="Every stream seen in 28 days, the most silent first."
    )


class CompletenessOut(BaseModel):
    period: str
    as_of: datetime
    invoices: ShareOut
    revenue_postings: ShareOut
    by_legal_entity: list[EntityCompletenessOut]
    missing_evidence: list[StreamSilenceOut] = Field(
        default_factory=list,
        description="Telemetry streams silent beyond their limit now (only when as_of is not "
        "given): postings they should have sent cannot be counted, so the shares may be too high.",
    )


def _share(share: Share | None) -> ShareOut:
    share = share or Share()
    return ShareOut(posted=share.posted, complete=share.complete, share=share.share)


def _sum(shares: list[Share]) -> Share:
    return Share(sum(s.posted for s in shares), sum(s.complete for s in shares))


def _entity_out(report: EntityCompleteness) -> EntityCompletenessOut:
    return EntityCompletenessOut(
        legal_entity=report.legal_entity,
        invoices=_share(report.by_posting_type.get(sc.INVOICE_POSTED)),
        revenue_postings=_share(report.by_posting_type.get(sc.REVENUE_POSTED)),
        by_posting_type={t: _share(s) for t, s in report.by_posting_type.items()},
        orphans=[
            OrphanOut(
                event_id=o.event_id,
                event_type=o.event_type,
                posted_at=o.posted_at,
                gaps=[gap_out(g) for g in o.gaps],
            )
            for o in report.orphans
        ],
        stuck_sources=[
            StuckSourceOut(
                event_id=s.event_id,
                event_type=s.event_type,
                timestamp=s.timestamp,
                age_days=s.age_days,
                reached=s.reached,
            )
            for s in report.stuck_sources
        ],
    )


def completeness_out(result: Completeness) -> CompletenessOut:
    def total(event_type: str) -> ShareOut:
        shares = [
            e.by_posting_type[event_type]
            for e in result.entities
            if event_type in e.by_posting_type
        ]
        return _share(_sum(shares))

    return CompletenessOut(
        period=result.period,
        as_of=result.as_of,
        invoices=total(sc.INVOICE_POSTED),
        revenue_postings=total(sc.REVENUE_POSTED),
        by_legal_entity=[_entity_out(entity) for entity in result.entities],
    )
