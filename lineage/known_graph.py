"""The lineage graph around many roots as known at a knowledge time, for answers over all of them
at once (completeness): its edges joined in SQL by the rules' hops, the events they reach read once
by id, instead of a traversal that reads and links level by level in Python."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime

from clickhouse_connect.driver.client import Client

from domain.objects import ObjectRef
from lineage.graph import Edge, Graph
from lineage.queries import KNOWN_AT, events_by_id, knowledge_bound
from lineage.rules import LineageRules
from warehouse.counted_attempt import ATTEMPT_ORDER
from warehouse.first_stored import first_stored_events

_NODE_REFS = f"""
    SELECT EventId, NodeType, ref.1 AS ObjectType, ref.2 AS ObjectId
    FROM (
        SELECT EventId,
               argMax(EventType, {ATTEMPT_ORDER}) AS NodeType,
               groupUniqArrayArray(ObjectRefs) AS Refs
        FROM {first_stored_events(KNOWN_AT, "EventId, EventType, EventTime, Attempt, SpanId, ObjectRefs")}
        GROUP BY EventId
    )
    ARRAY JOIN Refs AS ref"""
"""Each event known at ``known_at`` with the type of its latest attempt and every object any of
its attempts references (``lineage.graph.EventNode.event_type`` and ``objects``)."""

KNOWN_EDGES = f"""
WITH node_refs AS ({_NODE_REFS}
)
SELECT feeder.EventId, target.EventId, target.ObjectType, target.ObjectId, target.AsOfRoot
FROM (
    SELECT EventId, ObjectType, ObjectId, FeederType, AsOfRoot
    FROM node_refs
    INNER JOIN (
        SELECT hop.1 AS HopType, hop.2 AS HopObject, hop.3 AS FeederType, hop.4 AS AsOfRoot
        FROM (SELECT arrayJoin({{hops:Array(Tuple(String, String, String, Bool))}}) AS hop)
    ) AS hops ON node_refs.NodeType = hops.HopType AND node_refs.ObjectType = hops.HopObject
) AS target
INNER JOIN node_refs AS feeder
    ON feeder.ObjectType = target.ObjectType AND feeder.ObjectId = target.ObjectId
   AND feeder.NodeType = target.FeederType
WHERE feeder.EventId != target.EventId
"""
"""Every edge the hops allow between events known at ``known_at``: the feeder carries an object
the target's hop names and has one of the hop's feeder types (``lineage.graph.link_upstream``)."""


def known_graph(
    client: Client,
    rules: LineageRules,
    *,
    known_at: datetime | None,
    upstream_of: Collection[str],
    both_ways_of: Collection[str],
) -> Graph:
    """The events upstream of ``upstream_of`` and those upstream and downstream of
    ``both_ways_of``, with every edge of the rules among them, from the rows stored up to
    ``known_at`` (every row when None). A lineage of one of them assembled from it
    (``assembly.assemble``) is the one a traversal from it collects: each holds every event and
    edge the other may reach, and both keep each edge by the root's cut-off."""
    bound = knowledge_bound(known_at)
    rows = client.query(KNOWN_EDGES, parameters={"known_at": bound, "hops": _hop_rows(rules)})
    into: dict[str, list[str]] = {}
    out_of: dict[str, list[str]] = {}
    for source, target, *_ in rows.result_rows:
        into.setdefault(target, []).append(source)
        out_of.setdefault(source, []).append(target)
    wanted = _reached({*upstream_of, *both_ways_of}, into) | _reached(both_ways_of, out_of)
    nodes = events_by_id(client, wanted, known_at=known_at)
    edges = {
        Edge(source, target, ObjectRef(object_type, object_id), bool(as_of_root))
        for source, target, object_type, object_id, as_of_root in rows.result_rows
        if source in nodes and target in nodes
    }
    return Graph(nodes, edges)


def _reached(starts: Iterable[str], neighbours: Mapping[str, list[str]]) -> set[str]:
    seen = set(starts)
    stack = list(seen)
    while stack:
        for following in neighbours.get(stack.pop(), ()):
            if following not in seen:
                seen.add(following)
                stack.append(following)
    return seen


def _hop_rows(rules: LineageRules) -> Sequence[tuple[str, str, str, bool]]:
    return sorted(
        {
            (hop.event_type, hop.object_type, feeder, hop.as_of_root)
            for hop in rules.hops
            for feeder in hop.upstream_types
        }
    )
