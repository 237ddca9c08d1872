"""Which roots of a downstream traversal reach a succeeded posting, for all roots in one pass over
the graph instead of one assembled lineage per root (completeness's stuck sources)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from lineage.assembly import Adjacency
from lineage.graph import Graph
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
    widest = {event_id: ALWAYS if _posted(rules, event_id, graph) else NEVER for event_id in nodes}
    changed = set(nodes)
    while changed:
        # an event's bound can only rise when the bound of an event it feeds rose
        sources = {edge.source for target in changed for edge in adjacency.into.get(target, ())}
        changed = set()
        for event_id in sources:
            best = widest[event_id]
            for edge in adjacency.out_of.get(event_id, ()):
                through = widest[edge.target]
                if edge.as_of_root:
                    through = min(through, nodes[edge.target].first_time)
                best = max(best, through)
            if best > widest[event_id]:
                widest[event_id] = best
                changed.add(event_id)
    return {root for root in roots if widest[root] >= nodes[root].first_time}


def _posted(rules: LineageRules, event_id: str, graph: Graph) -> bool:
    node = graph.nodes[event_id]
    return node.event_type in rules.posting_event_types and node.succeeded
