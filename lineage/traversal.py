"""Breadth-first traversal over the business tables: each level of the object graph is one query
for all of its objects at once, whether the lineage has one root or thousands."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from functools import partial

from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.objects import ObjectRef
from lineage.assembly import Lineage, assemble
from lineage.graph import (
    BOTH,
    DOWNSTREAM,
    UPSTREAM,
    Edge,
    EventNode,
    Graph,
    Lookup,
    downstream_lookup,
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
from lineage.rules import EVENT, LineageRules

NodeReader = Callable[[Iterable[str]], dict[str, EventNode]]
"""Reads the nodes of event ids in full, every attempt: ``events_by_id`` unless a caller wants
more from the same read (``lineage.queries.FactReader``)."""

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
    client: Client,
    rules: LineageRules,
    root_type: str,
    root_id: str,
    *,
    known_at: datetime | None = None,
) -> dict[str, EventNode]:
    """The events a lineage of (type, id) starts from: the object's producing events, else every
    event that references it, or the one event named by ``event`` (as known at ``known_at``)."""
    if root_type == EVENT:
        roots = events_by_id(client, [root_id], known_at=known_at)
    elif root_type in rules.producers:
        roots = producing_events(
            client,
            object_type=root_type,
            object_id=root_id,
            event_types=rules.producers[root_type],
            known_at=known_at,
        )
        if not roots:
            ids = referencing_event_ids(
                client, object_type=root_type, object_id=root_id, known_at=known_at
            )
            roots = events_by_id(client, ids, known_at=known_at) if ids else {}
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
    known_at: datetime | None = None,
    max_nodes: int | None = None,
    read_nodes: NodeReader | None = None,
) -> Graph:
    """Every node and edge the roots may reach in ``direction`` (a superset for many roots), from
    the rows stored up to ``known_at`` (every row when None).

    Each level is one read of the object rows, which carry the attempts that reference each
    object; the reached nodes are then completed with every attempt of theirs in one read by id.
    With ``max_nodes``, the graph stops growing at that many events: the events whose neighbours
    were not all read are then listed in ``Graph.unexpanded``. ``read_nodes`` reads the reached
    nodes in full (``events_by_id`` at ``known_at`` when None).
    """
    graph = Graph(dict(roots), set())
    fetcher = _Fetcher(client, known_at)
    if direction in (UPSTREAM, BOTH):
        cutoff = max(node.first_time for node in roots.values())

        def before_cutoff(edge: Edge, nodes: Mapping[str, EventNode]) -> bool:
            return not edge.as_of_root or nodes[edge.source].effect_time <= cutoff

        _expand(
            rules, graph, roots, upstream_lookup, link_upstream, before_cutoff, fetcher, max_nodes
        )
    if direction in (DOWNSTREAM, BOTH):
        start = min(node.first_time for node in roots.values())

        def after_start(edge: Edge, nodes: Mapping[str, EventNode]) -> bool:
            return not edge.as_of_root or nodes[edge.target].first_time >= start

        _expand(
            rules, graph, roots, downstream_lookup, link_downstream, after_start, fetcher, max_nodes
        )
    if read_nodes is None:
        read_nodes = partial(events_by_id, client, known_at=known_at)
    graph.nodes.update(read_nodes(graph.nodes))  # only ids asked for come back
    return graph


class _Fetcher:
    """The outlines one traversal reads, level by level: each (object, event type) is read at
    most once, a later level asking again is answered from what was read."""

    def __init__(self, client: Client, known_at: datetime | None) -> None:
        self._client = client
        self._known_at = known_at
        self._looked_up: set[tuple[ObjectRef, str]] = set()
        self._outlines: dict[str, EventNode] = {}

    def outlines(self, lookup: Lookup, known: Iterable[str]) -> dict[str, EventNode]:
        """Every outline read so far, after reading what ``lookup`` adds (not ``known`` ones)."""
        missing = lookup.wanted - self._looked_up
        if missing:
            self._looked_up |= missing
            exclude = set(known) | self._outlines.keys()
            found = hop_events(
                self._client,
                Lookup(missing),
                exclude,
                every_attempt=False,
                known_at=self._known_at,
            )
            self._outlines.update(found)
        return self._outlines


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
    max_nodes: int | None,
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
        new = ends - graph.nodes.keys()
        room = len(new) if max_nodes is None else max(max_nodes - len(graph.nodes), 0)
        if len(new) > room:
            _stop_at_limit(graph, candidates, edges, new, room)
            return
        graph.add({event_id: candidates[event_id] for event_id in ends}, edges)
        frontier = {event_id: candidates[event_id] for event_id in ends - reached}
        reached |= ends


def _stop_at_limit(
    graph: Graph,
    candidates: Mapping[str, EventNode],
    edges: Iterable[Edge],
    new: set[str],
    room: int,
) -> None:
    """Add the earliest ``room`` of the ``new`` events and the edges among kept events; the events
    that lost a neighbour and the added ones (never expanded) become ``unexpanded``."""
    admitted = sorted(new, key=lambda event_id: (candidates[event_id].first_time, event_id))[:room]
    graph.nodes.update({event_id: candidates[event_id] for event_id in admitted})
    for edge in edges:
        if edge.source in graph.nodes and edge.target in graph.nodes:
            graph.edges.add(edge)
        else:  # the end already in the graph lost this neighbour
            graph.unexpanded.add(edge.source if edge.source in graph.nodes else edge.target)
    graph.unexpanded.update(admitted)


def trace(
    client: Client,
    rules: LineageRules,
    root_type: str,
    root_id: str,
    direction: str,
    *,
    known_at: datetime | None = None,
    max_nodes: int | None = None,
    read_nodes: NodeReader | None = None,
) -> Lineage:
    """The lineage of one object (or event) in ``direction``, as known at ``known_at`` (from
    every stored row when None); with ``max_nodes``, of at most that many events, ``truncated``
    when the graph was cut there. ``read_nodes``: as for ``collect``."""
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"max_nodes={max_nodes}: expected at least 1")
    roots = resolve_roots(client, rules, root_type, root_id, known_at=known_at)
    kept = sorted(roots)[:max_nodes]
    graph = collect(
        client,
        rules,
        {r: roots[r] for r in kept},
        direction,
        known_at=known_at,
        max_nodes=max_nodes,
        read_nodes=read_nodes,
    )
    lineage = assemble(kept, direction, graph, rules)
    if len(kept) < len(roots):  # roots left out: the answer is cut whatever the graph says
        return replace(lineage, truncated=True, complete=False)
    return lineage
