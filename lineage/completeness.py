"""Lineage completeness of a period: the share of postings traceable to a succeeded source, the
orphans (posted without a traceable source) and the stuck sources (old, never posted)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from lineage.assembly import (
    Adjacency,
    Gap,
    Lineage,
    assemble,
    upstream_legal_entity,
)
from lineage.graph import DOWNSTREAM, UPSTREAM, EventNode, Graph
from lineage.known_graph import known_graph
from lineage.queries import event_ids_of_types
from lineage.reach import complete_at_every_cutoff, reaching_a_posting
from lineage.rules import LineageRules
from warehouse.python_heap import collection_paused


@dataclass(frozen=True)
class Orphan:
    """A posting whose upstream lineage does not end at succeeded sources everywhere."""

    event_id: str
    event_type: str
    posted_at: datetime
    gaps: tuple[Gap, ...]


@dataclass(frozen=True)
class StuckSource:
    """A succeeded source event older than its allowed age that has fed no succeeded posting."""

    event_id: str
    event_type: str
    timestamp: datetime
    age_days: float
    reached: str
    """The furthest event type its downstream got to (itself when nothing followed)."""


@dataclass
class Share:
    posted: int = 0
    complete: int = 0

    @property
    def share(self) -> float | None:
        return round(self.complete / self.posted, 4) if self.posted else None


@dataclass
class EntityCompleteness:
    """Completeness of one legal entity in the period."""

    legal_entity: str
    by_posting_type: dict[str, Share] = field(default_factory=dict)
    orphans: list[Orphan] = field(default_factory=list)
    stuck_sources: list[StuckSource] = field(default_factory=list)


@dataclass(frozen=True)
class Completeness:
    period: str
    as_of: datetime
    entities: tuple[EntityCompleteness, ...]


def completeness(
    client: Client,
    rules: LineageRules,
    *,
    period: str,
    as_of: datetime,
    known_at: datetime | None = None,
    legal_entity: str | None = None,
) -> Completeness:
    """Posted invoices and revenue postings of ``period`` and the source events of ``period``,
    from the business rows stored up to ``known_at`` (every row when None): an answer for a past
    ``known_at`` never changes. With ``legal_entity``, only the events that carry it, or carry
    none and may inherit it, are traced."""
    # the graph's hundreds of thousands of objects, none in a cycle, are freed by reference
    # counting when the answer is built: collections while building them would walk them again
    with collection_paused():
        return _completeness(
            client, rules, period=period, as_of=as_of, known_at=known_at, legal_entity=legal_entity
        )


def _completeness(
    client: Client,
    rules: LineageRules,
    *,
    period: str,
    as_of: datetime,
    known_at: datetime | None,
    legal_entity: str | None,
) -> Completeness:
    entities: dict[str, EntityCompleteness] = {}

    def entity(name: str) -> EntityCompleteness:
        return entities.setdefault(name, EntityCompleteness(name, _empty_shares(rules)))

    posting_ids, source_ids = (
        event_ids_of_types(client, event_types, period=period, known_at=known_at)
        for event_types in (rules.posting_event_types, rules.source_event_types)
    )
    graph = known_graph(
        client, rules, known_at=known_at, upstream_of=posting_ids, both_ways_of=source_ids
    )
    adjacency = Adjacency.of(graph)
    postings = {
        event_id: node
        for event_id, node in _nodes_of(graph, posting_ids).items()
        if node.succeeded and node.period == period and _may_belong(node, legal_entity)
    }
    surely_complete = complete_at_every_cutoff(graph, postings, rules, adjacency)
    for event_id, node in postings.items():
        name = upstream_legal_entity(event_id, graph, adjacency)
        if legal_entity and name != legal_entity:
            continue
        # assembled only when its completeness or its gaps need the lineage
        lineage = (
            None
            if event_id in surely_complete
            else assemble([event_id], UPSTREAM, graph, rules, adjacency)
        )
        share = entity(name).by_posting_type[node.event_type]
        share.posted += 1
        if lineage is None or lineage.complete:
            share.complete += 1
        else:
            entity(name).orphans.append(
                Orphan(event_id, node.event_type, node.timestamp, lineage.gaps)
            )
    stuck_sources = _stuck_sources(
        rules, graph, adjacency, source_ids, as_of=as_of, legal_entity=legal_entity
    )
    for stuck, name in stuck_sources:
        entity(name).stuck_sources.append(stuck)
    for report in entities.values():
        report.orphans.sort(key=lambda o: (o.posted_at, o.event_id))
        report.stuck_sources.sort(key=lambda s: (s.timestamp, s.event_id))
    return Completeness(period, as_of, tuple(entities[name] for name in sorted(entities)))


def _empty_shares(rules: LineageRules) -> dict[str, Share]:
    return {event_type: Share() for event_type in rules.posting_event_types}


def _may_belong(node: EventNode, legal_entity: str | None) -> bool:
    """Whether ``node`` may count for ``legal_entity``: a lineage's legal entity is its root's
    own when the root carries one (``assembly.nearest_legal_entity``), so an event that carries
    another is left out before any tracing."""
    return not legal_entity or node.legal_entity in ("", legal_entity)


def _nodes_of(graph: Graph, event_ids: Iterable[str]) -> dict[str, EventNode]:
    return {event_id: graph.nodes[event_id] for event_id in sorted(event_ids)}


def _stuck_sources(
    rules: LineageRules,
    graph: Graph,
    adjacency: Adjacency,
    source_ids: Iterable[str],
    *,
    as_of: datetime,
    legal_entity: str | None,
) -> Iterable[tuple[StuckSource, str]]:
    candidates = {
        event_id: node
        for event_id, node in _nodes_of(graph, source_ids).items()
        if node.succeeded
        and node.effect_time <= as_of - timedelta(days=rules.stuck_after(node.event_type))
        and _may_belong(node, legal_entity)
    }
    stuck = sorted(candidates.keys() - reaching_a_posting(graph, candidates, rules, adjacency))
    for event_id in stuck:
        name = upstream_legal_entity(event_id, graph, adjacency)
        if legal_entity and name != legal_entity:
            continue
        node = candidates[event_id]
        age = (as_of - node.effect_time).total_seconds() / 86_400
        downstream = assemble([event_id], DOWNSTREAM, graph, rules, adjacency)
        yield (
            StuckSource(
                event_id, node.event_type, node.timestamp, round(age, 2), _furthest(downstream)
            ),
            name,
        )


def _furthest(lineage: Lineage) -> str:
    latest: EventNode = max(lineage.nodes, key=lambda node: (node.timestamp, node.event_id))
    return latest.event_type
