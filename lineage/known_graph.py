"""The whole lineage graph as known at a knowledge time, for answers over many roots at once
(completeness): its edges joined in SQL by the rules' hops, its nodes read once, instead of a
traversal that reads and links level by level in Python."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from clickhouse_connect.driver.client import Client

from domain.objects import ObjectRef
from lineage.graph import Edge, Graph
from lineage.queries import KNOWN_AT, knowledge_bound, nodes_of
from lineage.rules import LineageRules
from warehouse.counted_attempt import ATTEMPT_ORDER
from warehouse.first_stored import FIRST_STORED_ORDER, first_stored_events
from warehouse.queries import EVENT_COLUMNS

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

KNOWN_EVENTS = f"""
SELECT {EVENT_COLUMNS}, IngestedAt, ContentHash
FROM biz_events
WHERE {KNOWN_AT}
ORDER BY {FIRST_STORED_ORDER}
"""
"""Every attempt known at ``known_at``, first stored first."""


def known_graph(client: Client, rules: LineageRules, *, known_at: datetime | None) -> Graph:
    """Every event and every edge of the rules among the rows stored up to ``known_at`` (every
    row when None). A lineage assembled from it (``assembly.assemble``) is the one a traversal
    from its root collects: both keep each edge by the root's cut-off."""
    bound = knowledge_bound(known_at)
    nodes = nodes_of(client, KNOWN_EVENTS, {"known_at": bound})
    rows = client.query(KNOWN_EDGES, parameters={"known_at": bound, "hops": _hop_rows(rules)})
    edges = {
        Edge(str(source), str(target), ObjectRef(str(object_type), str(object_id)), bool(aor))
        for source, target, object_type, object_id, aor in rows.result_rows
    }
    return Graph(nodes, edges)


def _hop_rows(rules: LineageRules) -> Sequence[tuple[str, str, str, bool]]:
    return sorted(
        {
            (hop.event_type, hop.object_type, feeder, hop.as_of_root)
            for hop in rules.hops
            for feeder in hop.upstream_types
        }
    )
