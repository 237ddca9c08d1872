"""The SQL of the business state: which objects rows stored since a watermark touch, the graph
component around them, the events of a component as known at an instant, and the versions of
``sla_timers`` a re-derivation compares with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from slas.close_items import ITEM_OBJECT_TYPES
from slas.queries import COMPONENT_DIMENSIONS, COMPONENT_EVENTS, COMPONENT_REFERENCES
from slas.snapshot import EventSnapshot, empty_snapshot
from slas.timer_rows import SnapshotNames
from warehouse import semconv as sc
from warehouse.schema import CLOSE_ITEMS, SLA_TIMERS

_DIMENSIONS = ", ".join(f"'{t}'" for t in sc.DIMENSION_OBJECT_TYPES)
_WINDOW = "IngestedAt > {since:DateTime64(3, 'UTC')} AND IngestedAt <= {until:DateTime64(3, 'UTC')}"

TOUCHED_COUNT = f"""
SELECT uniqExact(ObjectType, ObjectId)
FROM biz_event_objects
WHERE {_WINDOW} AND ObjectType NOT IN ({_DIMENSIONS})
"""

TOUCHED_OBJECTS = f"""
SELECT DISTINCT ObjectType, ObjectId
FROM biz_event_objects
WHERE {_WINDOW} AND ObjectType NOT IN ({_DIMENSIONS})
  AND cityHash64(ObjectType, ObjectId) % {{slices:UInt64}} = {{slice:UInt64}}
"""
"""The objects rows stored in the window reference, one hash slice of them (dimensions are never
hops: a new customer.synced changes no timer)."""

NEIGHBOURS = """
SELECT DISTINCT ObjectType, ObjectId, EventId, ObjectRefs
FROM biz_event_objects
WHERE ObjectType IN {types:Array(String)}
  AND ObjectId IN {ids:Array(String)}
  AND IngestedAt <= {until:DateTime64(3, 'UTC')}
