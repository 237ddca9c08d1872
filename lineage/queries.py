"""The SQL of lineage, impact and evidence: ordered-key lookups on the business tables (every hop
one query with IN arrays) and reads of raw spans through the sort key of ``otel_traces``.

Point lookups read ``biz_events`` without ``FINAL`` and drop repeated (EventId, TraceId, SpanId)
rows in Python instead: a redelivered span still counts once, and each lookup costs about half
(``FINAL`` merges every part's granule at read time). Aggregates keep ``FINAL``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from domain.business_event import BusinessEvent
from lineage.facts import FACT_NAMES, FACT_TEXTS_SQL, LEAF_HASH_SQL
from lineage.graph import EventNode, Lookup, group_attempts
from warehouse.queries import EVENT_COLUMNS, OUTLINE_COLUMNS, outline_from_row

LATEST: datetime = datetime(2299, 12, 31, 23, 59, 59)
"""The ``known_at`` of a read of everything stored (the largest DateTime64(3) instant)."""


def knowledge_bound(known_at: datetime | None) -> datetime:
    """The ``known_at`` parameter of a lineage read: naive UTC, everything when None."""
    return LATEST if known_at is None else _naive(known_at)


EVENTS_BY_ID = f"""
SELECT {EVENT_COLUMNS}
FROM biz_events
WHERE EventId IN {{event_ids:Array(String)}} AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
"""

PRODUCING_EVENTS = f"""
SELECT {OUTLINE_COLUMNS}
FROM biz_event_objects
WHERE ObjectType = {{object_type:String}} AND ObjectId = {{object_id:String}}
  AND EventType IN {{event_types:Array(String)}} AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
"""
"""Outlines of the attempts of ``event_types`` that carry the object."""

REFERENCING_EVENT_IDS = """
SELECT DISTINCT EventId FROM biz_event_objects
WHERE ObjectType = {object_type:String} AND ObjectId = {object_id:String}
  AND IngestedAt <= {known_at:DateTime64(3, 'UTC')}
LIMIT 1000
"""

HOP = f"""
SELECT {EVENT_COLUMNS}
FROM biz_events
WHERE EventId IN (
    SELECT EventId FROM biz_event_objects
    WHERE ObjectType IN {{object_types:Array(String)}}
      AND ObjectId IN {{object_ids:Array(String)}}
      AND (ObjectType, EventType) IN {{pairs:Array(Tuple(String, String))}}
      AND EventId NOT IN {{known:Array(String)}} AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
) AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
"""
"""Every attempt of every not-yet-known event of the wanted types that references one of the
objects (the type-by-id cross product is narrowed again in Python): exact, two index reads."""

HOP_OUTLINES = f"""
SELECT {OUTLINE_COLUMNS}
FROM biz_event_objects
WHERE ObjectType IN {{object_types:Array(String)}}
  AND ObjectId IN {{object_ids:Array(String)}}
  AND (ObjectType, EventType) IN {{pairs:Array(Tuple(String, String))}}
  AND EventId NOT IN {{known:Array(String)}} AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
"""
"""One traversal step in one narrow index read: outlines of the attempts that carry one of the
objects (the traversal reads its nodes in full, every attempt, by id at the end)."""

EVENTS_OF_TYPES = f"""
SELECT {EVENT_COLUMNS}
FROM biz_events FINAL
WHERE EventId IN (
    SELECT EventId FROM biz_events FINAL
    WHERE EventType IN {{event_types:Array(String)}}
      AND (empty({{period:String}}) OR Period = {{period:String}}
           OR (Period = '' AND toYYYYMM(EventTime) = toUInt32OrZero(replaceOne({{period:String}}, '-', ''))))
)
"""
"""Every attempt of the events of some types in one period (its own, else its month in UTC);
every period when ``period`` is empty."""

FAILED_EVENT_IDS = """
SELECT EventId
FROM biz_events FINAL
WHERE EventType IN {event_types:Array(String)}
GROUP BY EventId
HAVING argMax(Outcome, (EventTime, Attempt)) != 'success'
"""
"""Events whose latest attempt is not a success (failed events)."""

EVENTS_WITH_FACTS = f"""
SELECT {EVENT_COLUMNS}, {FACT_TEXTS_SQL}
FROM biz_events
WHERE EventId IN {{event_ids:Array(String)}} AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
ORDER BY EventId, TraceId, SpanId, IngestedAt, {LEAF_HASH_SQL}
LIMIT 1 BY EventId, TraceId, SpanId
"""
"""Every attempt of the events and its stored fact as the ledger hashes it (lineage/facts.py), in
one read: the first stored when a span was stored more than once."""

RAW_SPANS = """
SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes,
       ScopeName, ScopeVersion, toString(Timestamp) AS Start, Duration, StatusCode, StatusMessage,
       SpanAttributes, Events.Timestamp, Events.Name, Events.Attributes,
       Links.TraceId, Links.SpanId, Links.Attributes
