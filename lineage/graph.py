"""Pure lineage assembly: attempts grouped into event nodes, hops matched into edges.

Plain values in, plain values out: no ClickHouse, no clock. ``traversal`` feeds it rows and
``assembly`` turns the nodes and edges into one lineage with its completeness.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from domain import semconv as sc
from domain.business_event import BusinessEvent
from domain.instants import utc
from domain.objects import ObjectRef
from lineage.facts import KNOWLEDGE_TIME, StoredFact, content_hash, differing_fields
from lineage.rules import Hop, LineageRules
from warehouse.counted_attempt import attempt_order

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"
BOTH = "both"
DIRECTIONS = (UPSTREAM, DOWNSTREAM, BOTH)


@dataclass(frozen=True)
class ConflictingVersion:
    """A version of an attempt stored after its first: the same span identity (event, trace and
    span id) with other content. It is kept and listed, never counted: the first stored fact
    stands (warehouse/first_stored.py)."""

    trace_id: str
    span_id: str
    ingested_at: datetime
    """Its knowledge time: when syncsight stored this version."""
    fact: StoredFact
    """Its stored texts, as the ledger hashes them (lineage/facts.py), and its raw span's hash."""
    content_hash: str
    differs: tuple[tuple[str, str, str], ...]
    """(field, the first version's text, this version's text) for each field that differs."""

    @classmethod
    def of(cls, first: StoredFact, later: StoredFact) -> ConflictingVersion:
        """The later version ``later`` of the attempt whose first stored fact is ``first``."""
        old, new = first.texts, later.texts
        return cls(
            trace_id=new["trace_id"],
            span_id=new["span_id"],
            ingested_at=utc(datetime.fromisoformat(new[KNOWLEDGE_TIME])),
            fact=later,
            content_hash=content_hash(new),
            differs=tuple((name, old[name], new[name]) for name in differing_fields(old, new)),
        )


@dataclass(frozen=True)
class EventNode:
    """One business event (one ``biz.event.id``) with every attempt of it in attempt order
    (``warehouse.counted_attempt.attempt_order``): oldest first."""

    event_id: str
    attempts: tuple[BusinessEvent, ...]
    conflicts: tuple[ConflictingVersion, ...] = ()
    """Versions of its attempts stored after their first with other content, oldest first."""

    @property
    def event_type(self) -> str:
        return self.latest.event_type

    @property
    def latest(self) -> BusinessEvent:
        """The latest attempt: it decides the outcome."""
        return self.attempts[-1]

    @cached_property
    def success(self) -> BusinessEvent | None:
        """The first successful attempt: when the event took effect."""
        return next((a for a in self.attempts if a.outcome == sc.SUCCESS), None)

    @property
    def outcome(self) -> str:
        return self.latest.outcome

    @property
    def succeeded(self) -> bool:
        return self.latest.outcome == sc.SUCCESS

    @property
    def decisive(self) -> BusinessEvent:
        """The attempt whose facts (amount, currency, period) the node shows: the first success,
        else the latest attempt, as every aggregate counts it (``warehouse.counted_attempt``)."""
        return self.success or self.latest

    @property
    def timestamp(self) -> datetime:
        """When it took effect while it stands succeeded, else its latest attempt."""
        return utc((self.decisive if self.succeeded else self.latest).timestamp)

    @property
    def first_time(self) -> datetime:
        return utc(self.attempts[0].timestamp)

    @property
    def effect_time(self) -> datetime:
        """When the event took effect, or was first tried if it never did."""
        return utc(self.success.timestamp) if self.success else self.first_time

    @property
    def failed_since(self) -> datetime | None:
        """Start of the first attempt of the current failure (None while it stands succeeded)."""
        if self.succeeded:
            return None
        since = self.attempts[-1]
        for attempt in reversed(self.attempts):
            if attempt.outcome == sc.SUCCESS:
                break
            since = attempt
        return utc(since.timestamp)

    @property
    def error_category(self) -> str:
        """Category of the latest attempt that was not a success ('' if none failed)."""
        for attempt in reversed(self.attempts):
            if attempt.outcome != sc.SUCCESS and attempt.error_category:
                return attempt.error_category
        return ""

    @property
    def error_code(self) -> str:
        for attempt in reversed(self.attempts):
            if attempt.outcome != sc.SUCCESS and attempt.error_code:
                return attempt.error_code
        return ""

    @property
    def deliveries(self) -> int:
        """Traces that carried the event: the first delivery and each replay."""
        return len({attempt.trace_id for attempt in self.attempts})

    @property
    def replays(self) -> int:
        return self.deliveries - 1

    @property
    def amount(self) -> Decimal | None:
        return self.decisive.amount

    @property
    def currency(self) -> str:
        return self.decisive.currency

    @property
    def period(self) -> str:
        return self.decisive.period

    @property
    def legal_entity(self) -> str:
        return next((a.legal_entity for a in self.attempts if a.legal_entity), "")

    @cached_property
    def objects(self) -> dict[str, tuple[str, ...]]:
        """Object type → ids referenced by any attempt, in first-seen order."""
        merged: dict[str, dict[str, None]] = {}
        for attempt in self.attempts:
            for object_type, ids in attempt.objects.items():
                merged.setdefault(object_type, {}).update(dict.fromkeys(ids))
        return {object_type: tuple(ids) for object_type, ids in merged.items()}

    def references(self, ref: ObjectRef) -> bool:
        return ref.id in self.objects.get(ref.type, ())


