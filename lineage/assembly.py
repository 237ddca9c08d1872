"""Pure assembly of one lineage from a traversal's graph: which nodes and edges belong to the
roots, whether every path ends where it should, and the gaps that say why not."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import datetime

from domain.objects import ObjectRef
from lineage.graph import BOTH, DOWNSTREAM, UPSTREAM, Edge, EventNode, Graph
from lineage.rules import LineageRules

MISSING_LINK = "missing_link"
NOT_A_SOURCE = "not_a_source"
SOURCE_FAILED = "source_failed"
NOT_POSTED = "not_posted"
POSTING_FAILED = "posting_failed"


@dataclass(frozen=True)
class Gap:
    """Why a lineage is not complete, at one event (and, for a missing link, one object)."""

    kind: str
    event_id: str
    event_type: str
    message: str
    via: ObjectRef | None = None


@dataclass(frozen=True)
class Lineage:
    """The events, edges and completeness of one root in one direction."""

    roots: tuple[str, ...]
    direction: str
    nodes: tuple[EventNode, ...]
    edges: tuple[Edge, ...]
    source_events: tuple[str, ...]
    complete: bool
    gaps: tuple[Gap, ...]
    truncated: bool = False
    """The traversal stopped at its node limit before reaching every event: never complete."""

    def node(self, event_id: str) -> EventNode:
        return next(node for node in self.nodes if node.event_id == event_id)


def _walk(
    roots: Sequence[str],
    edges_of: dict[str, list[Edge]],
    step: Callable[[Edge], str],
    keep: Callable[[Edge], bool],
) -> tuple[set[str], set[Edge]]:
    seen = set(roots)
    kept: set[Edge] = set()
    stack = list(roots)
    while stack:
        current = stack.pop()
        for edge in edges_of.get(current, ()):
            if not keep(edge):
                continue
            kept.add(edge)
            following = step(edge)
            if following not in seen:
                seen.add(following)
                stack.append(following)
    return seen, kept


@dataclass(frozen=True)
class Adjacency:
    """A graph's edges indexed by the event they enter and the event they leave."""

    into: dict[str, list[Edge]]
    out_of: dict[str, list[Edge]]

    @classmethod
    def of(cls, graph: Graph) -> Adjacency:
        into: dict[str, list[Edge]] = {}
        out_of: dict[str, list[Edge]] = {}
        for edge in graph.edges:
            if edge.source in graph.nodes and edge.target in graph.nodes:
                into.setdefault(edge.target, []).append(edge)
                out_of.setdefault(edge.source, []).append(edge)
        return cls(into, out_of)


def _kept_upstream(roots: Sequence[str], graph: Graph) -> Callable[[Edge], bool]:
    """Which edges the upstream lineage of ``roots`` keeps: an ``as_of_root`` edge only from a
    feeder that took effect by the roots' (latest) first attempt."""
    cutoff: datetime = max(graph.nodes[root].first_time for root in roots)

    def keep(edge: Edge) -> bool:
        return not edge.as_of_root or graph.nodes[edge.source].effect_time <= cutoff

    return keep


def _upstream(
    roots: Sequence[str], graph: Graph, rules: LineageRules, into: dict[str, list[Edge]]
) -> tuple[set[str], set[Edge], list[Gap]]:
    seen, kept = _walk(roots, into, lambda e: e.source, _kept_upstream(roots, graph))
    fed_by: dict[str, set[tuple[ObjectRef, str]]] = {}
    for edge in kept:
        fed_by.setdefault(edge.target, set()).add((edge.via, graph.nodes[edge.source].event_type))
    gaps = [
        gap
        for event_id in sorted(seen)
        for gap in upstream_gaps(graph.nodes[event_id], fed_by.get(event_id, set()), rules)
    ]
    return seen, kept, gaps


def upstream_gaps(
    node: EventNode, links: Set[tuple[ObjectRef, str]], rules: LineageRules
) -> list[Gap]:
    """Why the upstream lineage is not complete at ``node``, fed through ``links`` (object, feeder
    event type): a required object no feeder carries, or a path that ends at an event that is no
    succeeded source."""
    gaps: list[Gap] = []
    event_id = node.event_id
    missing = [
        (ref, hop.upstream_types)
        for hop in rules.upstream_hops(node.event_type)
        if hop.required
        for ref in (ObjectRef(hop.object_type, i) for i in node.objects.get(hop.object_type, ()))
        if not any((ref, feeder) in links for feeder in hop.upstream_types)
    ]
    for ref, expected in missing:
        gaps.append(
            Gap(
                MISSING_LINK,
                event_id,
                node.event_type,
                f"{node.event_type} {event_id} references {ref.type} {ref.id}, but no "
                f"{' or '.join(expected)} event carries it",
                ref,
            )
        )
    if links or missing:
        return gaps
    if node.event_type not in rules.source_event_types:
        gaps.append(
            Gap(
                NOT_A_SOURCE,
                event_id,
                node.event_type,
                f"the path ends at {node.event_type} {event_id}, which is not a source event "
                f"({', '.join(rules.source_event_types)})",
            )
        )
    elif not node.succeeded:
        gaps.append(
            Gap(
                SOURCE_FAILED,
                event_id,
                node.event_type,
                f"source event {event_id} has not succeeded (latest attempt {node.outcome})",
            )
        )
    return gaps


