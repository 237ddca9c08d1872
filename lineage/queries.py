"""The SQL of lineage, impact and evidence: ordered-key lookups on the business tables (every hop
one query with IN arrays) and reads of raw spans through the sort key of ``otel_traces``.

Point lookups read ``biz_events`` without ``FINAL``, ordered first stored first, and keep the first
row of each (EventId, TraceId, SpanId) in Python: a redelivered span counts once, a conflicting
version is listed (``EventNode.conflicts``) but not counted (warehouse/first_stored.py), and each
lookup costs about half of a ``FINAL`` read (which merges every part's granule at read time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from domain.business_event import BusinessEvent
from lineage.facts import FACT_NAMES, FACT_TEXTS_SQL, StoredFact
from lineage.graph import ConflictingVersion, EventNode, Lookup, group_attempts
from warehouse.bound_arrays import rows_by_runs
from warehouse.counted_attempt import ATTEMPT_ORDER
from warehouse.first_stored import FIRST_STORED_ORDER, first_stored_events
from warehouse.queries import EVENT_COLUMNS, OUTLINE_COLUMNS, outline_from_row
from warehouse.schema import RAW_SPAN_HASH

LATEST: datetime = datetime(2299, 12, 31, 23, 59, 59)
"""The ``known_at`` of a read of everything stored (the largest DateTime64(3) instant)."""


POINT_READ = "SETTINGS use_skip_indexes = 0"
"""Ends every lookup by the sort key below. The primary key narrows such a read to a granule or
two per id; the ``IngestedAt`` minmax index (migration 8, there for the evaluator's reads of the
rows stored since its watermark) can then drop nothing worth its price, yet the engine consulted it
for every ``known_at`` bound: it took a lineage from 22-25 to 39 ms of CPU on the medium quarter
(benchmarks/history/lineage.md, "The knowledge-time index skipped on lookups"). One engine thread
instead spared some 2.6 ms of CPU a lineage but cost wall time at rest (p95 over HTTP at 10M 76.9
and 69.5 ms against 71.0 and 55.3 with two, turn about; benchmarks/history/lineage.md, "One
engine thread or two")."""


KNOWN_LEGAL_ENTITY = """
SELECT 1 FROM biz_events WHERE LegalEntity = {legal_entity:String} LIMIT 1
"""


def legal_entity_is_named(client: Client, legal_entity: str) -> bool:
    """Whether some stored business event names ``legal_entity`` (its ``biz.legal_entity.id``):
    an export or report for any other id would only be empty, so it is refused by name."""
    return bool(
        client.query(KNOWN_LEGAL_ENTITY, parameters={"legal_entity": legal_entity}).result_rows
    )


def knowledge_bound(known_at: datetime | None) -> datetime:
    """The ``known_at`` parameter of a lineage read: naive UTC, everything when None."""
    return LATEST if known_at is None else _naive(known_at)


EVENTS_BY_ID = f"""
SELECT {EVENT_COLUMNS}, IngestedAt, ContentHash
FROM biz_events
WHERE EventId IN {{event_ids:Array(String)}}
{POINT_READ}
"""
"""Every stored row of the events: ``_point_read`` keeps those known at the bound, first stored
first."""

PRODUCING_EVENTS = f"""
SELECT {OUTLINE_COLUMNS}, IngestedAt, toUInt64(0)
FROM biz_event_objects
WHERE ObjectType = {{object_type:String}} AND ObjectId = {{object_id:String}}
  AND EventType IN {{event_types:Array(String)}}
{POINT_READ}
"""
"""Outlines of the attempts of ``event_types`` that carry the object (every stored row: as
``EVENTS_BY_ID``)."""

REFERENCING_EVENT_IDS = f"""
SELECT DISTINCT EventId FROM biz_event_objects
WHERE ObjectType = {{object_type:String}} AND ObjectId = {{object_id:String}}
  AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
LIMIT 1000
{POINT_READ}
"""

HOP = f"""
SELECT {EVENT_COLUMNS}, IngestedAt, ContentHash
FROM biz_events
WHERE EventId IN (
    SELECT EventId FROM biz_event_objects
    WHERE ObjectType IN {{object_types:Array(String)}}
      AND ObjectId IN {{object_ids:Array(String)}}
      AND (ObjectType, EventType) IN {{pairs:Array(Tuple(String, String))}}
      AND EventId NOT IN {{known:Array(String)}} AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
) AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
ORDER BY {FIRST_STORED_ORDER}
{POINT_READ}
"""
"""Every attempt of every not-yet-known event of the wanted types that references one of the
objects (the type-by-id cross product is narrowed again in Python): exact, two index reads."""

HOP_OUTLINES = f"""
SELECT {OUTLINE_COLUMNS}, IngestedAt, toUInt64(0)
FROM biz_event_objects
WHERE ObjectType IN {{object_types:Array(String)}}
  AND ObjectId IN {{object_ids:Array(String)}}
  AND (ObjectType, EventType) IN {{pairs:Array(Tuple(String, String))}}
{POINT_READ}
"""
"""One traversal step in one narrow index read: outlines of the attempts that carry one of the
objects (the traversal reads its nodes in full, every attempt, by id at the end). Every stored
row: ``_point_read`` leaves out the known events and keeps the rows known at the bound, as
``EVENTS_BY_ID``."""

KNOWN_AT = "IngestedAt <= {known_at:DateTime64(3, 'UTC')}"
"""The rows known at ``known_at``: stored by then."""

EVENT_IDS_OF_TYPES = f"""
SELECT DISTINCT EventId FROM {first_stored_events(KNOWN_AT, "EventId, EventType, EventTime, Period")}
WHERE EventType IN {{event_types:Array(String)}}
  AND (empty({{period:String}}) OR Period = {{period:String}}
       OR (Period = '' AND toYYYYMM(EventTime) = toUInt32OrZero(replaceOne({{period:String}}, '-', ''))))
"""
"""The events known at ``known_at`` of some types with an attempt in one period (its own, else its
month in UTC); every period when ``period`` is empty."""

FAILED_EVENT_IDS = f"""
SELECT EventId
FROM {first_stored_events("1", "EventId, EventType, EventTime, Attempt, SpanId, Outcome")}
WHERE EventType IN {{event_types:Array(String)}}
GROUP BY EventId
HAVING argMax(Outcome, {ATTEMPT_ORDER}) != 'success'
"""
"""Events whose latest attempt (``ATTEMPT_ORDER``) is not a success (failed events)."""

STORED_FACTS = f"""
SELECT EventId, TraceId, SpanId, {FACT_TEXTS_SQL}, RawSpanHash
FROM biz_events
WHERE EventId IN {{event_ids:Array(String)}} AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
ORDER BY EventId, TraceId, SpanId, {FIRST_STORED_ORDER}
LIMIT 1 BY EventId, TraceId, SpanId, ContentHash
{POINT_READ}
"""
"""Every stored version of the events' attempts as the ledger hashes it (lineage/facts.py), first
stored first; a span stored twice as it was is one version, the first stored."""

EVENTS_WITH_FACTS = f"""
SELECT {EVENT_COLUMNS}, IngestedAt, ContentHash, {FACT_TEXTS_SQL}, RawSpanHash
FROM biz_events
WHERE EventId IN {{event_ids:Array(String)}} AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
ORDER BY {FIRST_STORED_ORDER}
{POINT_READ}
"""
"""``EVENTS_BY_ID`` with each row's stored fact as the ledger hashes it and its raw span's hash:
the nodes, their conflicts and every stored version of their attempts in one read."""

RAW_SPAN_FIELDS = """TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes,
       ScopeName, ScopeVersion, toString(Timestamp) AS Start, Duration, StatusCode, StatusMessage,
       SpanAttributes, Events.Timestamp, Events.Name, Events.Attributes,
       Links.TraceId, Links.SpanId, Links.Attributes"""
"""A raw span as a pack shows it (``RAW_SPAN_COLUMNS``), from ``otel_traces`` or a table with its
columns (``lineage.evidence_spans``)."""

RAW_SPAN_SELECT = f"""
SELECT {RAW_SPAN_FIELDS}, {RAW_SPAN_HASH}
FROM otel_traces"""
"""A raw span as a pack shows it, then its raw copy's hash."""

RAW_SPANS = f"""{RAW_SPAN_SELECT}
PREWHERE TraceId IN {{trace_ids:Array(String)}}
  AND (ServiceName, SpanName, toDateTime(Timestamp))
      IN {{keys:Array(Tuple(String, String, DateTime('UTC')))}}
  AND (TraceId, SpanId) IN {{spans:Array(Tuple(String, String))}}
ORDER BY Timestamp, TraceId, SpanId, {RAW_SPAN_HASH}
"""
"""Raw span facts of stored facts, exactly as the exporter stored them, each raw copy once with
the hash that tells the copies of a re-sent span apart. Found through the table's sort key
(service, span name, second of the start: a fact's event time is its span's start), so the
primary key keeps one or two granules per span; ``PREWHERE`` reads the other columns only of the
granules where a span matched, the trace ids (one column, a plain set) first
(benchmarks/history/evidence.md, "Evidence pack, third pass")."""

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


Identity = tuple[str, str, str]
"""A span's identity: (event id, trace id, span id)."""


def _first_versions(
    rows: Iterable[Sequence[Any]], read: Callable[[Sequence[Any]], BusinessEvent]
) -> tuple[list[BusinessEvent], set[Identity]]:
    """The attempts of rows that end in their knowledge time and content hash (first stored
    first), each span once in its first stored version, and the spans that have a later version
    with other content."""
    attempts: dict[Identity, BusinessEvent] = {}
    contents: dict[Identity, int] = {}
    conflicting: set[Identity] = set()
    for row in rows:
        *columns, _, content = row
        attempt = read(columns)
        key = (attempt.event_id, attempt.trace_id, attempt.span_id)
        if key not in attempts:
            attempts[key], contents[key] = attempt, content
        elif content != contents[key]:
            conflicting.add(key)
    return list(attempts.values()), conflicting


def _events(
    client: Client,
    sql: str,
    parameters: dict[str, Any],
    read: Callable[[Sequence[Any]], BusinessEvent] = BusinessEvent.from_row,
) -> dict[str, EventNode]:
    """The attempts the query returns (each row ending in its knowledge time and content hash,
    first stored first), each span once in its first stored version, grouped into event nodes
    with the later versions that differ as their conflicts."""
    rows = client.query(sql, parameters=parameters).result_rows
    return _grouped(client, rows, read, parameters.get("known_at", LATEST))


def _point_read(
    client: Client,
    sql: str,
    parameters: dict[str, Any],
    *,
    known_at: datetime,
    exclude: Set[str] = frozenset(),
    read: Callable[[Sequence[Any]], BusinessEvent] = BusinessEvent.from_row,
    split: str | None = None,
) -> dict[str, EventNode]:
    """``_events`` of a lookup by the sort key that returns every stored row of what it finds
    (event id first, knowledge time and content hash last) in any order: the rows known at
    ``known_at`` (naive UTC) of events not in ``exclude``, first stored first
    (``FIRST_STORED_ORDER``). Each condition and the sort cost the engine more to plan than
    Python to apply to the few rows a lookup returns (benchmarks/history/lineage.md, "Fresh
    lookups"). ``split``: the parameter whose list is the lookup's, bound a run at a time when
    long (``warehouse.bound_arrays``)."""
    found = (
        client.query(sql, parameters=parameters).result_rows
        if split is None
        else rows_by_runs(client, sql, parameters, split)
    )
    rows = [row for row in found if row[0] not in exclude and _naive(row[-2]) <= known_at]
    rows.sort(key=lambda row: (row[-2], row[-1]))
    return _grouped(client, rows, read, known_at)


def _grouped(
    client: Client,
    rows: Iterable[Sequence[Any]],
    read: Callable[[Sequence[Any]], BusinessEvent],
    known_at: datetime,
) -> dict[str, EventNode]:
    """Rows ending in their knowledge time and content hash, first stored first, as event nodes:
    each span once in its first stored version, the later versions known at ``known_at`` that
    differ as its conflicts."""
    attempts, conflicting = _first_versions(rows, read)
    if not conflicting:
        return group_attempts(attempts)
    versions = stored_facts(client, {event_id for event_id, _, _ in conflicting}, known_at=known_at)
    return group_attempts(attempts, _conflicts(versions, conflicting))


def _conflicts(
    versions: Mapping[Identity, Sequence[StoredFact]], identities: set[Identity]
) -> dict[str, list[ConflictingVersion]]:
    """The later stored versions of the spans, by event id."""
    conflicts: dict[str, list[ConflictingVersion]] = {}
    for key in sorted(identities):
        stored = versions.get(key, [])
        conflicts.setdefault(key[0], []).extend(
            ConflictingVersion.of(stored[0], later) for later in stored[1:]
        )
    return conflicts


def nodes_of(client: Client, sql: str, parameters: dict[str, Any]) -> dict[str, EventNode]:
    """The attempts a query of ``EVENT_COLUMNS``, knowledge time and content hash returns (first
    stored first), each span once in its first stored version, grouped into nodes."""
    return _events(client, sql, parameters)


def events_by_id(
    client: Client, event_ids: Iterable[str], *, known_at: datetime | None = None
) -> dict[str, EventNode]:
    """The nodes of the given event ids (absent ids are simply missing), as known at
    ``known_at`` (everything stored when None)."""
    return _point_read(
        client,
        EVENTS_BY_ID,
        {"event_ids": sorted(set(event_ids))},
        known_at=knowledge_bound(known_at),
        split="event_ids",
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
    return _point_read(
        client,
        PRODUCING_EVENTS,
        {"object_type": object_type, "object_id": object_id, "event_types": list(event_types)},
        known_at=knowledge_bound(known_at),
        read=outline_from_row,
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
    parameters: dict[str, Any] = {
        "object_types": lookup.object_types,
        "object_ids": lookup.object_ids,
        "pairs": lookup.pairs,
    }
    if every_attempt:
        parameters |= {"known": sorted(known), "known_at": knowledge_bound(known_at)}
        return _events(client, HOP, parameters)
    return _point_read(
        client,
        HOP_OUTLINES,
        parameters,
        known_at=knowledge_bound(known_at),
        exclude=set(known),
        read=outline_from_row,
        split="object_ids",
    )


def event_ids_of_types(
    client: Client,
    event_types: Sequence[str],
    *,
    period: str = "",
    known_at: datetime | None = None,
) -> set[str]:
    """The ids of the events of ``event_types`` (in ``period`` when given: any attempt's period),
    as known at ``known_at`` (everything stored when None)."""
    parameters = {
        "event_types": list(event_types),
        "period": period,
        "known_at": knowledge_bound(known_at),
    }
    rows = client.query(EVENT_IDS_OF_TYPES, parameters=parameters).result_rows
    return {str(row[0]) for row in rows}


def failed_event_ids(client: Client, event_types: Sequence[str]) -> list[str]:
    """Ids of the events of ``event_types`` whose latest attempt is not a success."""
    rows = client.query(FAILED_EVENT_IDS, parameters={"event_types": list(event_types)})
    return sorted(str(row[0]) for row in rows.result_rows)


def _stored_fact(texts: Sequence[str], raw_span_hash: int) -> StoredFact:
    return StoredFact(dict(zip(FACT_NAMES, texts, strict=True)), int(raw_span_hash))


def stored_facts(
    client: Client, event_ids: Iterable[str], *, known_at: datetime
) -> dict[Identity, list[StoredFact]]:
    """Every stored version of the events' attempts known at ``known_at``, first stored first,
    keyed by (event, trace, span): the first is the attempt's fact, any other a conflict."""
    ids = sorted(set(event_ids))
    if not ids:
        return {}
    rows = client.query(
        STORED_FACTS, parameters={"event_ids": ids, "known_at": knowledge_bound(known_at)}
    ).result_rows
    versions: dict[Identity, list[StoredFact]] = {}
    for event_id, trace_id, span_id, texts, raw_span_hash in rows:
        versions.setdefault((str(event_id), str(trace_id), str(span_id)), []).append(
            _stored_fact(texts, raw_span_hash)
        )
    return versions


class FactReader:
    """Reads a traversal's nodes in full by id (``trace(read_nodes=…)``, in place of
    ``events_by_id``) and keeps every stored version of their attempts from the same read, so an
    evidence pack reads its events once: the same nodes, conflicts and versions as
    ``events_by_id`` and ``stored_facts`` at ``known_at``."""

    def __init__(self, client: Client, *, known_at: datetime) -> None:
        self._client = client
        self._known_at = knowledge_bound(known_at)
        self._versions: dict[Identity, list[StoredFact]] = {}

    def __call__(self, event_ids: Iterable[str]) -> dict[str, EventNode]:
        """The nodes of the event ids (absent ids are simply missing)."""
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        rows = self._client.query(
            EVENTS_WITH_FACTS, parameters={"event_ids": ids, "known_at": self._known_at}
        ).result_rows
        read: dict[Identity, dict[int, StoredFact]] = {}
        for *_, content, texts, raw_span_hash in rows:
            fact = _stored_fact(texts, raw_span_hash)
            identity = (fact.texts["event_id"], fact.texts["trace_id"], fact.texts["span_id"])
            read.setdefault(identity, {}).setdefault(int(content), fact)  # a re-send as it was
        self._versions.update({key: list(by_content.values()) for key, by_content in read.items()})
        attempts, conflicting = _first_versions((row[:-2] for row in rows), BusinessEvent.from_row)
        return group_attempts(attempts, _conflicts(self._versions, conflicting))

    def facts_of(self, nodes: Iterable[EventNode]) -> dict[Identity, list[StoredFact]]:
        """Every stored version of the nodes' attempts, first stored first (``stored_facts``)."""
        identities = ((n.event_id, a.trace_id, a.span_id) for n in nodes for a in n.attempts)
        return {key: self._versions[key] for key in identities if key in self._versions}


def raw_spans(
    client: Client, facts: Iterable[StoredFact], *, only: Set[tuple[str, str]] | None = None
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Raw span facts keyed by (trace id, span id, raw span hash): every raw copy of the facts'
    spans stored under their service, span name and start (to the second); of the spans in
    ``only`` (trace id, span id) when given, still under every fact's key, so a span's copies are
    the same ones either way."""
    keys, spans = set(), set()
    for fact in facts:
        texts = fact.texts
        # the engine's text of a DateTime64(9) in UTC; the sort key holds its whole second
        started = datetime.fromisoformat(texts["event_time"][:19])
        keys.add((texts["service_name"], texts["span_name"], started))
        spans.add((texts["trace_id"], texts["span_id"]))
    if only is not None:
        spans &= only
    if not spans:
        return {}
    parameters = {
        "trace_ids": sorted({trace_id for trace_id, _ in spans}),
        "keys": sorted(keys),
        "spans": sorted(spans),
    }
    return raw_span_records(client.query(RAW_SPANS, parameters=parameters).result_rows)


def raw_span_records(
    rows: Iterable[Sequence[Any]],
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Rows of ``RAW_SPAN_FIELDS`` and a raw span hash, keyed by (trace id, span id, raw hash)."""
    found = {}
    for *row, raw_span_hash in rows:
        record = dict(zip(RAW_SPAN_COLUMNS, row, strict=True))
        found[(str(record["trace_id"]), str(record["span_id"]), int(raw_span_hash))] = record
    return found


def _naive(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None) if instant.tzinfo else instant
