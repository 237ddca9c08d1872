"""The SQL of the business state: which objects rows stored since a watermark touch, the graph
component around them, the events of a component as known at an instant, and the versions of
``sla_timers`` a re-derivation compares with.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from domain import semconv as sc
from slas.close_items import ITEM_OBJECT_TYPES
from slas.components import chunks, component_labels, reference_graph
from slas.digests import U64Array, sorted_members, text_hashes
from slas.queries import (
    COMPONENT_EVENTS,
    EVENT_REFERENCES,
    NAMED_EVENTS,
    NAMED_REFERENCES,
    code_tables,
    coded_names,
    component_events,
    event_references,
    event_states,
)
from slas.snapshot import EventSnapshot, empty_snapshot
from slas.state_columns import insert_columns
from slas.timer_rows import SnapshotNames, timer_identities
from warehouse.first_stored import first_stored_events
from warehouse.key_ranges import in_range_sql, range_parameters, split
from warehouse.schema import (
    BIZ_EVENT_OBJECTS,
    BLOCKER_FACT_COLUMNS,
    CLOSE_ITEMS,
    EVENT_DIMENSIONS,
    SLA_TIMERS,
    STATE_CHUNKS,
    STATE_COMPONENT_EVENTS,
    STATE_COMPONENT_OBJECTS,
)

logger = logging.getLogger(__name__)

_DIMENSIONS = ", ".join(f"'{t}'" for t in sc.DIMENSION_OBJECT_TYPES)
_WINDOW = "IngestedAt > {since:DateTime64(3, 'UTC')} AND IngestedAt <= {until:DateTime64(3, 'UTC')}"

_NEW_SPANS = f"""(EventId, TraceId, SpanId) GLOBAL NOT IN (
      SELECT EventId, TraceId, SpanId FROM biz_events
      WHERE IngestedAt <= {{since:DateTime64(3, 'UTC')}}
        AND EventId GLOBAL IN (SELECT EventId FROM biz_events WHERE {_WINDOW}))"""

_WINDOW_IDS = f"SELECT EventId FROM biz_events WHERE {_WINDOW}"

_STORED_BEFORE = f"""SELECT EventId FROM biz_events
      WHERE IngestedAt <= {{since:DateTime64(3, 'UTC')}} AND EventId GLOBAL IN ({_WINDOW_IDS})"""
"""The events of the window that have rows stored before it: the only ones whose state at the
window's start is not "none" (under steady ingest of new work, few or none)."""

_WINDOW_EVENTS = f"""EventId GLOBAL IN (SELECT EventId FROM biz_events
    WHERE {_WINDOW} AND EventId GLOBAL IN ({_STORED_BEFORE}) AND {_NEW_SPANS})"""
"""Events stored before the window with a new span in it (a span stored before, re-sent as it was
or with other content, changes nothing: the first stored version counts), whose states at both
bounds are compared."""


def _new_events(where: str) -> str:
    """The events first stored in the window among the window's rows ``where`` selects, each with
    its type code and references at the window's end: the first stored version of each span, all
    of it in the window, so their state at its start is none and they changed by definition
    (``event_states``' hashes at both bounds need not be worked out)."""
    rows = first_stored_events(
        where, "EventId, TraceId, SpanId, IngestedAt, ContentHash, EventType, ObjectRefs"
    )
    return f"""
SELECT EventId AS event_id, toUInt8(indexOf({{event_types:Array(String)}}, any(EventType))) AS code,
    toUInt8(0) AS outcome_only, arrayMap(ref -> (ref.type, ref.id), arraySort(groupUniqArrayArray(
        arrayFilter(ref -> ref.type NOT IN ({_DIMENSIONS}), ObjectRefs)))) AS refs
FROM {rows}
GROUP BY EventId
"""


CHANGED_STATES = f"""
SELECT event_id, argMax(event_type, bound) AS code,
    count() = 2 AND min(shape) = max(shape) AS outcome_only, argMax(references, bound) AS refs
FROM ({event_states(_WINDOW_EVENTS)})
GROUP BY event_id
HAVING count() = 1 OR min(state) != max(state)
UNION ALL{_new_events(f"{_WINDOW} AND EventId GLOBAL NOT IN ({_STORED_BEFORE})")}"""
"""The events with rows stored in the window that derive differently at its end than at its
start, each with its type code, whether only how its attempts stand changed
(``slas.queries.OUTCOME_COLUMNS``) and its references at the window's end: one read tells the
events whose components a tick re-derives from those whose items' root causes it refreshes.
Events stored before the window compare the hashes of everything a derivation reads of them at
both bounds (``event_states``: a new attempt that leaves the first success first changes
nothing); events first stored in it are new, and only their type and references are read (the
same expressions ``event_states`` spells them with)."""

CHANGED_EVENTS = f"SELECT event_id FROM ({CHANGED_STATES})"
"""The ids of ``CHANGED_STATES``: new events, and stored ones whose counted facts, outcome, names
or references the window's rows changed."""


def _hashed(changed: str) -> str:
    return f"""
SELECT event_id, code, outcome_only, refs, cityHash64(event_id) AS event_hash,
    arrayMap(ref -> cityHash64(ref.1, ref.2), refs) AS ref_hashes,
    arrayMap(ref -> toUInt8(indexOf({{object_types:Array(String)}}, ref.1)), refs) AS ref_codes
FROM ({changed})
"""


CHANGED_STATES_HASHED = _hashed(CHANGED_STATES)
"""``CHANGED_STATES`` with the hashes and object type codes a component read spells its events
and references with (``slas.queries``' ``NAMED_REFERENCES``): when the closure of the changed
events stops at them, their references are the component's, and are not read again."""

NEW_STATES_HASHED = _hashed(_new_events(_WINDOW))
"""``CHANGED_STATES_HASHED`` of a window none of whose events has rows stored before it, every
one of them new: the comparison of the stored events' states at both bounds (``event_states``)
costs the engine about 40 ms to analyse and plan however few rows it reads, and under steady
ingest of new work it finds none."""


