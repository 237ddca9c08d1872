"""The SQL of the evidence ledger (lineage/ledger.py): sealing a day's facts into stored leaves and
complete subtrees, tree heads, fact lookups and the access trail."""

from __future__ import annotations

from lineage.facts import LEAF_HASH_SQL
from warehouse.first_stored import FIRST_STORED_ORDER

INSERT_LEAVES = f"""
INSERT INTO ledger_leaves (Day, LeafIndex, EventId, TraceId, SpanId, IngestedAt, LeafHash)
SELECT {{day:Date}},
       {{offset:UInt64}} + row_number() OVER (ORDER BY IngestedAt, EventId, TraceId, SpanId, LeafHash) - 1,
       EventId, TraceId, SpanId, IngestedAt, LeafHash
FROM (
    SELECT EventId, TraceId, SpanId, IngestedAt, {LEAF_HASH_SQL} AS LeafHash
    FROM (
        SELECT * FROM biz_events
        WHERE IngestedAt > {{after:DateTime64(3, 'UTC')}} AND IngestedAt <= {{until:DateTime64(3, 'UTC')}}
          AND (EventId, TraceId, SpanId, ContentHash) NOT IN (
              SELECT EventId, TraceId, SpanId, ContentHash FROM biz_events
              WHERE IngestedAt <= {{after:DateTime64(3, 'UTC')}}
                AND EventId IN (
                    SELECT EventId FROM biz_events
                    WHERE IngestedAt > {{after:DateTime64(3, 'UTC')}}
                      AND IngestedAt <= {{until:DateTime64(3, 'UTC')}}))
        ORDER BY EventId, TraceId, SpanId, ContentHash, {FIRST_STORED_ORDER}
        LIMIT 1 BY EventId, TraceId, SpanId, ContentHash
    )
)
WHERE (EventId, TraceId, SpanId, IngestedAt) NOT IN (
    SELECT EventId, TraceId, SpanId, IngestedAt FROM ledger_leaves WHERE Day = {{day:Date}}
)
"""
"""The facts known since the day's last head, numbered on from it: every stored version of a
span, a conflicting re-send included (warehouse/first_stored.py); a span stored again as it was
(a redelivery) is not a new fact. The first stored row of each version is chosen in the order
of ``biz_events``' sorting key (the engine reads it in order instead of sorting it) and only
the chosen rows are hashed (the statement's ``SELECT`` about 0.6 CPU-s less per million facts
than sorting every row by identity and knowledge time, benchmarks/history/evidence.md)."""

LEAF_COUNT = "SELECT uniqExact(LeafIndex) FROM ledger_leaves WHERE Day = {day:Date}"

INSERT_LEAF_NODES = """
INSERT INTO ledger_nodes (Day, Level, NodeIndex, Hash)
SELECT Day, 0, LeafIndex, LeafHash FROM ledger_leaves
WHERE Day = {day:Date} AND LeafIndex >= {first:UInt64}
"""

INSERT_PARENT_NODES = """
INSERT INTO ledger_nodes (Day, Level, NodeIndex, Hash)
SELECT {day:Date}, {level:UInt8}, intDiv(NodeIndex, 2), SHA256(concat(char(1), Hash, NextHash))
FROM (
    SELECT NodeIndex, Hash,
           leadInFrame(NodeIndex) OVER pair AS NextIndex,
           leadInFrame(Hash) OVER pair AS NextHash
    FROM ledger_nodes
    WHERE Day = {day:Date} AND Level = {level:UInt8} - 1 AND NodeIndex >= {first_child:UInt64}
    WINDOW pair AS (ORDER BY NodeIndex ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)
)
WHERE NodeIndex % 2 = 0 AND NextIndex = NodeIndex + 1
"""
"""The complete subtrees of one level that the new facts complete: RFC 9162's node hash
SHA-256(0x01 || left || right) over their two children (lineage/merkle.py is the reference).
The children are read in the table's order and each left child paired with the row after it
(about half the CPU of grouping by parent); a child stored twice (a seal redone after a crash,
before the copies merge) still gives its parent once: only its last copy is followed by its
right sibling."""

NODES = """
SELECT Level, NodeIndex, any(Hash) FROM ledger_nodes
WHERE Day = {day:Date} AND (Level, NodeIndex) IN {keys:Array(Tuple(UInt8, UInt64))}
GROUP BY Level, NodeIndex
"""

HEAD_COLUMNS = "Day, TreeSize, RootHash, Timestamp, KeyId, Signature"

INSERT_HEAD = f"""
INSERT INTO ledger_heads ({HEAD_COLUMNS}, SealedAt) VALUES
({{day:Date}}, {{size:UInt64}}, {{root:String}}, {{timestamp:DateTime64(3, 'UTC')}},
 {{key_id:String}}, {{signature:String}}, {{sealed_at:DateTime64(3, 'UTC')}})
"""

LATEST_HEADS = f"""
SELECT {HEAD_COLUMNS} FROM ledger_heads
WHERE Day IN {{days:Array(Date)}}
ORDER BY Day, TreeSize DESC, Timestamp DESC
LIMIT 1 BY Day
"""

HEADS = f"""
SELECT {HEAD_COLUMNS} FROM ledger_heads
WHERE (isNull({{day:Nullable(Date)}}) OR Day = {{day:Nullable(Date)}})
ORDER BY Day DESC, TreeSize DESC, Timestamp DESC
LIMIT 1 BY Day, TreeSize
LIMIT {{limit:UInt32}}
"""

HEAD_OF_SIZE = f"""
SELECT {HEAD_COLUMNS} FROM ledger_heads
WHERE Day = {{day:Date}} AND TreeSize = {{size:UInt64}}
ORDER BY Timestamp LIMIT 1
"""

LEAVES_OF_FACTS = """
SELECT EventId, TraceId, SpanId, IngestedAt, Day, LeafIndex FROM ledger_leaves
PREWHERE EventId IN {event_ids:Array(String)}
WHERE (EventId, TraceId, SpanId) IN {ids:Array(Tuple(String, String, String))}
ORDER BY Day, LeafIndex
LIMIT 1 BY EventId, TraceId, SpanId, IngestedAt
"""
"""The leaves of the facts, each stored version of a span (by knowledge time) once; the event ids
(one column, a plain set) sift the granules' rows before the identities are compared (about 40 %
less CPU than comparing identities alone, benchmarks/history/evidence.md, "Evidence pack, third
pass")."""

KNOWLEDGE_DAYS = """
SELECT DISTINCT toDate(IngestedAt) AS Day FROM biz_events
WHERE IngestedAt < {before:DateTime64(3, 'UTC')}
ORDER BY Day
"""

SEALED_UNTIL = "SELECT Day, max(Timestamp) FROM ledger_heads GROUP BY Day"

INSERT_DOWNLOAD = """
INSERT INTO ledger_downloads
    (At, TokenName, Role, Kind, Path, Parameters, RootHash, KeyId, Signature) VALUES
({at:DateTime64(3, 'UTC')}, {token_name:String}, {role:String}, {kind:String}, {path:String},
 {parameters:String}, {root:String}, {key_id:String}, {signature:String})
"""

DOWNLOADS = """
SELECT At, TokenName, Role, Kind, Path, Parameters, RootHash, KeyId, Signature
FROM ledger_downloads
WHERE At < {before:DateTime64(3, 'UTC')}
ORDER BY At DESC
LIMIT {limit:UInt32}
"""