def group_attempts(
    rows: Iterable[BusinessEvent],
    conflicts: Mapping[str, Iterable[ConflictingVersion]] | None = None,
) -> dict[str, EventNode]:
    """Attempts (spans) grouped by event id: retries and replays become one node; ``conflicts``
    are the later versions of their attempts, by event id."""
    grouped: dict[str, list[BusinessEvent]] = {}
    for row in rows:
        grouped.setdefault(row.event_id, []).append(row)
    later = conflicts or {}
    return {
        event_id: EventNode(
            event_id,
            tuple(sorted(attempts, key=attempt_order)),
            tuple(
                sorted(
                    later.get(event_id, ()),
                    key=lambda v: (v.ingested_at, v.trace_id, v.span_id, v.content_hash),
                )
            ),
        )
        for event_id, attempts in grouped.items()
    }


@dataclass(frozen=True, order=True)
class Edge:
    """``source`` feeds ``target`` through the object ``via`` (data flows source → target)."""

    source: str
    target: str
    via: ObjectRef
    as_of_root: bool = False


@dataclass(frozen=True)
class Lookup:
    """Which references one traversal step needs: each object with the type of an event that
    carries it and is wanted."""

    wanted: frozenset[tuple[ObjectRef, str]]

    @classmethod
    def every(cls, refs: Iterable[ObjectRef], event_types: Iterable[str]) -> Lookup:
        """Every one of ``event_types`` for every one of ``refs``."""
        types = frozenset(event_types)
        return cls(frozenset((ref, event_type) for ref in refs for event_type in types))

    @property
    def empty(self) -> bool:
        return not self.wanted

    @property
    def refs(self) -> frozenset[ObjectRef]:
        return frozenset(ref for ref, _ in self.wanted)

    @property
    def object_types(self) -> list[str]:
        return sorted({ref.type for ref, _ in self.wanted})

    @property
    def object_ids(self) -> list[str]:
        return sorted({ref.id for ref, _ in self.wanted})

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Every (object type, event type) asked for."""
        return sorted({(ref.type, event_type) for ref, event_type in self.wanted})


def _hop_refs(node: EventNode, hop: Hop) -> list[ObjectRef]:
    return [
        ObjectRef(hop.object_type, object_id) for object_id in node.objects.get(hop.object_type, ())
    ]


def upstream_lookup(frontier: Iterable[EventNode], rules: LineageRules) -> Lookup:
    """The objects whose producing events feed ``frontier``, with the types of those events."""
    return Lookup(
        frozenset(
            (ref, event_type)
            for node in frontier
            for hop in rules.upstream_hops(node.event_type)
            for ref in _hop_refs(node, hop)
            for event_type in hop.upstream_types
        )
    )


def downstream_lookup(frontier: Iterable[EventNode], rules: LineageRules) -> Lookup:
    """The objects through which ``frontier`` feeds later events, with the types of those."""
    return Lookup(
        frozenset(
            (ref, hop.event_type)
            for node in frontier
            for hop in rules.downstream_hops(node.event_type)
            for ref in _hop_refs(node, hop)
        )
    )


def _index(candidates: Iterable[EventNode]) -> dict[ObjectRef, list[EventNode]]:
    index: dict[ObjectRef, list[EventNode]] = {}
    for node in candidates:
        for object_type, ids in node.objects.items():
            for object_id in ids:
                index.setdefault(ObjectRef(object_type, object_id), []).append(node)
    return index


def link_upstream(
    frontier: Iterable[EventNode], candidates: Iterable[EventNode], rules: LineageRules
) -> list[Edge]:
    """Edges from the candidates that feed a frontier node, by the hops of the rules."""
    index = _index(candidates)
    edges = []
    for node in frontier:
        for hop in rules.upstream_hops(node.event_type):
            for ref in _hop_refs(node, hop):
                for feeder in index.get(ref, ()):
                    if feeder.event_type in hop.upstream_types and feeder.event_id != node.event_id:
                        edges.append(Edge(feeder.event_id, node.event_id, ref, hop.as_of_root))
    return edges


def link_downstream(
    frontier: Iterable[EventNode], candidates: Iterable[EventNode], rules: LineageRules
) -> list[Edge]:
    """Edges from a frontier node to the candidates it feeds, by the hops of the rules."""
    index = _index(candidates)
    edges = []
    for node in frontier:
        for hop in rules.downstream_hops(node.event_type):
            for ref in _hop_refs(node, hop):
                for fed in index.get(ref, ()):
                    if fed.event_type == hop.event_type and fed.event_id != node.event_id:
                        edges.append(Edge(node.event_id, fed.event_id, ref, hop.as_of_root))
    return edges


@dataclass
class Graph:
    """Nodes and edges collected by a traversal (a superset; assembly picks per root)."""

    nodes: dict[str, EventNode]
    edges: set[Edge]
    unexpanded: set[str] = field(default_factory=set)
    """Events whose neighbours were not all read: the traversal stopped at its node limit."""

    def add(self, nodes: Mapping[str, EventNode], edges: Iterable[Edge]) -> None:
        self.nodes.update(nodes)
        self.edges.update(edges)
