"""The SQL of the OCEL 2.0 period export (``lineage.ocel_log``): the next page of event ids, and
the page's events assembled by the engine, one row each, named by their id range (no id list is
sent)."""

from __future__ import annotations

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

_PAGE_ATTEMPTS = first_stored_events(
    "EventId > {after:String} AND EventId <= {last:String}"
    " AND IngestedAt <= {known_at:DateTime64(3, 'UTC')}",
    "EventId, EventType, EventTime, SourceSystem, TargetSystem, Outcome, Attempt, Amount,"
    " Currency, Period, LegalEntity, ErrorCategory, TraceId, SpanId, ObjectRefs",
)

PAGE_EVENTS = f"""
SELECT
    EventId,
    argMax(EventType, {_ATTEMPT_ORDER}) AS event_type,
    argMax(Outcome, {_ATTEMPT_ORDER}) AS outcome,
    min(EventTime) AS first_time,
    if(outcome = '{sc.SUCCESS}', argMax(EventTime, {COUNTED_ATTEMPT}),
       argMax(EventTime, {_ATTEMPT_ORDER})) AS time,
    argMax(SourceSystem, {COUNTED_ATTEMPT}),
    argMax(TargetSystem, {COUNTED_ATTEMPT}),
    argMax(tuple(Amount), {COUNTED_ATTEMPT}).1,
    argMax(Currency, {COUNTED_ATTEMPT}),
    argMax(Period, {COUNTED_ATTEMPT}),
    argMax(TraceId, {COUNTED_ATTEMPT}),
    argMax(SpanId, {COUNTED_ATTEMPT}),
    count(),
    uniqExact(TraceId) - 1,
    argMaxIf(ErrorCategory, {_ATTEMPT_ORDER}, Outcome != '{sc.SUCCESS}' AND ErrorCategory != ''),
    argMinIf(LegalEntity, {_ATTEMPT_ORDER}, LegalEntity != ''),
    arrayFlatten(arrayMap(a -> a.2, arraySort(a -> a.1, groupArray(
        ({_ATTEMPT_ORDER}, arrayMap(r -> (r.type, r.id), ObjectRefs)))))),
    empty({{period:String}}) OR if(
        argMinIf(Period, {_ATTEMPT_ORDER}, Period != '') AS own_period != '',
        own_period, formatDateTime(first_time, '%Y-%m', 'UTC')) = {{period:String}}
FROM {_PAGE_ATTEMPTS}
WHERE EventId IN (
    SELECT EventId FROM biz_events
    WHERE EventId > {{after:String}} AND EventId <= {{last:String}} AND {_OF_PERIOD}
)
GROUP BY EventId
ORDER BY EventId
"""
"""The events of a page (those of ``PERIOD_EVENT_IDS`` after ``after`` up to ``last``, a key
range), one row each, assembled from the first stored version of each attempt as a lineage node
shows it (``lineage.graph.EventNode``): type and outcome of the latest attempt; time, systems,
amount, currency, period, trace and span of the counted attempt (warehouse/counted_attempt.py);
attempts, replays, the latest failure's category, the first legal entity named; the object
references of every attempt in attempt order; and whether the event is of ``period`` (its own,
the first attempt's that names one, else its first attempt's UTC month)."""
