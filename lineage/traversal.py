"""Breadth-first traversal over the business tables: each level of the object graph is one query
for all of its objects at once, whether the lineage has one root or thousands."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from functools import partial

from clickhouse_connect.driver.client import Client

from lineage.assembly import Adjacency, Lineage, assemble
from lineage.graph import (
    BOTH,
    DOWNSTREAM,
    UPSTREAM,
    Edge,
    EventNode,
    Graph,
    Lookup,
    ObjectRef,
    downstream_lookup,
    group_attempts,
    link_downstream,
    link_upstream,
    upstream_lookup,
)
from lineage.queries import (
    events_by_id,
    hop_events,
    producing_events,
    referencing_event_ids,
)
from lineage.reads import Reads, SerialReads
from lineage.rules import EVENT, LineageRules
from warehouse import semconv as sc

MAX_LEVELS = 32
"""Deeper than any chain of rules; stops a cyclic site rule from looping forever."""


class UnknownLineageType(LookupError):
    """The root type is neither a traversable object type nor ``event``."""

    def __init__(self, root_type: str, known: Iterable[str]) -> None:
        self.root_type = root_type
        self.known = tuple(known)
        reason = (
            f"{root_type} is a dimension (a filter and group-by), never a lineage hop; "
            if root_type in sc.DIMENSION_OBJECT_TYPES
            else f"unknown lineage type {root_type!r}; "
        )
        super().__init__(reason + "known types: " + ", ".join(self.known))


class UnknownRoot(LookupError):
    """No business event carries the root object (or has the root event id)."""

    def __init__(self, root_type: str, root_id: str) -> None:
        what = f"business event {root_id!r}" if root_type == EVENT else f"{root_type} {root_id!r}"
        super().__init__(f"no business event references {what}")


def resolve_roots(
    client: Client, rules: LineageRules, root_type: str, root_id: str
) -> dict[str, EventNode]:
    """The events a lineage of (type, id) starts from: the object's producing events, else every
    event that references it, or the one event named by ``event``."""
    if root_type == EVENT:
        roots = events_by_id(client, [root_id])
    elif root_type in rules.producers:
        roots = producing_events(
            client,
            object_type=root_type,
            object_id=root_id,
            event_types=rules.producers[root_type],
        )
        if not roots:
            ids = referencing_event_ids(client, object_type=root_type, object_id=root_id)
            roots = events_by_id(client, ids) if ids else {}
    else:
        raise UnknownLineageType(root_type, rules.root_types)
    if not roots:
        raise UnknownRoot(root_type, root_id)
    return roots


def collect(
    client: Client,
    rules: LineageRules,
    roots: Mapping[str, EventNode],
    direction: str,
    *,
    reads: Reads | None = None,
) -> Graph:
    """Every node and edge the roots may reach in ``direction`` (a superset for many roots).

    Each level is one read of the object rows, which carry the attempts that reference each
    object (split to run side by side when ``reads`` can); the reached nodes are completed with
    every attempt of theirs by id, behind the next level's read.
    """
    graph = Graph(dict(roots), set())
    fetcher = _Fetcher(reads or SerialReads(client))
    fetcher.complete(roots)
    if direction in (UPSTREAM, BOTH):
        cutoff = max(node.first_time for node in roots.values())

        def before_cutoff(edge: Edge, nodes: Mapping[str, EventNode]) -> bool:
            return not edge.as_of_root or nodes[edge.source].effect_time <= cutoff

        _expand(rules, graph, roots, upstream_lookup, link_upstream, before_cutoff, fetcher)
    if direction in (DOWNSTREAM, BOTH):
        start = min(node.first_time for node in roots.values())

        def after_start(edge: Edge, nodes: Mapping[str, EventNode]) -> bool:
            return not edge.as_of_root or nodes[edge.target].first_time >= start

        _expand(rules, graph, roots, downstream_lookup, link_downstream, after_start, fetcher)
    graph.nodes.update(fetcher.completed())  # only ids asked for come back
    return graph


class _Fetcher:
    """The reads of one traversal. Outlines: each (object, event type) is read at most once (a
    later level asking again is answered from what was read), the rest in parts side by side.
    Nodes in full, by id, each asked for once: one read at the end when reads run one after
    another, else one per level, running behind the next level's read."""

    def __init__(self, reads: Reads) -> None:
        self._reads = reads
        self._looked_up: set[tuple[ObjectRef, str]] = set()
        self._outlines: dict[str, EventNode] = {}
        self._asked: set[str] = set()
        self._waiting: set[str] = set()
        self._pending: list[Future[dict[str, EventNode]]] = []

    def outlines(self, lookup: Lookup, known: Iterable[str]) -> dict[str, EventNode]:
        """Every outline read so far, after reading what ``lookup`` adds (not ``known`` ones)."""
        missing = lookup.wanted() - self._looked_up
        if missing:
            self._looked_up |= missing
            exclude = sorted(set(known) | self._outlines.keys())
            parts = self._reads.gather(
                [
                    partial(hop_events, lookup=part, known=exclude, every_attempt=False)
                    for part in Lookup.of(missing).split(self._reads.width)
                ]
            )
            self._outlines.update(_merged(parts))
        return self._outlines

    def complete(self, event_ids: Iterable[str]) -> None:
        """Ask for these nodes in full."""
        self._waiting |= set(event_ids) - self._asked
        self._asked |= self._waiting
        if self._reads.width > 1 and self._waiting:
            self._pending.append(self._reads.submit(self._read_waiting()))

    def completed(self) -> dict[str, EventNode]:
        """Every node asked for in full (ids that are gone are missing)."""
        found: dict[str, EventNode] = {}
        for future in self._pending:
            found.update(future.result())
        if self._waiting:
            for part in self._reads.gather([self._read_waiting()]):
                found.update(part)
        return found

    def _read_waiting(self) -> Callable[[Client], dict[str, EventNode]]:
        wanted, self._waiting = self._waiting, set()
        return partial(events_by_id, event_ids=wanted)


