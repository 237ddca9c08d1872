"""Answers about many lineages at once, each one pass over a collected graph instead of one
assembled lineage per root (completeness): which roots reach a succeeded posting downstream, which
are surely complete upstream."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from lineage.assembly import Adjacency, upstream_gaps
from lineage.graph import Edge, Graph
from lineage.rules import LineageRules

NEVER = datetime.min.replace(tzinfo=UTC)
"""No path: below every cutoff."""
ALWAYS = datetime.max.replace(tzinfo=UTC)
"""A succeeded posting itself: above every cutoff."""


def reaching_a_posting(
    graph: Graph, roots: Iterable[str], rules: LineageRules, adjacency: Adjacency | None = None
) -> set[str]:
    """The roots whose downstream lineage (``assembly.assemble``) holds a succeeded posting.

    A root's lineage keeps an ``as_of_root`` edge only when its target was first tried at or after
    the root's first attempt, so a root reaches a posting when some path to one has every such
    target at or after that instant. ``widest`` holds, for each event, the best such bound over its
    paths (the latest instant a root may start and still reach a posting through it): one widest-
    path fixpoint over the graph, exact for every root at once."""
    adjacency = adjacency or Adjacency.of(graph)
    nodes = graph.nodes
    widest = {event_id: ALWAYS for event_id in nodes if _posted(rules, event_id, graph)}
    rose = list(widest)
    while rose:  # a bound that rose may raise the bounds of the events feeding it
        target = rose.pop()
        bound, first_time = widest[target], nodes[target].first_time
        for edge in adjacency.into.get(target, ()):
            through = min(bound, first_time) if edge.as_of_root else bound
            if through > widest.get(edge.source, NEVER):
                widest[edge.source] = through
                rose.append(edge.source)
    return {root for root in roots if widest.get(root, NEVER) >= nodes[root].first_time}


def _posted(rules: LineageRules, event_id: str, graph: Graph) -> bool:
    node = graph.nodes[event_id]
    return node.event_type in rules.posting_event_types and node.succeeded


def complete_at_every_cutoff(
    graph: Graph, roots: Iterable[str], rules: LineageRules, adjacency: Adjacency | None = None
) -> set[str]:
    """The roots whose upstream lineage (``assembly.assemble``) is complete whatever its cut-off,
    found in one pass instead of one assembled lineage per root.

    A lineage keeps every edge that is not ``as_of_root``, and an event fed through more links has
    no more gaps (``assembly.upstream_gaps``). So a root is surely complete when no event upstream
    of it, through any edge, has a gap when fed through those edges alone. The others may still
    be complete: assemble them to know."""
    adjacency = adjacency or Adjacency.of(graph)
    upstream = _closure(roots, adjacency.into, lambda edge: edge.source)
    flawed = set()
    for event_id in upstream:
        links = {
            (edge.via, graph.nodes[edge.source].event_type)
            for edge in adjacency.into.get(event_id, ())
            if not edge.as_of_root
        }
        if upstream_gaps(graph.nodes[event_id], links, rules):
            flawed.add(event_id)
    tainted = _closure(flawed, adjacency.out_of, lambda edge: edge.target)
    return {root for root in roots if root not in tainted}


def _closure(
    starts: Iterable[str], edges_of: Mapping[str, list[Edge]], step: Callable[[Edge], str]
) -> set[str]:
    seen = set(starts)
    stack = list(seen)
    while stack:
        for edge in edges_of.get(stack.pop(), ()):
            following = step(edge)
            if following not in seen:
                seen.add(following)
                stack.append(following)
    return seen
