"""The SQL of the SLA feature: the event snapshot an evaluation reads, and hash → id look-ups.

Event reads take the first stored version of each span (warehouse/first_stored.py: a redelivered
span counts once, a conflicting re-send not at all); object reads use ``FINAL`` and aggregates
insensitive to duplicates (min, any, exists), so an unmerged part could not change a result.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from slas.business_time import epoch_microseconds
from slas.snapshot import EventSnapshot, empty_snapshot
from warehouse.counted_attempt import ATTEMPT_ORDER, COUNTED_ATTEMPT, FAILING_SINCE, LATEST_ERROR
from warehouse.first_stored import first_stored_events
from warehouse.schema import STATE_COMPONENT_EVENTS, STATE_COMPONENT_OBJECTS

_SUCCESS = f"'{sc.SUCCESS}'"
_DIMENSIONS = ", ".join(f"'{t}'" for t in sc.DIMENSION_OBJECT_TYPES)
_AS_OF = "{as_of:DateTime64(9, 'UTC')}"

_FIRST_STORED = first_stored_events("1")

SNAPSHOT_DIMENSIONS = f"""
SELECT groupUniqArray(LegalEntity), groupUniqArray(Currency)
FROM {_FIRST_STORED}
WHERE EventTime <= {_AS_OF}
"""


_SNAPSHOT_EVENT_COLUMNS = f"""
    cityHash64(EventId) AS event_hash,
    toUInt8(indexOf({{event_types:Array(String)}}, any(EventType))) AS event_type,
    toUInt8(countIf(Outcome = {_SUCCESS}) > 0) AS took_effect,
    toUInt8(argMax(Outcome, {ATTEMPT_ORDER}) != {_SUCCESS}) AS failed,
    toUnixTimestamp64Micro(minIf(EventTime, Outcome = {_SUCCESS})) AS effective_us,
    toUInt32OrZero(replaceOne(argMinIf(Period, EventTime, Outcome = {_SUCCESS}), '-', ''))
        AS effective_period,
    toUnixTimestamp64Micro(min(EventTime)) AS first_us,
    if(NOT failed, toInt64(-1), toUnixTimestamp64Micro({FAILING_SINCE})) AS failing_since_us,
    toUInt32OrZero(replaceOne(argMin(Period, EventTime), '-', '')) AS first_period,
    toUInt16(indexOf({{legal_entities:Array(String)}}, anyIf(LegalEntity, LegalEntity != '')))
        AS legal_entity,
    if(anyIf(Customer, Customer != '') = '', toUInt64(0), cityHash64(anyIf(Customer, Customer != '')))
        AS customer,
    toFloat64(ifNull(argMax(Amount, {COUNTED_ATTEMPT}), nan)) AS amount,
    toInt64(ifNull(argMax(Amount, {COUNTED_ATTEMPT}), 0) * 10000) AS amount_units,
    toUInt16(indexOf({{currencies:Array(String)}}, argMax(Currency, {COUNTED_ATTEMPT}))) AS currency"""

SNAPSHOT_EVENTS = f"""
SELECT {_SNAPSHOT_EVENT_COLUMNS}
FROM {_FIRST_STORED}
WHERE EventTime <= {_AS_OF}
GROUP BY EventId
"""

SNAPSHOT_REFERENCES = f"""
SELECT
    cityHash64(EventId) AS event_hash,
    cityHash64(ObjectType, ObjectId) AS object_hash,
    toUInt8(indexOf({{object_types:Array(String)}}, ObjectType)) AS object_type