def _touched(changed_only: bool) -> str:
    rows = (
        f"IngestedAt <= {{until:DateTime64(3, 'UTC')}} AND EventId GLOBAL IN ({CHANGED_EVENTS})"
        if changed_only
        else f"{_WINDOW} AND {_NEW_SPANS}"
    )
    return f"""
SELECT ref.type AS ObjectType, ref.id AS ObjectId FROM biz_events ARRAY JOIN ObjectRefs AS ref
WHERE {rows} AND ref.type NOT IN ({_DIMENSIONS})
"""


_TOUCHED = _touched(True)
"""The objects referenced by the events stored in the window that derive differently at its
end than at its start (``CHANGED_EVENTS``). A span stored before, whether re-sent as it was (an
exporter's retry, a replayed spool) or with other content (a conflicting version: the first
stored fact wins, warehouse/first_stored.py), changes nothing and touches nothing; nor does a
new attempt that changes no fact a derivation reads. (Object rows are derived from event rows
and carry their knowledge time, so the event rows say everything a window holds.)"""

_TOUCHED_BY_NEW_SPANS = _touched(False)
"""The objects referenced by event rows stored in the window whose span is new: what a window
touches when the state at its start is not what the stored versions were derived from (rows
that became visible late, behind a window already read)."""


TOUCHED_OBJECTS_BY_NEW_SPANS = f"""
SELECT count(), if(count() <= {{limit:UInt64}}, groupArray((ObjectType, ObjectId)), [])
FROM (SELECT DISTINCT * FROM ({_TOUCHED_BY_NEW_SPANS}))
"""
"""How many objects the new spans stored in the window touch, and which when at most ``limit``
(dimensions are never hops: a new customer.synced changes no timer): one evaluation of the
window, and no list read when the graph read is to serve it. (Events the window changed are
told by ``CHANGED_STATES``, with their references.)"""

WINDOW_ROWS = """
SELECT arrayFirstIndex(bound -> IngestedAt <= bound, {ends:Array(DateTime64(3, 'UTC'))}), sum(rows)
FROM (
    SELECT IngestedAt, count() AS rows
    FROM (
        SELECT IngestedAt FROM biz_event_objects
        WHERE IngestedAt > {start:DateTime64(3, 'UTC')} AND IngestedAt <= {end:DateTime64(3, 'UTC')}
        UNION ALL
        SELECT IngestedAt FROM biz_events
        WHERE IngestedAt > {start:DateTime64(3, 'UTC')} AND IngestedAt <= {end:DateTime64(3, 'UTC')}
    )
    GROUP BY IngestedAt
)
GROUP BY 1
"""
"""How many business rows are visible in each of consecutive knowledge-time windows. The rows
are counted by knowledge time first (an insert's rows share one: a few hundred values in a
tick's two minutes of windows), and only those values are placed in their window: placing every
row (an array lambda a row) cost three to four times the CPU."""


def _unresolved(stored_before: str) -> str:
    # every reference a dimension (or none): the types alone, as a set test, not a lambda over
    # each row's (type, id) tuples
    return f"""
SELECT uniqExact(EventId), groupUniqArray(10)(EventId), {stored_before}
FROM biz_events
WHERE {_WINDOW} AND EventType NOT IN {{setup_types:Array(String)}}
  AND hasAll([{_DIMENSIONS}], ObjectRefs.type)
"""


UNRESOLVED = _unresolved(f"(SELECT count() > 0 FROM ({_STORED_BEFORE} LIMIT 1))")
"""Events stored in the window that reference no object but dimensions: nothing can be keyed on
them (dimension set-up events such as customer.synced excepted). Their count, and a sample; and
whether any event of the window has rows stored before it (the first found is enough;
``NEW_STATES_HASHED`` serves a window with none): a tick asks both, so one round trip."""

UNRESOLVED_FROM_SCRATCH = _unresolved("false")
"""The same for a window from the epoch (a derivation from scratch), before which nothing is
stored: the check of rows stored before would build the set of every event id first (at 10M
spans, 850 MiB and 1.3 CPU-s, the derivation's highest peak: benchmarks/history/rebuild.md,
"Rebuild, fourth pass")."""

HOP_NEIGHBOURS = f"""
SELECT EventId, any(EventType),
       arrayMap(ref -> (ref.type, ref.id),
                arrayFilter(ref -> ref.type NOT IN ({_DIMENSIONS}), groupUniqArrayArray(ObjectRefs)))
FROM biz_event_objects
WHERE ObjectType IN {{types:Array(String)}}
  AND ObjectId IN {{ids:Array(String)}}
  AND (ObjectType, ObjectId, EventType) IN {{steps:Array(Tuple(String, String, String))}}
  AND IngestedAt <= {{until:DateTime64(3, 'UTC')}}
GROUP BY EventId
"""
"""The events that reference some objects (object rows carry their event's references,
migration 4), narrowed to the events of given types on each object (``steps``: object type,
object id, event type), once each, with each event's type and the union of the non-dimension
references of its rows that name one of the objects: one step along the hops (``slas.cause_refresh``;
a project's activations, not its thousands of time entries). The references are the union of
every stored version's, a superset of the counted ones: a walk that follows them reaches every
event the counted ones reach."""

_REFERENCES_KNOWN = f"""
FROM biz_event_objects
WHERE IngestedAt <= {{until:DateTime64(3, 'UTC')}} AND ObjectType NOT IN ({_DIMENSIONS})"""

GRAPH_REFERENCES = f"""
SELECT cityHash64(EventId) AS event_hash, cityHash64(ObjectType, ObjectId) AS object_hash
{_REFERENCES_KNOWN}
  AND {in_range_sql("ObjectType", "ObjectId")}
"""
"""The (event, object) references known at ``until`` of the objects in a range of
``biz_event_objects``' sorting key (``warehouse.key_ranges``), as hashes: a piece of the whole
graph, for a derivation from scratch. An event's attempts repeat its references."""

GRAPH_OBJECT_SAMPLE = """
SELECT arraySort(groupArraySample({size:UInt32}, 1)((ObjectType, ObjectId))) FROM biz_event_objects
"""
"""Object keys drawn evenly from the object rows: where the graph's pieces split."""

GRAPH_PIECE_ROWS = 500_000
"""Object rows one piece of the graph read covers at most (about): what the engine and the client
hold of the graph at once (at 10M spans, one read of all 7.9 million took 744 MiB)."""


