"""The SQL of the completeness-and-accuracy report: one query, one row per interface (lineage hop),
over ``biz_events``, ``biz_event_objects`` and the business state's ``event_dimensions`` as known
at a knowledge time. The report quotes this
text and its parameters so that an auditor can run it again (docs/operations.md, For auditors)."""

from __future__ import annotations

from typing import Final

from warehouse.counted_attempt import ATTEMPT_ORDER, COUNTED_ATTEMPT
from warehouse.first_stored import first_stored_events
from warehouse.schema import EVENT_DIMENSIONS

MAX_DIFFERENCES_PER_KIND: Final = 10_000
"""Differences listed per kind and interface, those of the smallest object ids (all are counted):
a report stays a bounded answer, and the same for the same ``known_at``."""


_KNOWN_AT = "{known_at:DateTime64(3, 'UTC')}"


def _facts(events: str, columns: str) -> str:
    """The business facts of the events ``events`` names, as known at ``known_at``, each span in
    its first stored version: only the columns a part of the query needs."""
    return first_stored_events(f"EventId GLOBAL IN {events} AND IngestedAt <= {_KNOWN_AT}", columns)


_EVENT_FACTS = (
    "EventId, EventType, EventTime, Attempt, SpanId, Outcome, Amount, Currency, IngestedAt"
)


def _currency_sums(events: str) -> str:
    """Per currency (sorted) the sum of the amounts of ``events``, an array of distinct (event
    id, amount, currency): amounts are never summed across currencies, and an event without an
    amount counts but adds nothing (its currency is listed only when some amount is known)."""
    known = f"arrayFilter(e -> isNotNull(e.2), {events})"
    return (
        f"arrayMap(c -> (c, arraySum(arrayMap(e -> assumeNotNull(e.2), "
        f"arrayFilter(e -> e.3 = c, {known})))), arraySort(arrayDistinct(arrayMap(e -> e.3, {known}))))"
    )


MATERIALIZED_CTE_SETTING: Final = "enable_materialized_cte"

ENGINE_MATERIALIZES_CTES: Final = (
    f"SELECT count() > 0 FROM system.settings WHERE name = '{MATERIALIZED_CTE_SETTING}'"
)
"""Whether the engine can compute a common table expression once for all its uses (``AS
MATERIALIZED``): chdb's engine can, the 25.8 server of ``docker-compose.yml`` cannot."""