FROM biz_event_objects FINAL
WHERE EventTime <= {_AS_OF} AND ObjectType NOT IN ({_DIMENSIONS})
"""

_KNOWN_AT = "{known_at:DateTime64(3, 'UTC')}"

_BY_EVENT_ID = "EventId IN {event_ids:Array(String)}"


_NAMES = f"""EventId AS event_id,
    anyIf(Customer, Customer != '') AS customer_id,
    anyIf(LegalEntity, LegalEntity != '') AS legal_entity_name,
    argMax(Currency, {COUNTED_ATTEMPT}) AS currency_name"""
"""The names behind an event's hashes and codes: a component read codes them itself
(``coded_names``), so that no read of the code tables comes first."""


_FAILED = f"Outcome != {_SUCCESS}"
_LAST_ERROR = f"argMaxIf((ErrorCategory, ErrorCode), {ATTEMPT_ORDER}, {_FAILED})"
_ATTEMPTS = f"""groupArray(toUnixTimestamp64Micro(EventTime)),
        groupArray({_FAILED}), groupArray((ErrorCategory, ErrorCode))"""
_FAILURE = f"""{_LAST_ERROR}.1 AS error_category, {_LAST_ERROR}.2 AS error_code,
    if(countIf({_FAILED}) = 0, toInt64(-1), arrayMin(arrayFilter((t, failed) -> failed
        AND t > arrayMax(arrayConcat([toInt64(-1)], arrayFilter((at, bad, error) ->
            at < toUnixTimestamp64Micro(maxIf(EventTime, {_FAILED}))
            AND (NOT bad OR error != {_LAST_ERROR}), {_ATTEMPTS}))),
        groupArray(toUnixTimestamp64Micro(EventTime)), groupArray({_FAILED}))))
        AS error_since_us"""
"""The error of an event's latest failed attempt and since when its failures have had it: the
first failed attempt after the latest attempt, before that one, that succeeded or failed
otherwise (-1 for an event that never failed). At any instant from then on at which the event is
failing, its latest attempt so far has that error (``slas.item_rows``' ``*_error_*`` fields)."""


def component_events(where: str) -> str:
    """The snapshot columns, names and failure facts of the events ``where`` selects (by
    ``EventId`` and knowledge time only, as ``first_stored_events`` asks), as known at
    ``known_at``: one row per event."""
    return f"""
SELECT {_SNAPSHOT_EVENT_COLUMNS}, {_NAMES}, {_FAILURE}
FROM {first_stored_events(f"{where} AND IngestedAt <= {_KNOWN_AT}")}
GROUP BY EventId
"""


def coded_names(events: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Code the legal entity and currency of events read with empty code tables from their names
    (``_NAMES``, Arrow texts), in place, as ``code_tables`` spells codes (sorted, 1-based, 0 for
    none); the two tables."""
    tables = []
    for code, name in (("legal_entity", "legal_entity_name"), ("currency", "currency_name")):
        names = events[name]
        table = tuple(sorted(str(n) for n in pc.unique(names).to_pylist() if n))
        found = pc.index_in(names, value_set=pa.array(table, type=pa.string()))
        events[code] = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False)) + 1
        tables.append(table)
    return tables[0], tables[1]


OUTCOME_COLUMNS = ("failed", "failing_since_us", "error_category", "error_code", "error_since_us")
"""The columns that say only how an event's attempts stand (whether its latest attempt failed,
since when it has been failing, and the error of its failures): no timer reads them, and an item
reads them only through its root cause and the failure facts of its own steps
(``slas.cause_refresh``)."""


def event_states(where: str) -> str:
    """Per event ``where`` selects (by ``EventId`` and knowledge time only, as
    ``first_stored_events`` asks) and per bound, ``since`` and ``until`` (``DateTime64(3)``
    parameters), a hash of everything a derivation reads of the event as known at that bound: its
    snapshot columns, the names behind its codes (the code tables may be empty: the names count)
    and its references. An event whose hash is the same at both derives the same timers and items
    at both. ``shape`` hashes the same without ``OUTCOME_COLUMNS``: an event whose ``shape`` is the
    same at both bounds changed only how its attempts stand. With its event type code and its
    references (object type, id pairs, dimensions left out). One read of the rows for both bounds
    (the first stored version of a span is the same at both when it is known at the first)."""
    rows = first_stored_events(f"{where} AND IngestedAt <= {{until:DateTime64(3, 'UTC')}}")
    outcome = ", ".join(OUTCOME_COLUMNS)
    return f"""
SELECT event_id, bound, cityHash64(* EXCEPT (bound)) AS state,
    cityHash64(* EXCEPT (bound, {outcome})) AS shape, event_type,
    arrayMap(ref -> (ref.type, ref.id), refs) AS references FROM (
    SELECT {_SNAPSHOT_EVENT_COLUMNS}, {_NAMES}, {_FAILURE}, bound,
        arraySort(groupUniqArrayArray(
            arrayFilter(ref -> ref.type NOT IN ({_DIMENSIONS}), ObjectRefs))) AS refs
    FROM {rows}
    ARRAY JOIN [{{since:DateTime64(3, 'UTC')}}, {{until:DateTime64(3, 'UTC')}}] AS bound
    WHERE IngestedAt <= bound
    GROUP BY EventId, bound
)"""


def _component_references(where: str, events: str) -> str:
    """References of the events ``events`` selects, read where ``where`` says, each from the
    object rows of its span's first stored version (object rows carry their event row's
    knowledge time, so the first version's rows are the ones stored with it)."""
    first = first_stored_events(
        f"{events} AND IngestedAt <= {_KNOWN_AT}", "EventId, TraceId, SpanId, IngestedAt"
    )
    return f"""
SELECT
    cityHash64(EventId) AS event_hash,
    cityHash64(ObjectType, ObjectId) AS object_hash,
    toUInt8(indexOf({{object_types:Array(String)}}, ObjectType)) AS object_type,
    ObjectType AS object_type_name,
    ObjectId AS object_id
FROM biz_event_objects
WHERE {where} AND ObjectType NOT IN ({_DIMENSIONS}) AND IngestedAt <= {_KNOWN_AT}
  AND (EventId, TraceId, SpanId, IngestedAt) GLOBAL IN {first}
"""


COMPONENT_EVENTS = component_events(_BY_EVENT_ID)
"""The events of some components of the object graph as known at ``known_at``, every attempt in
its first stored version."""


def event_references(where: str) -> str:
    """The non-dimension references of the events ``where`` selects (as ``component_events``
    asks), read from their own rows: the first stored version of each span, the rows its object
    rows were derived from."""
    first = first_stored_events(
        f"{where} AND IngestedAt <= {_KNOWN_AT}", "EventId, TraceId, SpanId, ObjectRefs"
    )
    return f"""
SELECT
    cityHash64(EventId) AS event_hash,
    cityHash64(ref.type, ref.id) AS object_hash,
    toUInt8(indexOf({{object_types:Array(String)}}, ref.type)) AS object_type,
    ref.type AS object_type_name,
    ref.id AS object_id
FROM {first}
ARRAY JOIN ObjectRefs AS ref
WHERE ref.type NOT IN ({_DIMENSIONS})
"""


EVENT_REFERENCES = event_references(_BY_EVENT_ID)
"""The references of some events read from their own rows (the first stored version of each
span, the rows its object rows were derived from): for a few events whose objects are shared by
thousands of others (a project), where a read by object would read every one of those."""

_BY_NAMED_EVENT = f"EventId GLOBAL IN (SELECT EventId FROM {STATE_COMPONENT_EVENTS})"

NAMED_EVENTS = component_events(_BY_NAMED_EVENT)
NAMED_REFERENCES = _component_references(
    f"(ObjectType, ObjectId) GLOBAL IN (SELECT ObjectType, ObjectId FROM {STATE_COMPONENT_OBJECTS})",
    _BY_NAMED_EVENT,
)
"""The same for the components a tick closed in the component scratch tables
(``slas.state_queries.component``): by subqueries the ordered keys serve, however many events and
objects they hold."""

OBJECT_IDS = """
SELECT DISTINCT cityHash64(ObjectType, ObjectId) AS object_hash, ObjectType, ObjectId
FROM biz_event_objects FINAL
WHERE ObjectType IN {object_types:Array(String)}
  AND cityHash64(ObjectType, ObjectId) IN {hashes:Array(UInt64)}
"""

EVENT_IDS = """
SELECT DISTINCT cityHash64(EventId) AS event_hash, EventId
FROM biz_event_objects FINAL
WHERE cityHash64(EventId) IN {hashes:Array(UInt64)}
"""

EVENT_ERRORS = f"""
SELECT cityHash64(EventId) AS event_hash, {LATEST_ERROR}
FROM {first_stored_events("cityHash64(EventId) IN {hashes:Array(UInt64)}")}
WHERE EventTime <= {{as_of:DateTime64(9, 'UTC')}}
GROUP BY EventId
"""


def code_tables(
    entities: Iterable[str], currencies: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, Any]]:
    """The snapshot's code tables (legal entities and currencies, sorted, 1-based in the arrays)
    and the query parameters that spell every code the same way."""
    legal_entities = tuple(sorted(name for name in entities if name))
    currency_codes = tuple(sorted(code for code in currencies if code))
    parameters: dict[str, Any] = {
        "event_types": list(sc.EVENT_TYPES),
        "object_types": list(sc.OBJECT_TYPES),
        "legal_entities": list(legal_entities),
        "currencies": list(currency_codes),
    }
    return legal_entities, currency_codes, parameters