def _touched_hashes(touched: str) -> str:
    return f"SELECT DISTINCT cityHash64(ObjectType, ObjectId) FROM ({touched})"


TOUCHED_HASHES = _touched_hashes(_TOUCHED)
TOUCHED_HASHES_BY_NEW_SPANS = _touched_hashes(_TOUCHED_BY_NEW_SPANS)

_LATEST_TIMER = """
SELECT cityHash64(KeyType, KeyId) AS key_hash, Sla AS sla, cityHash64(StartEventId) AS event_hash,
    KeyType AS key_type, KeyId AS key_id, StartEventId AS start_event_id,
    argMax(Deleted, KnownAt) AS deleted, argMax(Digest, KnownAt) AS digest"""

STAGED_EVENTS = "syncsight_state_chunk_events"
STAGED_REFERENCES = "syncsight_state_chunk_references"
"""The evaluator's scratch for a derivation in chunks (``graph_chunks``): every chunk's events as
``load_component`` reads them (``component_events``) and their references, each row with its
chunk, ordered by chunk. Filled by one pass over ``biz_events`` in ranges of its sorting key, so
that a chunk's reads are a range of these tables rather than a scan of every business row per
chunk (which made a derivation from scratch cost chunks times history). Created at each derivation
from the very reads it stages (``CREATE OR REPLACE … EMPTY AS``), so its columns never drift from
them; local to the evaluating node, as the other scratch tables are."""

_EVENT_RANGE = "EventId >= {low:String} AND ({high:String} = '' OR EventId < {high:String})"
"""A range of ``biz_events``' sorting key (an empty ``high``: no upper bound)."""


def _staged(read: str) -> str:
    return f"""
SELECT chunks.Chunk AS chunk, staged.* FROM {STATE_CHUNKS} AS chunks
INNER JOIN ({read}) AS staged ON staged.event_hash = chunks.EventHash
"""


STAGE_EVENTS = _staged(component_events(_EVENT_RANGE))
STAGE_REFERENCES = _staged(event_references(_EVENT_RANGE))
"""The events of a range of event ids that some chunk holds, and their references (read from the
events' own rows, the rows their object rows were derived from), with the chunk of each."""

EVENT_ID_SAMPLE = """
SELECT arraySort(groupArraySample({size:UInt32}, 1)(EventId)) FROM biz_events
"""
"""Event ids drawn evenly from the event rows: where the staging's ranges split."""

_BY_CHUNK = "chunk = {chunk:UInt32}"
CHUNK_EVENTS = f"SELECT * EXCEPT chunk FROM {STAGED_EVENTS} WHERE {_BY_CHUNK}"
CHUNK_REFERENCES = f"SELECT * EXCEPT chunk FROM {STAGED_REFERENCES} WHERE {_BY_CHUNK}"
"""A chunk's events and references as ``load_component`` reads them: a range of the staging."""

_CHUNK_OBJECT_HASHES = f"SELECT object_hash FROM {STAGED_REFERENCES} WHERE {_BY_CHUNK}"
CHUNK_EVENT_IDS = f"SELECT event_id FROM {STAGED_EVENTS} WHERE {_BY_CHUNK}"
"""A chunk's objects (by hash) and event ids, for the reads of their latest stored versions. A
chunk's objects are a twenty-first of the graph's at 10M spans, scattered over the state tables'
keys, so that each chunk's read scans the whole table whatever its filter: matching each row's
hash against the chunk's hashes costs half what matching (type, id) texts did
(benchmarks/history/rebuild.md, "Rebuild, fourth pass"). The graph and the chunks are made of
these same hashes, and ``_latest`` keeps only the rows whose hash is one of the chunk's objects'
either way."""

LATEST_DIGESTS_OF_CHUNK = f"""{_LATEST_TIMER}
FROM {SLA_TIMERS}
PREWHERE cityHash64(KeyType, KeyId) GLOBAL IN ({_CHUNK_OBJECT_HASHES})
GROUP BY KeyType, KeyId, Sla, StartEventId
"""

_NAMED_OBJECTS = f"SELECT ObjectType, ObjectId FROM {STATE_COMPONENT_OBJECTS}"

LATEST_DIGESTS_OF_NAMED = f"""{_LATEST_TIMER}
FROM {SLA_TIMERS}
WHERE (KeyType, KeyId) GLOBAL IN ({_NAMED_OBJECTS})
GROUP BY KeyType, KeyId, Sla, StartEventId
"""

_LATEST_ITEM = """
SELECT cityHash64(ItemType, ItemId) AS identity, argMax((Deleted, Digest), KnownAt) AS latest,
    latest.1 AS deleted, latest.2 AS digest, ItemType AS item_type, ItemId AS item_id"""

LATEST_ITEM_DIGESTS_OF_NAMED = f"""{_LATEST_ITEM}
FROM {CLOSE_ITEMS}
WHERE (ItemType, ItemId) GLOBAL IN ({_NAMED_OBJECTS})
GROUP BY ItemType, ItemId
"""
"""The latest versions of the timers and items of the components ``component`` closed: the
subquery is matched against the tables' ordered keys, so the read follows the component."""

LATEST_ITEM_DIGESTS_OF_CHUNK = f"""{_LATEST_ITEM}
FROM {CLOSE_ITEMS}
PREWHERE cityHash64(ItemType, ItemId) GLOBAL IN ({_CHUNK_OBJECT_HASHES})
GROUP BY ItemType, ItemId
"""
"""The latest versions of a chunk's timers and items, their keys' hashes named by a subquery (a
literal list of a chunk's hundreds of thousands of keys would cost the parser minutes)."""

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
    *(name for name, _ in BLOCKER_FACT_COLUMNS),
)

