"""The SQL of the OCEL 2.0 period export (``lineage.ocel_log``): the next page of event ids, and
the page's events assembled by the engine, one row each, named by their id range (no id list is
sent)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from domain import semconv as sc
from warehouse.counted_attempt import COUNTED_ATTEMPT
from warehouse.first_stored import first_stored_events

_OF_PERIOD = """IngestedAt <= {known_at:DateTime64(3, 'UTC')}
  AND (empty({period:String}) OR Period = {period:String}
       OR (Period = '' AND toYYYYMM(EventTime) = toUInt32OrZero(replaceOne({period:String}, '-', ''))))"""

PERIOD_EVENT_IDS = f"""
SELECT EventId
FROM biz_events
WHERE EventId > {{after:String}} AND {_OF_PERIOD}
ORDER BY EventId
LIMIT {{limit:UInt32}}
"""
"""The next ``limit`` attempts' event ids after ``after``, in the table's key order (the read
stops once it has them: a page costs its own rows, four times less than ``DISTINCT``), of events
with an attempt of ``period`` (its own, else its UTC month; every event when empty), as known at
``known_at``. A superset: an event whose own period is another but that has an attempt without
one in the month is narrowed by ``PAGE_EVENTS``."""

_ATTEMPT_ORDER = "(EventTime, Attempt, SpanId)"
"""The order of an event's attempts (``lineage.graph.group_attempts``): the latest is the last."""

_EVENT_FACTS = f"""
    EventId,
    argMax(EventType, {_ATTEMPT_ORDER}) AS event_type,
    argMax(Outcome, {_ATTEMPT_ORDER}) AS outcome,
    min(EventTime) AS first_time,
    if(outcome = '{sc.SUCCESS}', argMax(EventTime, {COUNTED_ATTEMPT}),
       argMax(EventTime, {_ATTEMPT_ORDER})) AS time,
    argMax(SourceSystem, {COUNTED_ATTEMPT}) AS source_system,
    argMax(TargetSystem, {COUNTED_ATTEMPT}) AS target_system,
    argMax(tuple(Amount), {COUNTED_ATTEMPT}).1 AS amount,
    argMax(Currency, {COUNTED_ATTEMPT}) AS currency,
    argMax(Period, {COUNTED_ATTEMPT}) AS period,
    argMax(TraceId, {COUNTED_ATTEMPT}) AS trace_id,
    argMax(SpanId, {COUNTED_ATTEMPT}) AS span_id,
    count() AS attempts,
    uniqExact(TraceId) - 1 AS replays,
    argMaxIf(ErrorCategory, {_ATTEMPT_ORDER}, Outcome != '{sc.SUCCESS}' AND ErrorCategory != '')
        AS error_category,
    argMinIf(LegalEntity, {_ATTEMPT_ORDER}, LegalEntity != '') AS legal_entity,
    arrayFlatten(arrayMap(a -> a.2, arraySort(a -> a.1, groupArray(
        ({_ATTEMPT_ORDER}, arrayMap(r -> (r.type, r.id), ObjectRefs)))))) AS refs,
    argMinIf(Period, {_ATTEMPT_ORDER}, Period != '') AS own_period"""
"""An event assembled from the first stored version of each of its attempts (grouped by
``EventId``) as a lineage node shows it (``lineage.graph.EventNode``): type and outcome of the
latest attempt; time, systems, amount, currency, period, trace and span of the counted attempt
(warehouse/counted_attempt.py); attempts, replays, the latest failure's category, the first legal
entity and period named; the object references of every attempt in attempt order."""

_ATTEMPT_COLUMNS = (
    "EventId, EventType, EventTime, SourceSystem, TargetSystem, Outcome, Attempt, Amount,"
    " Currency, Period, LegalEntity, ErrorCategory, TraceId, SpanId, ObjectRefs"
)


def _assembled(where: str) -> str:
    """The events (``_EVENT_FACTS``) of the attempts ``where`` selects (by identity and
    knowledge time: ``warehouse.first_stored.first_stored_events``)."""
    return f"(SELECT {_EVENT_FACTS} FROM {first_stored_events(where, _ATTEMPT_COLUMNS)} GROUP BY EventId)"


PAGE_EVENTS = f"""
SELECT EventId, event_type, outcome, first_time, time, source_system, target_system, amount,
    currency, period, trace_id, span_id, attempts, replays, error_category, legal_entity, refs,
    empty({{period:String}}) OR if(own_period != '', own_period,
        formatDateTime(first_time, '%Y-%m', 'UTC')) = {{period:String}}
FROM {
    _assembled(
        "EventId > {after:String} AND EventId <= {last:String}"
        " AND IngestedAt <= {known_at:DateTime64(3, 'UTC')}"
        " AND EventId IN (SELECT EventId FROM biz_events WHERE EventId > {after:String}"
        f" AND EventId <= {{last:String}} AND {_OF_PERIOD})"
    )
}
ORDER BY EventId
"""
"""The events of a page (those of ``PERIOD_EVENT_IDS`` after ``after`` up to ``last``, a key
range), one row each (``_EVENT_FACTS``), and whether the event is of ``period`` (the first period
its attempts name, else its first attempt's UTC month)."""


def json_pairs(parameter: str) -> str:
    """A subquery of the (type, id) pairs bound as one String ``parameter``
    (``pairs_parameter``): an id list sent as one value, not bound element by element."""
    return (
        "(SELECT arrayJoin(arrayFlatten(arrayMap((t, ids) -> arrayMap(i -> (t, i), ids),"
        f" mapKeys(m), mapValues(m)))) FROM (SELECT JSONExtract({{{parameter}:String}},"
        " 'Map(String, Array(String))') AS m))"
    )


def pairs_parameter(pairs: Iterable[tuple[str, str]]) -> str:
    """(type, id) pairs as ``json_pairs`` reads them: a JSON object of the ids of each type."""
    grouped: dict[str, list[str]] = {}
    for object_type, object_id in pairs:
        grouped.setdefault(object_type, []).append(object_id)
    return json.dumps(grouped)


def json_strings(parameter: str) -> str:
    """A subquery of the strings a JSON array bound as one String ``parameter`` holds."""
    return f"(SELECT arrayJoin(JSONExtract({{{parameter}:String}}, 'Array(String)')))"


_PRODUCING = f"""biz_event_objects
    WHERE (ObjectType, ObjectId) IN {json_pairs("refs")}
      AND (ObjectType, EventType) IN {{producers:Array(Tuple(String, String))}}
      AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}"""

PRODUCERS = f"""
SELECT o.ObjectType, o.ObjectId,
    argMin((e.amount, e.currency, e.legal_entity,
            arrayFirst(r -> r.1 = '{sc.CUSTOMER}', e.refs).2, e.outcome),
           (e.first_time, e.EventId))
FROM (SELECT DISTINCT ObjectType, ObjectId, EventId FROM {_PRODUCING}) AS o
INNER JOIN {
    _assembled(
        f"EventId IN (SELECT EventId FROM {_PRODUCING})"
        " AND IngestedAt <= {known_at:DateTime64(3, 'UTC')}"
    )
} AS e ON e.EventId = o.EventId
WHERE (o.ObjectType, e.event_type) IN {{producers:Array(Tuple(String, String))}}
  AND has(e.refs, (o.ObjectType, o.ObjectId))
GROUP BY o.ObjectType, o.ObjectId
"""
"""Each of the objects ``refs`` (a JSON array of [type, id]) that an event of one of its
``producers`` (object type, event type) carries, with the first such event's facts (by first
attempt, then id): counted amount and currency, own legal entity and customer, outcome."""