def _interface_totals(once: str, settings: str) -> str:
    """The report's query; ``once`` marks the parts used more than once (empty, or ``
    MATERIALIZED``), ``settings`` is its SETTINGS clause."""
    return f"""
WITH
period_events AS (
    SELECT DISTINCT EventId FROM {EVENT_DIMENSIONS}
    WHERE Period = {{period:String}} AND LegalEntity IN ({{legal_entity:String}}, '')
      AND KnownAt <= {_KNOWN_AT}
),
hops AS (
    SELECT tupleElement(h, 1) AS hop, tupleElement(h, 2) AS target_type,
           tupleElement(h, 3) AS object_type, tupleElement(h, 4) AS source_types
    FROM (SELECT arrayJoin({{hops:Array(Tuple(UInt16, String, String, Array(String)))}}) AS h)
),
period_objects AS{once} (
    SELECT DISTINCT ref.type, ref.id
    FROM {_facts("period_events", "EventId, EventType, ObjectRefs")} ARRAY JOIN ObjectRefs AS ref
    WHERE (ref.type, EventType) GLOBAL IN (SELECT object_type, arrayJoin(source_types) FROM hops)
),
links AS (
    SELECT DISTINCT hops.hop AS hop, o.ObjectId AS object_id, o.EventId AS event_id,
           o.EventType = hops.target_type AS is_target
    FROM biz_event_objects AS o INNER JOIN hops ON o.ObjectType = hops.object_type
    WHERE o.IngestedAt <= {_KNOWN_AT}
      AND (o.EventType = hops.target_type OR has(hops.source_types, o.EventType))
      AND (o.ObjectType, o.ObjectId) GLOBAL IN period_objects
),
linked AS{once} (
    SELECT DISTINCT EventId FROM biz_event_objects
    WHERE (ObjectType, ObjectId) GLOBAL IN period_objects AND IngestedAt <= {_KNOWN_AT}
),
events AS (
    SELECT EventId AS event_id,
        argMax(Outcome, {ATTEMPT_ORDER}) = 'success' AS succeeded,
        minIf(EventTime, Outcome = 'success') AS effective_at,
        argMax(Amount, {COUNTED_ATTEMPT}) AS amount,
        argMax(Currency, {COUNTED_ATTEMPT}) AS currency,
        toDate(min(IngestedAt)) AS stored_on
    FROM {_facts("linked", _EVENT_FACTS)}
    WHERE EventType IN {{event_types:Array(String)}}
    GROUP BY EventId
    HAVING succeeded
),
dimensions AS (
    SELECT EventId AS event_id, argMax(LegalEntity, KnownAt) AS entity,
        argMax(Period, KnownAt) AS period
    FROM {EVENT_DIMENSIONS}
    WHERE EventId GLOBAL IN linked AND KnownAt <= {_KNOWN_AT}
    GROUP BY EventId
),
items AS (
    SELECT links.hop AS hop, links.object_id AS object_id,
        groupArrayIf((events.event_id, events.amount, events.currency),
                     NOT links.is_target) AS sources,
        groupArrayIf((events.event_id, events.amount, events.currency, events.effective_at),
                     links.is_target) AS targets,
        anyIf(dimensions.entity, NOT links.is_target) AS source_entity,
        anyIf(dimensions.entity, links.is_target) AS target_entity,
        minIf(dimensions.period, NOT links.is_target) AS source_period,
        groupUniqArray(events.stored_on) AS stored_days
    FROM links
    INNER JOIN events ON events.event_id = links.event_id
    INNER JOIN dimensions ON dimensions.event_id = links.event_id
    GROUP BY hop, object_id
    HAVING notEmpty(sources) AND source_period = {{period:String}}
       AND if(source_entity != '', source_entity, target_entity) = {{legal_entity:String}}
),
checked AS (
    SELECT hop, object_id, sources, stored_days, arraySort(t -> (t.4, t.1), targets) AS targets,
        arrayDistinct(arrayMap(s -> s.3, sources)) AS source_currencies,
        arraySum(arrayMap(s -> ifNull(s.2, toDecimal64(0, 4)), sources)) AS source_amount,
        targets[1].2 AS target_amount,
        targets[1].3 AS target_currency,
        targets[1].4 AS target_at
    FROM items
)
SELECT * EXCEPT (source_events, target_events),
    length(source_events) AS source_count,
    {_currency_sums("source_events")} AS source_amounts,
    length(target_events) AS target_count,
    {_currency_sums("target_events")} AS target_amounts
FROM (
SELECT hop,
    count() AS items,
    arrayDistinct(groupArrayArray(stored_days)) AS stored_days,
    groupUniqArrayArray(sources) AS source_events,
    groupUniqArrayArray(arrayMap(t -> (t.1, t.2, t.3), targets)) AS target_events,
    countIf(empty(targets)) AS missing_count,
    groupArraySortedIf({MAX_DIFFERENCES_PER_KIND})((object_id, arrayMap(s -> s.1, sources),
        source_amount, source_currencies), empty(targets)) AS missing,
    countIf(notEmpty(targets) AND target_at > {{close_deadline:DateTime64(9, 'UTC')}}) AS late_count,
    groupArraySortedIf({MAX_DIFFERENCES_PER_KIND})((object_id, arrayMap(s -> s.1, sources),
        targets[1].1, target_at),
        notEmpty(targets) AND target_at > {{close_deadline:DateTime64(9, 'UTC')}}) AS late,
    countIf(length(targets) > 1) AS duplicate_count,
    groupArraySortedIf({MAX_DIFFERENCES_PER_KIND})((object_id, arrayMap(s -> s.1, sources),
        arrayMap(t -> t.1, targets)), length(targets) > 1) AS duplicate,
    countIf(notEmpty(targets) AND target_amount IS NOT NULL AND length(source_currencies) = 1
        AND notEmpty(arrayFilter(s -> s.2 IS NOT NULL, sources))
        AND (target_amount != source_amount OR target_currency != source_currencies[1]))
        AS mismatch_count,
    groupArraySortedIf({MAX_DIFFERENCES_PER_KIND})((object_id, arrayMap(s -> s.1, sources),
        targets[1].1, source_amount, source_currencies[1], target_amount, target_currency),
        notEmpty(targets) AND target_amount IS NOT NULL AND length(source_currencies) = 1
        AND notEmpty(arrayFilter(s -> s.2 IS NOT NULL, sources))
        AND (target_amount != source_amount OR target_currency != source_currencies[1]))
        AS mismatch
FROM checked
GROUP BY hop
)
ORDER BY hop
{settings}"""