ITEM_HASHES = {
    "ItemId": "cityHash64(ItemType, ItemId)",
    "Customer": "if(Customer = '', 0, cityHash64(Customer))",
    "StageEventId": "if(StageEventId = '', 0, cityHash64(StageEventId))",
    "PostingEventId": "if(PostingEventId = '', 0, cityHash64(PostingEventId))",
    "Invoice": f"if(Invoice = '', 0, cityHash64('{sc.INVOICE}', Invoice))",
    "UpstreamEventId": "if(UpstreamEventId = '', 0, cityHash64(UpstreamEventId))",
}
"""The item columns that name an object, an event or a customer, as an item's digest takes them
(``slas.item_rows.item_digests``): hashed as a snapshot hashes what they name (``slas.queries``'
``cityHash64`` of an object's type and id, of an event id, of a customer id; 0 for none), so that a
derivation digests them from its snapshot's hashes without spelling them."""
HASHED_ITEM_COLUMNS = tuple(ITEM_HASHES)
ITEM_HASH_COLUMNS = ", ".join(f"{spelled} AS {name}Hash" for name, spelled in ITEM_HASHES.items())
"""The ``ITEM_HASHES`` as columns of a read of ``close_items`` (``ItemIdHash``, …: ``item_hashes``)."""

LATEST_ITEMS = f"""
SELECT {", ".join(ITEM_COLUMNS)}, {ITEM_HASH_COLUMNS}
FROM {CLOSE_ITEMS}
WHERE ItemType IN {{types:Array(String)}} AND ItemId IN {{ids:Array(String)}}
  AND (ItemType, ItemId) IN {{keys:Array(Tuple(String, String))}}
ORDER BY ItemType, ItemId, KnownAt DESC
LIMIT 1 BY ItemType, ItemId
"""
"""The latest stored version of some items, every column (``ITEM_COLUMNS``) and the hashes of
the ``HASHED_ITEM_COLUMNS`` (``ItemIdHash``, …: ``item_hashes``)."""

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
ObjectColumns = tuple[Sequence[str] | pa.Array, Sequence[str] | pa.Array]
"""Objects as two columns: their types and their ids."""


def object_columns(pairs: Iterable[Pair]) -> ObjectColumns:
    """``pairs`` (type, id) as columns, in order."""
    ordered = sorted(pairs)
    return [t for t, _ in ordered], [i for _, i in ordered]


def _pair_parameters(pairs: Iterable[Pair]) -> dict[str, Any]:
    return {"types": sorted({t for t, _ in pairs}), "ids": sorted({i for _, i in pairs})}


def _touched_parameters(since: datetime, until: datetime) -> dict[str, Any]:
    # the event states spell legal entities and currencies by name: no code tables needed
    parameters = code_tables((), ())[2]
    parameters.update(since=since, until=until)
    return parameters


def touched_objects_by_new_spans(
    client: Client, since: datetime, until: datetime, *, limit: int
) -> tuple[int, list[Pair]]:
    """How many objects the new spans stored in the window touch, and which (none when more
    than ``limit``): what a window touches when the stored versions may not reflect its start."""
    count, pairs = client.query(
        TOUCHED_OBJECTS_BY_NEW_SPANS,
        parameters={**_touched_parameters(since, until), "limit": limit},
    ).result_rows[0]
    return int(count), [(str(t), str(i)) for t, i in pairs]


@dataclass(frozen=True)
class ChangedEvent:
    """An event whose derived facts a window changed: its type and its references at the
    window's end; ``outcome_only`` when only how its attempts stand changed."""

    event_id: str
    event_type: str
    references: tuple[Pair, ...]
    outcome_only: bool


@dataclass(frozen=True, eq=False)
class WindowChanges:
    """The events a window changed, as a tick uses them: those whose window changed only how their
    attempts stand (when kept apart), and the distinct objects every other one references, in
    columns (tens of thousands under steady ingest: no object per event or reference)."""

    outcomes: list[ChangedEvent]
    object_types: pa.Array
    object_ids: pa.Array
    event_ids: pa.Array
    """The events not kept apart that reference an object (whose every counted reference is
    among the objects): the seeds of their components (``component``)."""
    seed_references: dict[str, Any]
    """Every reference of each seed, in the columns a component read gives them
    (``NAMED_REFERENCES``): the component's references when its closure stops at its seeds."""

    def __len__(self) -> int:
        """How many objects the events not kept apart reference."""
        return len(self.object_types)

    def objects(self) -> list[Pair]:
        return list(zip(self.object_types.to_pylist(), self.object_ids.to_pylist(), strict=True))


def changed_events(
    client: Client,
    since: datetime,
    until: datetime,
    *,
    outcomes_apart: bool,
    stored_before: bool = True,
) -> WindowChanges:
    """The events with a new span in the window whose derived facts it changed
    (``CHANGED_STATES``): the outcome-only ones apart when ``outcomes_apart``, else every one
    by the objects it references. ``stored_before`` False: no event of the window has rows
    stored before it (``unresolved_events`` says), so only new events are looked for."""
    read = CHANGED_STATES_HASHED if stored_before else NEW_STATES_HASHED
    table = client.query_arrow(read, parameters=_touched_parameters(since, until))
    table = table.rename_columns(
        ["event_id", "code", "outcome_only", "references", "event_hash", "hashes", "codes"]
    )
    outcome_only = table["outcome_only"].cast(pa.bool_())  # a comparison is a UInt8
    apart = outcome_only if outcomes_apart else pa.repeat(False, table.num_rows)
    outcomes = [
        ChangedEvent(
            str(row["event_id"]),
            sc.EVENT_TYPES[row["code"] - 1] if 0 < row["code"] <= len(sc.EVENT_TYPES) else "",
            tuple((str(t), str(i)) for t, i in (ref.values() for ref in row["references"])),
            True,
        )
        for row in table.filter(apart).to_pylist()
    ]
    rederived = table.filter(pc.invert(apart))
    references = pc.list_flatten(rederived["references"]).combine_chunks()
    distinct = (
        pa.table({"type": references.field(0), "id": references.field(1)})
        .group_by(["type", "id"])
        .aggregate([])
    )
    referencing = pc.greater(pc.list_value_length(rederived["references"]), 0)
    return WindowChanges(
        outcomes,
        distinct["type"].combine_chunks(),
        distinct["id"].combine_chunks(),
        rederived["event_id"].filter(referencing).combine_chunks(),
        _seed_references(rederived),
    )