FROM otel_traces
WHERE (ServiceName, SpanName, toDateTime(Timestamp))
      IN {keys:Array(Tuple(String, String, DateTime('UTC')))}
  AND (TraceId, SpanId) IN {spans:Array(Tuple(String, String))}
ORDER BY Timestamp, TraceId, SpanId
"""
"""Raw span facts of the attempts, exactly as the exporter stored them, found through the table's
sort key (service, span name, second of the start): the min-max index of ``Timestamp`` keeps only
the parts of those seconds and the primary key one granule or two per span, where a trace-id
lookup read a time window's bloom filters and first asked the trace-id table for that window
(benchmarks/README.md, evidence ledger)."""

RAW_SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "span_name",
    "span_kind",
    "service_name",
    "resource_attributes",
    "scope_name",
    "scope_version",
    "start",
    "duration_ns",
    "status_code",
    "status_message",
    "attributes",
    "events_timestamp",
    "events_name",
    "events_attributes",
    "links_trace_id",
    "links_span_id",
    "links_attributes",
)


def _events(
    client: Client,
    sql: str,
    parameters: dict[str, Any],
    read: Callable[[Sequence[Any]], BusinessEvent] = BusinessEvent.from_row,
) -> dict[str, EventNode]:
    """The attempts the query returns, each span once, grouped into event nodes."""
    attempts: dict[tuple[str, str, str], BusinessEvent] = {}
    for row in client.query(sql, parameters=parameters).result_rows:
        attempt = read(row)
        attempts[(attempt.event_id, attempt.trace_id, attempt.span_id)] = attempt
    return group_attempts(attempts.values())


def nodes_of(client: Client, sql: str, parameters: dict[str, Any]) -> dict[str, EventNode]:
    """The attempts a query of ``EVENT_COLUMNS`` returns, each span once, grouped into nodes."""
    return _events(client, sql, parameters)


def events_by_id(
    client: Client, event_ids: Iterable[str], *, known_at: datetime | None = None
) -> dict[str, EventNode]:
    """The nodes of the given event ids (absent ids are simply missing), as known at
    ``known_at`` (everything stored when None)."""
    return _events(
        client,
        EVENTS_BY_ID,
        {"event_ids": sorted(set(event_ids)), "known_at": knowledge_bound(known_at)},
    )


def producing_events(
    client: Client,
    *,
    object_type: str,
    object_id: str,
    event_types: Sequence[str],
    known_at: datetime | None = None,
) -> dict[str, EventNode]:
    """Outlines of the nodes of the events of ``event_types`` that carry the object."""
    return _events(
        client,
        PRODUCING_EVENTS,
        {
            "object_type": object_type,
            "object_id": object_id,
            "event_types": list(event_types),
            "known_at": knowledge_bound(known_at),
        },
        outline_from_row,
    )


def referencing_event_ids(
    client: Client, *, object_type: str, object_id: str, known_at: datetime | None = None
) -> list[str]:
    """Ids of events of any type that reference the object (at most 1000)."""
    rows = client.query(
        REFERENCING_EVENT_IDS,
        parameters={
            "object_type": object_type,
            "object_id": object_id,
            "known_at": knowledge_bound(known_at),
        },
    ).result_rows
    return sorted(str(row[0]) for row in rows)


def hop_events(
    client: Client,
    lookup: Lookup,
    known: Iterable[str],
    *,
    every_attempt: bool = True,
    known_at: datetime | None = None,
) -> dict[str, EventNode]:
    """The not-yet-known events one traversal step may reach: in full with every attempt, or
    (``every_attempt=False``, one narrow read instead of two) as outlines of the attempts that
    carry the objects."""
    if lookup.empty:
        return {}
    return _events(
        client,
        HOP if every_attempt else HOP_OUTLINES,
        {
            "object_types": lookup.object_types,
            "object_ids": lookup.object_ids,
            "pairs": lookup.pairs,
            "known": sorted(known),
            "known_at": knowledge_bound(known_at),
        },
        BusinessEvent.from_row if every_attempt else outline_from_row,
    )


def events_of_types(
    client: Client, event_types: Sequence[str], *, period: str = ""
) -> dict[str, EventNode]:
    """Every event of ``event_types`` (in ``period`` when given: any attempt's period)."""
    return _events(client, EVENTS_OF_TYPES, {"event_types": list(event_types), "period": period})


def failed_event_ids(client: Client, event_types: Sequence[str]) -> list[str]:
    """Ids of the events of ``event_types`` whose latest attempt is not a success."""
    rows = client.query(FAILED_EVENT_IDS, parameters={"event_types": list(event_types)})
    return sorted(str(row[0]) for row in rows.result_rows)


StoredFact = dict[str, str]
"""A ``biz_events`` row as the texts the ledger hashes, by ``lineage.facts.FACT_NAMES``."""


class FactReader:
    """Completes a traversal's nodes by id (``trace(read_nodes=…)``) and keeps every attempt's
    stored fact from the same read, so that an evidence pack reads its events once."""

    def __init__(self, client: Client, *, known_at: datetime) -> None:
        self._client = client
        self._known_at = known_at
        self.facts: dict[tuple[str, str, str], StoredFact] = {}
        """(event id, trace id, span id) → the stored fact, of the events read so far."""

    def __call__(self, event_ids: Iterable[str]) -> dict[str, EventNode]:
        """The nodes of the event ids, each attempt its first stored version at ``known_at``."""
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        rows = self._client.query(
            EVENTS_WITH_FACTS,
            parameters={"event_ids": ids, "known_at": knowledge_bound(self._known_at)},
        ).result_rows
        attempts = []
        for *columns, texts in rows:
            attempt = BusinessEvent.from_row(columns)
            attempts.append(attempt)
            identity = (attempt.event_id, attempt.trace_id, attempt.span_id)
            self.facts[identity] = dict(zip(FACT_NAMES, texts, strict=True))
        return group_attempts(attempts)

    def facts_of(self, nodes: Iterable[EventNode]) -> dict[tuple[str, str, str], StoredFact]:
        """The stored facts of the nodes' attempts (a traversal may read more nodes than its
        lineage keeps)."""
        identities = ((n.event_id, a.trace_id, a.span_id) for n in nodes for a in n.attempts)
        return {key: self.facts[key] for key in identities if key in self.facts}


def raw_spans(
    client: Client, facts: Iterable[Mapping[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Raw span facts keyed by (trace id, span id) of the stored facts' spans, looked up by the
    sort key of ``otel_traces`` (a business event's time is its span's start)."""
    keys, spans = set(), set()
    for fact in facts:
        # the engine's text of a DateTime64(9) in UTC; the sort key holds the whole second
        started = datetime.fromisoformat(fact["event_time"][:19]).replace(tzinfo=UTC)
        keys.add((fact["service_name"], fact["span_name"], started))
        spans.add((fact["trace_id"], fact["span_id"]))
    if not spans:
        return {}
    rows = client.query(
        RAW_SPANS, parameters={"keys": sorted(keys), "spans": sorted(spans)}
    ).result_rows
    found = {}
    for row in rows:
        record = dict(zip(RAW_SPAN_COLUMNS, row, strict=True))
        found[(str(record["trace_id"]), str(record["span_id"]))] = record
    return found


def _naive(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None) if instant.tzinfo else instant