INTERFACE_TOTALS = _interface_totals("", "")
"""Per interface (``hops``: number, target event type, object type, source event types): the
items (objects of the hop's type) whose succeeded source events' earliest period is ``period`` and
whose legal entity (the sources', else the targets') is ``legal_entity``, as known at
``known_at``; how many distinct source and succeeded target events it has and their counted amounts per
currency (summed in the engine: a large period's hundreds of thousands of events never travel to
the caller); and the
items without a succeeded target (missing), first posted after ``close_deadline`` (late), with
more than one succeeded target (duplicate), or whose first target's amount differs from its
sources' (mismatch); and the UTC days on which the counted events were first stored (their ledger
trees). An event counts when its latest attempt succeeded; its amount is its counted attempt's
(``warehouse.counted_attempt``).

An event's legal entity and period are what the business state resolved for it
(``event_dimensions``, written by ``slas.business_state`` from ``slas.snapshot``: the one
definition), in their latest version known at ``known_at``; an event the state had not resolved
by then does not count. The query starts from the events of ``period`` and ``legal_entity`` (or
of no entity: an item may take its entity from its target) in that table's ``by_period``
projection, and reaches everything else by sorting key: the objects those events refer to as a
source of some hop (``period_objects``: a project that a period's time entry names is no item of
that period, only the project its activation names), the links of those objects, and the facts and
dimensions of the events that refer to them (``linked``, read from the objects' rows again rather
than from ``links``, which the engine would compute once more), so its cost follows the period and
entity asked, not the stored history. This text runs on every engine; where the engine allows,
the report runs ``INTERFACE_TOTALS_ONCE`` instead.

Only succeeded events enter the join, and an item's events are listed with ``groupArrayIf``, not
a set: ``links`` holds a (hop, object, event, side) once and ``events`` and ``dimensions`` one row
per event, so no event can come twice to one side of an item, and hashing every tuple into a set
cost about a sixth of the query. The distinct events of an interface's side are then one set built
from the items' lists (``groupUniqArrayArray``), not a concatenation made distinct afterwards."""

INTERFACE_TOTALS_ONCE = _interface_totals(
    " MATERIALIZED", f"SETTINGS {MATERIALIZED_CTE_SETTING} = 1\n"
)
"""``INTERFACE_TOTALS`` with its twice-used parts (the period's objects, their events) each
computed once (``AS MATERIALIZED``, on an engine where ``ENGINE_MATERIALIZES_CTES``): otherwise
ClickHouse computes a common table expression at every use, the period's objects three times and
their events twice, about a third of the query's CPU on the large quarter. The same answers; the
setting is part of the text, so that the quoted query runs as it is."""