def _seed_references(rederived: pa.Table) -> dict[str, Any]:
    """The references of the events of ``rederived`` (a ``CHANGED_STATES_HASHED`` read), one row
    per event and object, in ``NAMED_REFERENCES``' columns."""
    lists = rederived["references"].combine_chunks()
    references = pc.list_flatten(lists)
    events = rederived["event_hash"].combine_chunks().take(pc.list_parent_indices(lists))
    return {
        "event_hash": events.to_numpy().astype(np.uint64, copy=False),
        "object_hash": _flat(rederived["hashes"]).astype(np.uint64, copy=False),
        "object_type": _flat(rederived["codes"]).astype(np.uint8, copy=False),
        # names as Arrow: a component read names each distinct object only (``_texts``)
        "object_type_name": references.field(0),
        "object_id": references.field(1),
    }


def _flat(lists: pa.ChunkedArray) -> npt.NDArray[Any]:
    return np.asarray(pc.list_flatten(lists.combine_chunks()).to_numpy())


def hop_neighbours(
    client: Client, steps: Collection[tuple[str, str, str]], until: datetime
) -> list[tuple[str, str, tuple[Pair, ...]]]:
    """The events of each ``steps``' event type that reference its object (type, id) as known
    at ``until``, with their type and references."""
    found = []
    ordered = sorted(steps)
    for first in range(0, len(ordered), MAX_LITERAL_OBJECTS):
        batch = ordered[first : first + MAX_LITERAL_OBJECTS]
        rows = client.query(
            HOP_NEIGHBOURS,
            parameters={
                **_pair_parameters([(t, i) for t, i, _ in batch]),
                "steps": batch,
                "until": until,
            },
        ).result_rows
        found += [
            (str(event_id), str(kind), tuple((str(t), str(i)) for t, i in refs))
            for event_id, kind, refs in rows
        ]
    return found


def latest_items(client: Client, keys: Collection[Pair]) -> pa.Table:
    """The latest stored version of every item among ``keys``: every column (``ITEM_COLUMNS``)
    and the hashes of the ``HASHED_ITEM_COLUMNS`` (``LATEST_ITEMS``); no column when none is
    an item's key."""
    wanted = sorted({key for key in keys if key[0] in ITEM_OBJECT_TYPES})
    if not wanted:
        return pa.table({})
    return client.query_arrow(LATEST_ITEMS, parameters={**_pair_parameters(wanted), "keys": wanted})


def item_hashes(table: pa.Table) -> dict[str, U64Array]:
    """The ``HASHED_ITEM_COLUMNS``' hashes of the items of a ``latest_items`` read."""
    return {
        name: np.asarray(table[f"{name}Hash"].to_numpy(), dtype=np.uint64)
        for name in HASHED_ITEM_COLUMNS
    }


MAX_LITERAL_OBJECTS = 2_000
"""Objects named in one index read: a frontier larger than this is read in several."""


_FRONTIER = (
    f"(ObjectType, ObjectId) GLOBAL IN (SELECT ObjectType, ObjectId FROM {STATE_COMPONENT_OBJECTS} "
    "WHERE Round = {round:UInt16}) AND IngestedAt <= {until:DateTime64(3, 'UTC')}"
)

EXPAND_EVENTS = f"""
INSERT INTO {STATE_COMPONENT_EVENTS} (EventId)
SELECT DISTINCT EventId FROM biz_event_objects
WHERE {_FRONTIER}
"""
EXPAND_OBJECTS = f"""
INSERT INTO {STATE_COMPONENT_OBJECTS} (Round, ObjectType, ObjectId)
SELECT DISTINCT {{round:UInt16}} + 1, ref.type, ref.id
FROM biz_event_objects ARRAY JOIN ObjectRefs AS ref
WHERE {_FRONTIER} AND ref.type NOT IN ({_DIMENSIONS})
  AND (ref.type, ref.id) GLOBAL NOT IN (SELECT ObjectType, ObjectId FROM {STATE_COMPONENT_OBJECTS})
"""
"""One expansion round, in the engine: the events with an object row (their attempts carry the
event's references, migration 4) naming an object the last round reached, and every
non-dimension object those rows reference that no round has reached yet (the next frontier).
Index reads of the business tables by the frontier; nothing passes through Python."""

FOUND_EVENTS = f"SELECT uniqExact(EventId) FROM {STATE_COMPONENT_EVENTS}"

EXPANDED = f"""
SELECT (SELECT count() FROM {STATE_COMPONENT_OBJECTS} WHERE Round = {{round:UInt16}} + 1),
       (SELECT uniqExact(EventId) FROM {STATE_COMPONENT_EVENTS})
"""
COMPONENT_EVENT_IDS = f"SELECT DISTINCT EventId FROM {STATE_COMPONENT_EVENTS}"


@dataclass(frozen=True)
class Closure:
    """The components ``component`` closed into the scratch tables."""

    event_ids: set[str]
    """Their event ids (empty when not asked for)."""
    at_seeds: bool
    """Closed at the first round: the components' events are the seeds, nothing else."""


def component(
    client: Client,
    objects: ObjectColumns,
    until: datetime,
    *,
    max_rounds: int,
    max_events: int | None = None,
    seeds: pa.Array | None = None,
    event_ids: bool = True,
) -> Closure | None:
    """Close the components of ``objects`` (their types and ids, in columns; connected through
    non-dimension references) as known at ``until`` in the engine, into the component scratch
    tables (migrations 19 and 26), for the reads ``named``: expanded until no new object appears or
    ``max_rounds`` rounds were made. Their event ids; None as soon as more than ``max_events``
    events are found (a share of the graph a scan of it serves better); an empty set when the
    ids are not asked for (``event_ids``: tens of thousands of strings under steady ingest).

    ``seeds``: events whose every counted reference (the references of the first stored version
    of each of their spans, known at ``until``) is among ``objects``, as ``CHANGED_STATES``
    reads them. When the first round finds no event but those, the components are closed there:
    the seeds' references are the objects already, and nothing else references them. (The rows of
    a conflicting later version of a seed's span, which could name other objects, are not
    followed then; no derivation reads them: ``slas.queries``' component reads take the first
    stored version.) Under steady ingest of new work this is every tick, and the first round's
    read of the seeds' references from their object rows is skipped."""
    for table in (STATE_COMPONENT_EVENTS, STATE_COMPONENT_OBJECTS):
        client.command(f"TRUNCATE TABLE IF EXISTS {table}")
    types, ids = objects
    insert_columns(
        client, STATE_COMPONENT_OBJECTS, {"Round": 0, "ObjectType": types, "ObjectId": ids}
    )
    if seeds is not None:
        insert_columns(client, STATE_COMPONENT_EVENTS, {"EventId": seeds})
    at_seeds = False
    for number in range(max_rounds):
        parameters = {"round": number, "until": until}
        client.command(EXPAND_EVENTS, parameters=parameters)
        if number == 0 and seeds is not None and len(seeds):
            found = int(client.query(FOUND_EVENTS).result_rows[0][0])
            if found == len(seeds):  # no event but the seeds: closed
                if max_events is not None and found > max_events:
                    return None
                at_seeds = True
                break
        client.command(EXPAND_OBJECTS, parameters=parameters)
        new_objects, events = client.query(EXPANDED, parameters=parameters).result_rows[0]
        if max_events is not None and int(events) > max_events:
            return None
        if not new_objects:
            break
    if not event_ids:
        return Closure(set(), at_seeds)
    ids = {str(row[0]) for row in client.query(COMPONENT_EVENT_IDS).result_rows}
    return Closure(ids, at_seeds)