def _downstream(
    roots: Sequence[str], graph: Graph, rules: LineageRules, out_of: dict[str, list[Edge]]
) -> tuple[set[str], set[Edge], list[Gap]]:
    cutoff = min(graph.nodes[root].first_time for root in roots)

    def keep(edge: Edge) -> bool:
        return not edge.as_of_root or graph.nodes[edge.target].first_time >= cutoff

    seen, kept = _walk(roots, out_of, lambda e: e.target, keep)
    feeding = {edge.source for edge in kept}
    gaps: list[Gap] = []
    for event_id in sorted(seen - feeding):
        node = graph.nodes[event_id]
        if node.event_type not in rules.posting_event_types:
            gaps.append(
                Gap(
                    NOT_POSTED,
                    event_id,
                    node.event_type,
                    f"the path ends at {node.event_type} {event_id}: it has fed no posting yet",
                )
            )
        elif not node.succeeded:
            gaps.append(
                Gap(
                    POSTING_FAILED,
                    event_id,
                    node.event_type,
                    f"posting {event_id} has not succeeded (latest attempt {node.outcome})",
                )
            )
    return seen, kept, gaps


def assemble(
    roots: Sequence[str],
    direction: str,
    graph: Graph,
    rules: LineageRules,
    adjacency: Adjacency | None = None,
) -> Lineage:
    """The lineage of ``roots``: upstream complete when every path ends at a succeeded source
    event with no missing link; downstream complete when every path ends at a succeeded posting.
    A lineage that reaches an event of ``graph.unexpanded`` is truncated, and never complete."""
    if direction not in (UPSTREAM, DOWNSTREAM, BOTH):
        raise ValueError(f"direction {direction!r}: expected upstream, downstream or both")
    adjacency = adjacency or Adjacency.of(graph)
    present = [root for root in roots if root in graph.nodes]
    if not present:
        raise ValueError(f"none of the roots {list(roots)!r} is among the graph's nodes")
    seen: set[str] = set(present)
    kept: set[Edge] = set()
    gaps: list[Gap] = []
    sources: set[str] = set()
    if direction in (UPSTREAM, BOTH):
        up_seen, up_kept, up_gaps = _upstream(present, graph, rules, adjacency.into)
        seen |= up_seen
        kept |= up_kept
        gaps += up_gaps
        sources = {e for e in up_seen if graph.nodes[e].event_type in rules.source_event_types}
    else:
        sources = {e for e in present if graph.nodes[e].event_type in rules.source_event_types}
    if direction in (DOWNSTREAM, BOTH):
        down_seen, down_kept, down_gaps = _downstream(present, graph, rules, adjacency.out_of)
        seen |= down_seen
        kept |= down_kept
        gaps += down_gaps
    nodes = sorted((graph.nodes[e] for e in seen), key=lambda n: (n.timestamp, n.event_id))
    # a gap at an event whose neighbours were not all read would only say where the cut was
    truncated = not graph.unexpanded.isdisjoint(seen)
    gaps = [gap for gap in gaps if gap.event_id not in graph.unexpanded]
    return Lineage(
        roots=tuple(present),
        direction=direction,
        nodes=tuple(nodes),
        edges=tuple(sorted(kept)),
        source_events=tuple(n.event_id for n in nodes if n.event_id in sources),
        complete=not gaps and not truncated,
        gaps=tuple(gaps),
        truncated=truncated,
    )


def nearest_legal_entity(lineage: Lineage) -> str:
    """The legal entity of the roots, else of the nearest upstream event that carries one."""
    by_id = {node.event_id: node for node in lineage.nodes}
    into: dict[str, list[str]] = {}
    for edge in lineage.edges:
        into.setdefault(edge.target, []).append(edge.source)
    return _nearest(lineage.roots, lambda e: by_id[e].legal_entity, lambda e: into.get(e, ()))


def upstream_legal_entity(root: str, graph: Graph, adjacency: Adjacency) -> str:
    """``nearest_legal_entity`` of the upstream lineage of ``root`` in ``graph``, without
    assembling it: the same walk over the edges that lineage keeps."""
    keep = _kept_upstream([root], graph)
    return _nearest(
        [root],
        lambda e: graph.nodes[e].legal_entity,
        lambda e: [edge.source for edge in adjacency.into.get(e, ()) if keep(edge)],
    )


def _nearest(
    roots: Iterable[str],
    legal_entity_of: Callable[[str], str],
    feeders_of: Callable[[str], Iterable[str]],
) -> str:
    """The first legal entity breadth first upstream: among the roots, then their feeders, each
    level in event id order."""
    frontier = set(roots)
    seen: set[str] = set()
    while frontier:
        for event_id in sorted(frontier):
            if legal_entity_of(event_id):
                return legal_entity_of(event_id)
        seen.update(frontier)
        frontier = {s for e in frontier for s in feeders_of(e) if s not in seen}
    return ""