def _merged(parts: Iterable[Mapping[str, EventNode]]) -> dict[str, EventNode]:
    """The nodes of several reads, an event found by more than one with all of its attempts."""
    merged: dict[str, EventNode] = {}
    for part in parts:
        for event_id, node in part.items():
            if event_id in merged:
                both = {
                    (a.trace_id, a.span_id): a for a in merged[event_id].attempts + node.attempts
                }
                node = group_attempts(both.values())[event_id]
            merged[event_id] = node
    return merged


LookupStep = Callable[[Iterable[EventNode], LineageRules], Lookup]
LinkStep = Callable[[Iterable[EventNode], Iterable[EventNode], LineageRules], list[Edge]]
EdgeFilter = Callable[[Edge, Mapping[str, EventNode]], bool]


def _expand(
    rules: LineageRules,
    graph: Graph,
    roots: Mapping[str, EventNode],
    lookup_step: LookupStep,
    link_step: LinkStep,
    admit: EdgeFilter,
    fetcher: _Fetcher,
) -> None:
    frontier = dict(roots)
    reached = set(roots)
    for _ in range(MAX_LEVELS):
        if not frontier:
            return
        fetched = fetcher.outlines(lookup_step(frontier.values(), rules), graph.nodes)
        candidates = {**fetched, **graph.nodes}
        edges = [
            edge
            for edge in link_step(frontier.values(), candidates.values(), rules)
            if admit(edge, candidates)
        ]
        ends = {edge.source for edge in edges} | {edge.target for edge in edges}
        graph.add({event_id: candidates[event_id] for event_id in ends}, edges)
        frontier = {event_id: candidates[event_id] for event_id in ends - reached}
        reached |= ends
        fetcher.complete(frontier)


def trace(
    client: Client,
    rules: LineageRules,
    root_type: str,
    root_id: str,
    direction: str,
    *,
    reads: Reads | None = None,
) -> Lineage:
    """The lineage of one object (or event) in ``direction``."""
    roots = resolve_roots(client, rules, root_type, root_id)
    graph = collect(client, rules, roots, direction, reads=reads)
    return assemble(sorted(roots), direction, graph, rules)


def trace_many(
    client: Client, rules: LineageRules, roots: Mapping[str, EventNode], direction: str
) -> dict[str, Lineage]:
    """One lineage per root event, from one batched traversal."""
    if not roots:
        return {}
    graph = collect(client, rules, roots, direction)
    adjacency = Adjacency.of(graph)
    return {
        event_id: assemble([event_id], direction, graph, rules, adjacency)
        for event_id in sorted(roots)
    }