def event_rows(client: Client) -> int:
    """How many event rows the business tables hold (from the parts' metadata: no scan)."""
    return int(client.query("SELECT count() FROM biz_events").result_rows[0][0])


STAGE_RANGE_ROWS = 100_000
"""Event rows one staging read covers at most (about): what the engine aggregates at once. Its
memory grows with the events it aggregates (at 10M spans the process peaked at 3.6 GiB with
ranges of 2M rows, 1.7 GiB with 400,000, 1.3 GiB with 200,000). At 200,000 the staging still set
the rebuild's peak at 10M, 1,350-1,450 MiB against 1,050-1,100 for a chunk's derivation: at
100,000 it stays under the chunks' (1,140 MiB), for a few CPU-seconds more, each statement's join
streaming every chunked event's hash (benchmarks/history/rebuild.md, "Rebuild, fourth pass")."""


def _stop_merges(client: Client, table: str) -> None:
    """The staging is read a chunk at a time, then emptied: merging its parts is work nothing
    reads. A server user without the ``SYSTEM MERGES`` grant leaves them merging (CPU only)."""
    try:
        client.command(f"SYSTEM STOP MERGES {table}")
    except DatabaseError as error:
        logger.info("merges of %s left running: %s", table, str(error).splitlines()[0])


def _write_chunks(client: Client, groups: Sequence[U64Array], known_at: datetime) -> None:
    """Replace ``syncsight_state_chunks`` with ``groups`` of event hashes, numbered from 0, and
    stage the chunks' events and references as known at ``known_at`` (``STAGED_EVENTS``)."""
    client.command(f"TRUNCATE TABLE IF EXISTS {STATE_CHUNKS}")
    sizes = [len(group) for group in groups]
    if sum(sizes):
        insert_columns(
            client,
            STATE_CHUNKS,
            {
                "Chunk": np.repeat(np.arange(len(groups), dtype=np.uint32), sizes),
                "EventHash": np.concatenate(groups).astype(np.uint64, copy=False),
            },
        )
    parameters = code_tables((), ())[2]  # the events are coded from their names when read
    parameters["known_at"] = known_at
    ranges = _event_ranges(client, event_rows(client)) if sum(sizes) else []
    for table, read in ((STAGED_EVENTS, STAGE_EVENTS), (STAGED_REFERENCES, STAGE_REFERENCES)):
        client.command(
            f"CREATE OR REPLACE TABLE {table} ENGINE = MergeTree ORDER BY chunk EMPTY AS {read}",
            parameters={**parameters, "low": "", "high": ""},
        )
        _stop_merges(client, table)
        for low, high in ranges:
            client.command(
                f"INSERT INTO {table} {read}", parameters={**parameters, "low": low, "high": high}
            )


def clear_staging(client: Client) -> None:
    """Empty the staging once its chunks are derived: it holds a copy of every staged event's
    snapshot columns, which nothing reads until the next derivation replaces it."""
    for table in (STAGED_EVENTS, STAGED_REFERENCES):
        client.command(f"TRUNCATE TABLE IF EXISTS {table}")