"""
"""The events that reference some objects, with every object each of them references (object
rows carry their event's references, migration 4): one ordered-key read per expansion round (the
type-by-id cross product is narrowed to the wanted pairs in Python)."""

LATEST_DIGESTS = f"""
SELECT KeyType, KeyId, Sla, StartEventId, argMax((Deleted, Digest), KnownAt)
FROM {SLA_TIMERS}
WHERE KeyType IN {{types:Array(String)}} AND KeyId IN {{ids:Array(String)}}
GROUP BY KeyType, KeyId, Sla, StartEventId
"""

LATEST_ITEM_DIGESTS = f"""
SELECT ItemType, ItemId, argMax((Deleted, Digest), KnownAt)
FROM {CLOSE_ITEMS}
WHERE ItemType IN {{types:Array(String)}} AND ItemId IN {{ids:Array(String)}}
GROUP BY ItemType, ItemId
"""

ITEM_COLUMNS = (
    "ItemType",
    "ItemId",
    "KnownAt",
    "Deleted",
    "Digest",
    "Kind",
    "LegalEntity",
    "Customer",
    "Currency",
    "Amount",
    "DuePeriod",
    "StageEventId",
    "StageFirstAt",
    "StageEffectiveAt",
    "PostingEventId",
    "PostingType",
    "PostingFirstAt",
    "PostingEffectiveAt",
    "PostedPeriod",
    "StageSeconds",
    "Invoice",
    "UpstreamEventId",
    "UpstreamEventType",
    "UpstreamFirstAt",
)

TIMER_COLUMNS = (
    "KeyType",
    "KeyId",
    "Sla",
    "StartEventId",
    "KnownAt",
    "Deleted",
    "Digest",
    "StartedAt",
    "StartPeriod",
    "Deadline",
    "TargetSeconds",
    "WarningShares",
    "WarningAt",
    "StopEventId",
    "StoppedAt",
    "StopPeriod",
    "StopReason",
    "ElapsedSeconds",
    "LegalEntity",
    "Customer",
    "Amount",
    "Currency",
)

Pair = tuple[str, str]


def _pair_parameters(pairs: Iterable[Pair]) -> dict[str, Any]:
    return {"types": sorted({t for t, _ in pairs}), "ids": sorted({i for _, i in pairs})}


def touched_count(client: Client, since: datetime, until: datetime) -> int:
    rows = client.query(TOUCHED_COUNT, parameters={"since": since, "until": until}).result_rows
    return int(rows[0][0]) if rows else 0


def touched_objects(
    client: Client, since: datetime, until: datetime, *, slice_: int, slices: int
) -> list[Pair]:
    rows = client.query(
        TOUCHED_OBJECTS,
        parameters={"since": since, "until": until, "slice": slice_, "slices": slices},
    ).result_rows
    return [(str(t), str(i)) for t, i in rows]


def component(
    client: Client, objects: Iterable[Pair], until: datetime, *, max_rounds: int
) -> tuple[set[str], set[Pair]]:
    """The events and objects connected to ``objects`` (through non-dimension references), as
    known at ``until``: expanded until nothing new appears or ``max_rounds`` reads were made."""
    seen: set[Pair] = set(objects)
    frontier = sorted(seen)
    events: set[str] = set()
    dimensions = set(sc.DIMENSION_OBJECT_TYPES)
    for _round in range(max_rounds):
        if not frontier:
            break
        rows = client.query(
            NEIGHBOURS, parameters={**_pair_parameters(frontier), "until": until}
        ).result_rows
        found: set[Pair] = set()
        wanted = set(frontier)
        for object_type, object_id, event_id, refs in rows:
            if (object_type, object_id) not in wanted:
                continue
            events.add(str(event_id))
            for ref in refs:
                pair = (str(ref["type"]), str(ref["id"]))
                if pair[0] not in dimensions and pair not in seen:
                    found.add(pair)
        seen |= found
        frontier = sorted(found)
    return events, seen


def load_component(
    client: Client, event_ids: set[str], objects: set[Pair], known_at: datetime
) -> tuple[EventSnapshot, SnapshotNames]:
    """The snapshot of a component's events as known at ``known_at``, with the ids behind its
    hashes."""
    ids = sorted(event_ids)
    if not ids:
        return empty_snapshot(0), SnapshotNames({}, {}, {})
    entities, currencies = client.query(
        COMPONENT_DIMENSIONS, parameters={"event_ids": ids, "known_at": known_at}
    ).result_rows[0]
    legal_entities = tuple(sorted(name for name in entities if name))
    currency_codes = tuple(sorted(code for code in currencies if code))
    parameters = {
        "known_at": known_at,
        "event_ids": ids,
        "event_types": list(sc.EVENT_TYPES),
        "object_types": list(sc.OBJECT_TYPES),
        "legal_entities": list(legal_entities),
        "currencies": list(currency_codes),
        "object_types_wanted": sorted({t for t, _ in objects}),
        "object_ids": sorted({i for _, i in objects}),
    }
    events = client.query_np(COMPONENT_EVENTS, parameters=parameters)
    if not len(events):
        return empty_snapshot(0), SnapshotNames({}, {}, {})
    references = client.query_np(COMPONENT_REFERENCES, parameters=parameters)
    snapshot = EventSnapshot.from_arrays(
        0, events, references, legal_entities=legal_entities, currencies=currency_codes
    )
    names = SnapshotNames(
        events=dict(
            zip(
                (int(h) for h in events["event_hash"]),
                (str(e) for e in events["event_id"]),
                strict=True,
            )
        ),
        objects=dict(
            zip(
                (int(h) for h in references["object_hash"]),
                zip(
                    (str(t) for t in references["object_type_name"]),
                    (str(i) for i in references["object_id"]),
                    strict=True,
                ),
                strict=True,
            )
        ),
        customers=dict(
            zip(
                (int(h) for h in events["customer"]),
                (str(c) for c in events["customer_id"]),
                strict=True,
            )
        ),
    )
    return snapshot, names


def latest_digests(
    client: Client, keys: Sequence[Pair]
) -> dict[tuple[str, str, str, str], tuple[bool, int]]:
    """Identity → (deleted, digest) of the latest stored version of every timer of ``keys``."""
    if not keys:
        return {}
    wanted = set(keys)
    rows = client.query(LATEST_DIGESTS, parameters=_pair_parameters(keys)).result_rows
    return {
        (str(t), str(k), str(s), str(e)): (bool(latest[0]), int(latest[1]))
        for t, k, s, e, latest in rows
        if (t, k) in wanted
    }


def latest_item_digests(
    client: Client, keys: Sequence[Pair]
) -> dict[tuple[str, str], tuple[bool, int]]:
    """Identity → (deleted, digest) of the latest stored version of every item among ``keys``."""
    wanted = {key for key in keys if key[0] in ITEM_OBJECT_TYPES}
    if not wanted:
        return {}
    rows = client.query(LATEST_ITEM_DIGESTS, parameters=_pair_parameters(wanted)).result_rows
    return {
        (str(t), str(i)): (bool(latest[0]), int(latest[1]))
        for t, i, latest in rows
        if (t, i) in wanted
    }