def load_snapshot(client: Client, as_of: datetime) -> EventSnapshot:
    """Every business event up to ``as_of`` and the objects it references."""
    as_of_us = epoch_microseconds(as_of)
    entities, currencies = client.query(
        SNAPSHOT_DIMENSIONS, parameters={"as_of": as_of}
    ).result_rows[0]
    legal_entities, currency_codes, parameters = code_tables(entities, currencies)
    parameters["as_of"] = as_of
    events = client.query_np(SNAPSHOT_EVENTS, parameters=parameters)
    if not len(events):
        return empty_snapshot(as_of_us)
    references = client.query_np(SNAPSHOT_REFERENCES, parameters=parameters)
    return EventSnapshot.from_arrays(
        as_of_us, events, references, legal_entities=legal_entities, currencies=currency_codes
    )


def customer_hashes(client: Client, customers: Iterable[str]) -> dict[str, int]:
    """The snapshot's spelling (``cityHash64``) of each customer id."""
    names = sorted(set(customers))
    if not names:
        return {}
    rows = client.query(
        "SELECT arrayMap(name -> cityHash64(name), {names:Array(String)})",
        parameters={"names": names},
    ).result_rows
    return dict(zip(names, (int(h) for h in rows[0][0]), strict=True))


def object_ids(
    client: Client, hashes: Iterable[int], object_types: Iterable[str]
) -> dict[int, tuple[str, str]]:
    """Object hash → (object type, object id) for the hashes asked for."""
    wanted = sorted({int(h) for h in hashes if h})
    if not wanted:
        return {}
    rows = client.query(
        OBJECT_IDS, parameters={"hashes": wanted, "object_types": sorted(set(object_types))}
    ).result_rows
    return {int(row[0]): (str(row[1]), str(row[2])) for row in rows}


def event_ids(client: Client, hashes: Iterable[int]) -> dict[int, str]:
    """Event hash → business event id for the hashes asked for."""
    wanted = sorted({int(h) for h in hashes if h})
    if not wanted:
        return {}
    rows = client.query(EVENT_IDS, parameters={"hashes": wanted}).result_rows
    return {int(row[0]): str(row[1]) for row in rows}


def event_errors(
    client: Client, hashes: Iterable[int], as_of: datetime
) -> dict[int, tuple[str, str]]:
    """Event hash → (error category, error code) of its latest attempt up to ``as_of``."""
    wanted = sorted({int(h) for h in hashes if h})
    if not wanted:
        return {}
    rows = client.query(EVENT_ERRORS, parameters={"hashes": wanted, "as_of": as_of}).result_rows
    return {int(row[0]): (str(row[1]), str(row[2])) for row in rows}