def _event_ranges(client: Client, rows: int) -> list[tuple[str, str]]:
    """Ranges of event ids (low inclusive, high exclusive, '' for none) that split the event rows
    into parts of about ``STAGE_RANGE_ROWS``."""
    parts = -(-rows // STAGE_RANGE_ROWS)
    if parts <= 1:
        return [("", "")]
    sample = client.query(EVENT_ID_SAMPLE, parameters={"size": 100 * parts}).result_rows[0][0]
    bounds = sorted({str(sample[len(sample) * part // parts]) for part in range(1, parts)})
    return list(zip(["", *bounds], [*bounds, ""], strict=True))


def _graph_pieces(client: Client, until: datetime) -> Iterator[tuple[U64Array, U64Array]]:
    """The references of the whole graph known at ``until``, in pieces of whole objects (ranges
    of ``biz_event_objects``' sorting key of about ``GRAPH_PIECE_ROWS`` rows), each as its event
    and object hashes."""
    rows = int(client.query(f"SELECT count() FROM {BIZ_EVENT_OBJECTS}").result_rows[0][0])
    parts = -(-rows // GRAPH_PIECE_ROWS)
    sample = []
    if parts > 1:
        found = client.query(GRAPH_OBJECT_SAMPLE, parameters={"size": 100 * parts})
        sample = [(str(t), str(i)) for t, i in found.result_rows[0][0]]
    for key_range in split(sample, parts):
        piece = client.query_np(
            GRAPH_REFERENCES, parameters={"until": until, **range_parameters(key_range)}
        )
        if len(piece):
            # two columns of one type come back as a plain 2-D array, not a structured one
            yield (
                np.asarray(piece[:, 0], dtype=np.uint64),
                np.asarray(piece[:, 1], dtype=np.uint64),
            )


def graph_chunks(
    client: Client,
    since: datetime,
    until: datetime,
    *,
    max_events: int,
    everything: bool,
    changed_only: bool = True,
) -> tuple[int, int]:
    """Put the event hashes of the components touched by rows stored in the window (all of them
    when ``everything``) into ``syncsight_state_chunks``, in chunks of whole components of at most
    ``max_events`` events each; the number of chunks, and of objects the window touched."""
    touched_objects = None
    if not everything:
        touched_objects = np.sort(
            np.asarray(
                client.query_np(
                    TOUCHED_HASHES if changed_only else TOUCHED_HASHES_BY_NEW_SPANS,
                    parameters=_touched_parameters(since, until),
                ),
                dtype=np.uint64,
            ).reshape(-1)
        )
    graph = reference_graph(_graph_pieces(client, until), touched_objects)
    if not len(graph.events):
        _write_chunks(client, [], until)
        return 0, 0
    labels = component_labels(graph)
    touched_count = graph.objects if touched_objects is None else len(touched_objects)
    if touched_objects is not None:
        wanted = np.isin(labels, labels[graph.touched])
        events, labels = graph.events[wanted], labels[wanted]
    else:
        events = graph.events
    del graph  # the references are not held while the chunks are staged
    groups = [events[group] for group in chunks(labels, max_events)]
    del events, labels
    _write_chunks(client, groups, until)
    return len(groups), touched_count


def load_component(
    client: Client,
    known_at: datetime,
    *,
    event_ids: Collection[str] | None = None,
    chunk: int | None = None,
    named: bool = False,
    references: dict[str, Any] | None = None,
) -> tuple[EventSnapshot, SnapshotNames]:
    """The snapshot of some components' events as known at ``known_at``, with the ids behind its
    hashes: named by their event ids (index reads; their references read from the events' own
    rows), by the component scratch tables (``named``:
    index reads, ``component``), or by a chunk of ``syncsight_state_chunks`` (a range of the
    staging ``graph_chunks`` wrote). ``references``: the events' references, known already (a closure stopped at its
    seeds: ``WindowChanges.seed_references``), not read again.

    Read as Arrow: numbers become numpy arrays without a copy, and texts stay Arrow until named
    (an object's type and id once per distinct object, not once per reference), so that no Python
    object is made per row while the engine's answer is decoded."""
    by_hash = chunk is not None
    ids = sorted(event_ids or ())
    if not ids and not by_hash and not named:
        return empty_snapshot(0), SnapshotNames({}, {}, {})
    selection: dict[str, Any] = {"chunk": chunk} if by_hash else {} if named else {"event_ids": ids}
    parameters = code_tables((), ())[2]  # the events are coded from their names below
    parameters.update(selection, known_at=known_at)
    events = _columns(
        client.query_arrow(
            CHUNK_EVENTS if by_hash else NAMED_EVENTS if named else COMPONENT_EVENTS,
            parameters=parameters,
        )
    )
    hashes = np.asarray(events["event_hash"], dtype=np.uint64)
    if not len(hashes):
        return empty_snapshot(0), SnapshotNames({}, {}, {})
    legal_entities, currency_codes = coded_names(events)
    if references is None:
        references = _read_references(client, by_hash=by_hash, named=named, parameters=parameters)
    snapshot = EventSnapshot.from_arrays(
        0, events, references, legal_entities=legal_entities, currencies=currency_codes
    )
    # an object is referenced by many events, a customer by many events: name each once
    object_hashes = np.asarray(references["object_hash"], dtype=np.uint64)
    _, distinct = np.unique(object_hashes, return_index=True)
    customers = np.asarray(events["customer"], dtype=np.uint64)
    _, customer_rows = np.unique(customers, return_index=True)
    names = SnapshotNames(
        events=dict(zip(hashes.tolist(), _texts(events["event_id"]), strict=True)),
        objects=ObjectNames(
            object_hashes[distinct].tolist(),
            _texts(references["object_type_name"], distinct),
            _texts(references["object_id"], distinct),
        ),
        customers=dict(
            zip(
                customers[customer_rows].tolist(),
                _texts(events["customer_id"], customer_rows),
                strict=True,
            )
        ),
        failures=_failures(events),
    )
    return snapshot, names


class ObjectNames(Mapping[int, tuple[str, str]]):
    """Object hash → (type, id), as ``SnapshotNames.objects``: held as an index and two lists of
    texts, a pair made only when looked up. A component names tens of thousands of objects, and
    a dictionary of as many pairs was a sixth of a tick's Python: tuples are what the garbage
    collector walks and frees, texts and integers are not."""

    def __init__(self, hashes: list[int], types: list[str], ids: list[str]) -> None:
        self._at = dict(zip(hashes, range(len(hashes)), strict=True))
        self._types, self._ids = types, ids

    def __getitem__(self, key: int) -> tuple[str, str]:
        at = self._at[key]
        return self._types[at], self._ids[at]

    def get(self, key: int, default: Any = None) -> Any:
        at = self._at.get(key)
        return default if at is None else (self._types[at], self._ids[at])

    def __iter__(self) -> Iterator[int]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


def _columns(table: pa.Table) -> dict[str, Any]:
    """A read's columns by name: numbers as numpy arrays, texts as Arrow arrays."""
    columns: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        array = column.combine_chunks()
        numeric = pa.types.is_integer(array.type) or pa.types.is_floating(array.type)
        columns[name] = array.to_numpy(zero_copy_only=False) if numeric else array
    return columns


def _texts(
    column: npt.NDArray[Any] | pa.Array, rows: npt.NDArray[np.intp] | None = None
) -> list[str]:
    """The texts of a column read as numpy (objects) or given as Arrow, at ``rows`` (all when
    None)."""
    if isinstance(column, pa.Array):
        taken = column if rows is None else column.take(pa.array(rows))
        return cast(list[str], taken.to_pylist())
    return [str(text) for text in (column if rows is None else column[rows]).tolist()]


def _read_references(
    client: Client, *, by_hash: bool, named: bool, parameters: dict[str, Any]
) -> dict[str, Any]:
    """``load_component``'s read of its events' references."""
    return _columns(
        client.query_arrow(
            CHUNK_REFERENCES if by_hash else NAMED_REFERENCES if named else EVENT_REFERENCES,
            parameters=parameters,
        )
    )


def _failures(events: dict[str, Any]) -> dict[int, tuple[str, str, int]]:
    """``SnapshotNames.failures`` of a component read's events."""
    since = np.asarray(events["error_since_us"], dtype=np.int64)
    failed = np.flatnonzero(since >= 0)
    return dict(
        zip(
            np.asarray(events["event_hash"], dtype=np.uint64)[failed].tolist(),
            zip(
                _texts(events["error_category"], failed),
                _texts(events["error_code"], failed),
                since[failed].tolist(),
                strict=True,
            ),
            strict=True,
        )
    )


@dataclass(frozen=True, eq=False)
class StoredVersions:
    """The latest stored version of some timers or items, in columns: identity hashes (a timer's
    as ``slas.timer_rows.timer_identities`` spells them, an item's its object's
    ``cityHash64``), whether deleted, the digest, and the ids."""

    identity: U64Array
    deleted: npt.NDArray[np.bool_]
    digest: U64Array
    ids: pa.Table
    """The identity's ids as Arrow texts (named only where needed): a timer's key type, key id,
    SLA and start event id, an item's type and id."""

    def __len__(self) -> int:
        return len(self.identity)

    def named(self, rows: npt.NDArray[np.intp]) -> list[tuple[str, ...]]:
        """The ids of the versions at ``rows``."""
        if not len(rows):
            return []
        taken = self.ids.take(pa.array(rows, type=pa.int64()))
        ids = zip(*(column.to_pylist() for column in taken.columns), strict=True)
        return cast(list[tuple[str, ...]], list(ids))

    @staticmethod
    def none(ids: Sequence[str]) -> StoredVersions:
        """None stored (``ids``: the names of the identity's ids)."""
        empty = np.zeros(0, np.uint64)
        texts = pa.table({name: pa.array([], type=pa.string()) for name in ids})
        return StoredVersions(empty, np.zeros(0, bool), empty, texts)


TIMER_IDS = ("key_type", "key_id", "sla", "start_event_id")
ITEM_IDS = ("item_type", "item_id")


STORED_VERSIONS = f"""
SELECT (SELECT count() FROM {SLA_TIMERS}) + (SELECT count() FROM {CLOSE_ITEMS})
    + (SELECT count() FROM {EVENT_DIMENSIONS})
"""


def versions_stored(client: Client) -> bool:
    """Whether the state tables hold any version (counts from the parts' metadata: no scan). When
    none does, a derivation has no latest version to compare with and reads none."""
    return int(client.query(STORED_VERSIONS).result_rows[0][0]) > 0


def _latest(
    client: Client, reads: tuple[str, str], chunk: int | None, key: str, key_hashes: U64Array
) -> pa.Table | None:
    """The latest versions ``reads`` (of the named components', of a chunk's) read for ``chunk``
    (the named components when None), kept where the ``key`` column is one of ``key_hashes``
    (sorted); None when none is."""
    if not len(key_hashes):
        return None
    named, of_chunk = reads
    table = (
        client.query_arrow(named)
        if chunk is None
        else client.query_arrow(of_chunk, parameters={"chunk": chunk})
    )
    keys = np.asarray(table[key].to_numpy(), dtype=np.uint64)
    kept = sorted_members(keys, key_hashes)
    return table.filter(pa.array(kept)) if kept.any() else None


def latest_digests(client: Client, key_hashes: U64Array, *, chunk: int | None) -> StoredVersions:
    """The latest stored version of every timer keyed by an object of ``chunk`` (of the
    component ``component`` closed when None) whose ``cityHash64`` is one of ``key_hashes``
    (sorted)."""
    reads = (LATEST_DIGESTS_OF_NAMED, LATEST_DIGESTS_OF_CHUNK)
    table = _latest(client, reads, chunk, "key_hash", key_hashes)
    if table is None:
        return StoredVersions.none(TIMER_IDS)
    found = _columns(table)
    return StoredVersions(
        identity=timer_identities(
            np.asarray(found["key_hash"], dtype=np.uint64),
            text_hashes(found["sla"]),
            np.asarray(found["event_hash"], dtype=np.uint64),
        ),
        deleted=np.asarray(found["deleted"]).astype(bool),
        digest=np.asarray(found["digest"], dtype=np.uint64),
        ids=table.select(list(TIMER_IDS)),
    )


def latest_item_digests(
    client: Client, key_hashes: U64Array, *, chunk: int | None
) -> StoredVersions:
    """The latest stored version of every item of an object of ``chunk`` (of the component
    ``component`` closed when None) whose ``cityHash64`` is one of ``key_hashes`` (sorted)."""
    reads = (LATEST_ITEM_DIGESTS_OF_NAMED, LATEST_ITEM_DIGESTS_OF_CHUNK)
    table = _latest(client, reads, chunk, "identity", key_hashes)
    if table is None:
        return StoredVersions.none(ITEM_IDS)
    found = _columns(table.select(["identity", "deleted", "digest"]))
    return StoredVersions(
        identity=np.asarray(found["identity"], dtype=np.uint64),
        deleted=np.asarray(found["deleted"]).astype(bool),
        digest=np.asarray(found["digest"], dtype=np.uint64),
        ids=table.select(list(ITEM_IDS)),
    )


def unresolved_events(
    client: Client, since: datetime, until: datetime, setup_types: Sequence[str]
) -> tuple[int, list[str], bool]:
    """How many events stored in the window cannot be keyed, up to ten of their ids, and whether
    any event of the window has rows stored before it (none before a window from the epoch)."""
    rows = client.query(
        UNRESOLVED_FROM_SCRATCH if since.timestamp() <= 0 else UNRESOLVED,
        parameters={"since": since, "until": until, "setup_types": list(setup_types)},
    ).result_rows
    count, sample, stored_before = rows[0] if rows else (0, [], True)
    return int(count), sorted(str(event_id) for event_id in sample), bool(stored_before)


def window_rows(client: Client, start: datetime, ends: Sequence[datetime]) -> list[int]:
    """The business rows visible now in each window (start, ends[0]], (ends[0], ends[1]], …"""
    if not ends:
        return []
    rows = client.query(
        WINDOW_ROWS, parameters={"start": start, "end": ends[-1], "ends": list(ends)}
    ).result_rows
    counts = {int(number): int(count) for number, count in rows}
    return [int(counts.get(number, 0)) for number in range(1, len(ends) + 1)]
