"""The DDL of every syncsight table and view, rendered for one server or for a cluster.

Single server: plain (Replacing)MergeTree tables. Cluster: each table becomes ``<name>_local`` with a
Replicated engine on every shard plus a Distributed table under the plain name, so queries and the
OTel Collector's exporter use the same names in both topologies. Raw spans are sharded by trace id
and derived rows follow their span, so duplicates of one span always meet on one shard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from domain import semconv as sc
from warehouse.correlation_rules import CorrelationRules, object_refs_expression

OTEL_TRACES = "otel_traces"
OTEL_TRACES_TRACE_ID_TS = "otel_traces_trace_id_ts"
BIZ_EVENTS = "biz_events"
BIZ_EVENT_OBJECTS = "biz_event_objects"
SCHEMA_MIGRATIONS = "syncsight_schema_migrations"
SCHEMA_STATE = "syncsight_schema_state"
SLA_ALERT_STATE = "sla_alert_state"
SLA_TIMERS = "sla_timers"
CLOSE_ITEMS = "close_items"
SLA_TIMER_CHANGES = "sla_timer_changes"
SLA_TIMER_CHANGE_DAYS = "sla_timer_change_days"
SLA_TIMER_CHANGE_TICKS = "sla_timer_change_ticks"
SLA_TIMER_ELAPSED = "sla_timer_elapsed"
SLA_TIMER_ELAPSED_DAYS = "sla_timer_elapsed_days"
SLA_TIMER_ELAPSED_TICKS = "sla_timer_elapsed_ticks"
SLA_TIMER_SUMS = "sla_timer_sums"
EVENT_DIMENSIONS = "event_dimensions"
CLOSE_ITEM_SUPERSEDED = "close_item_superseded"
CLOSE_ITEM_PIECES = "close_item_pieces"
CLOSE_ITEM_PIECE_DAYS = "close_item_piece_days"
CLOSE_ITEM_PIECE_TICKS = "close_item_piece_ticks"
CLOSE_ITEM_PIECE_CHANGES = "close_item_piece_changes"
CLOSE_ITEM_ROWS = "close_item_rows"
CLOSE_STAGE_DURATIONS = "close_stage_durations"
CLOSE_ITEM_VERSIONS_WATERMARK = "close_item_superseded_watermark"
"""The knowledge time up to which ``close_item_superseded`` and ``close_item_pieces`` hold every
``close_items`` version's rows (``slas.item_versions``)."""
STATE_CHUNKS = "syncsight_state_chunks"
STATE_COMPONENT_EVENTS = "syncsight_state_component_events"
STATE_COMPONENT_OBJECTS = "syncsight_state_component_objects"
EVALUATOR_LEASE = "syncsight_evaluator_lease"
LEDGER_LEAVES = "ledger_leaves"
LEDGER_NODES = "ledger_nodes"
LEDGER_HEADS = "ledger_heads"
LEDGER_DOWNLOADS = "ledger_downloads"
WORK_ITEM_EVENTS = "work_item_events"
EVIDENCE_SPANS = "evidence_spans"
EVIDENCE_SPANS_WATERMARK = "evidence_spans_watermark"
EVIDENCE_SPANS_AT_INGEST = "evidence_spans_copied_at_ingest"
"""The knowledge time up to which ``evidence_spans`` holds the raw copy of every ``biz_events`` row
stored with a raw span hash (``lineage.evidence_spans``)."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_SHARDING_KEY = "cityHash64(TraceId)"


class TopologyError(ValueError):
    """A cluster name that cannot be used as a ClickHouse identifier."""


@dataclass(frozen=True)
class Topology:
    """Where the tables live: one server (``cluster=None``) or every node of a named cluster."""

    cluster: str | None = None

    def __post_init__(self) -> None:
        if self.cluster is not None and not _IDENTIFIER.match(self.cluster):
            raise TopologyError(
                f"--cluster {self.cluster!r}: expected a cluster name of letters, digits and _"
            )

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {self.cluster}" if self.cluster else ""

    def storage(self, table: str) -> str:
        """The name of the table that physically stores ``table``'s rows."""
        return f"{table}_local" if self.cluster else table

    def engine(self, table: str, kind: str = "MergeTree", args: str = "") -> str:
        """``kind`` for one server, its Replicated twin with a per-table ZooKeeper path otherwise."""
        if not self.cluster:
            return f"{kind}({args})"
        replicated_args = f"'/clickhouse/tables/{{shard}}/{{database}}/{table}', '{{replica}}'"
        if args:
            replicated_args += f", {args}"
        return f"Replicated{kind}({replicated_args})"

    def distributed(self, table: str, sharding_key: str = _SHARDING_KEY) -> list[str]:
        """The Distributed table that fronts ``table``'s shards (nothing for one server)."""
        if not self.cluster:
            return []
        local = self.storage(table)
        return [
            f"CREATE TABLE IF NOT EXISTS {table}{self.on_cluster} AS {local}\n"
            f"ENGINE = Distributed({self.cluster}, currentDatabase(), {local}, {sharding_key})"
        ]


def otel_traces_ddl(t: Topology) -> list[str]:
    """The exporter's raw span tables, column for column (the OpenTelemetry Collector's ClickHouse
    exporter's schema, README "Running against a ClickHouse server")."""
    traces = t.storage(OTEL_TRACES)
    trace_id_ts = t.storage(OTEL_TRACES_TRACE_ID_TS)
    return [
        f"""CREATE TABLE IF NOT EXISTS {traces}{t.on_cluster} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = {t.engine(OTEL_TRACES)}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
        *t.distributed(OTEL_TRACES),
        f"""CREATE TABLE IF NOT EXISTS {trace_id_ts}{t.on_cluster} (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta, ZSTD(1)),
    End DateTime CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = {t.engine(OTEL_TRACES_TRACE_ID_TS)}
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)""",
        *t.distributed(OTEL_TRACES_TRACE_ID_TS),
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {trace_id_ts}_mv{t.on_cluster} TO {trace_id_ts} AS
SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End
FROM {traces} WHERE TraceId != '' GROUP BY TraceId""",
    ]


EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("EventId", "String"),
    ("EventType", "LowCardinality(String)"),
    ("EventTime", "DateTime64(9, 'UTC')"),
    ("DurationNs", "UInt64"),
    ("SourceSystem", "LowCardinality(String)"),
    ("TargetSystem", "LowCardinality(String)"),
    ("Outcome", "LowCardinality(String)"),
    ("ErrorCategory", "LowCardinality(String)"),
    ("ErrorCode", "String"),
    ("Amount", "Nullable(Decimal(18, 4))"),
    ("Currency", "LowCardinality(String)"),
    ("Period", "LowCardinality(String)"),
    ("LegalEntity", "LowCardinality(String)"),
    ("Customer", "String"),
    ("Attempt", "UInt32"),
    ("ReplayOf", "String"),
    ("ServiceName", "LowCardinality(String)"),
    ("SpanName", "LowCardinality(String)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("SpanStatus", "LowCardinality(String)"),
    ("StatusMessage", "String"),
    ("ObjectRefs", "Array(Tuple(type LowCardinality(String), id String))"),
)
"""A business event row's content: everything but its knowledge time."""

CONTENT_HASH = "cityHash64({})".format(
    ", ".join(
        f"isNull({column}), assumeNotNull({column})" if kind.startswith("Nullable") else column
        for column, kind in EVENT_COLUMNS
    )
)
"""A hash of a business event row's content, everything but its knowledge time (a NULL argument
would make the whole hash NULL): two rows of one span identity with the same hash are one fact
stored twice, with different hashes two versions of it."""

RAW_SPAN_HASH = (
    "cityHash64(Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, "
    "ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, "
    "StatusCode, StatusMessage, Events.Timestamp, Events.Name, Events.Attributes, "
    "Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes)"
)
"""A hash of an ``otel_traces`` row: which of several raw copies of one span a business row was
derived from (a span re-sent with other content is a second raw row under the same ids)."""

RAW_SPAN = ("RawSpanHash", "UInt64")
"""The ``RAW_SPAN_HASH`` of the raw span a ``biz_events`` row was derived from (migration 13; 0
for rows stored before): evidence shows each version of a span with its own raw copy. Not part
of the row's content (a copy that differs in no business fact is the same fact)."""

INGESTED_AT = ("IngestedAt", "DateTime64(3, 'UTC')")
"""Knowledge time: when syncsight stored the row (migration 8), set by the views at insert."""

KNOWLEDGE_FALLBACK = "toDateTime64(EventTime + toIntervalNanosecond(DurationNs), 3, 'UTC')"
"""The knowledge time of rows stored before migration 8: their span's end, the earliest instant
an exporter could have sent it (the true instant was never recorded)."""

_OBJECT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ObjectType", "LowCardinality(String)"),
    ("ObjectId", "String"),
    ("EventId", "String"),
    ("EventType", "LowCardinality(String)"),
    ("EventTime", "DateTime64(9, 'UTC')"),
    ("Outcome", "LowCardinality(String)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
)

_POINT_READ_BLOCKS = "min_compress_block_size = 2048, max_compress_block_size = 4096"
POINT_READ_LAYOUT = f"index_granularity = 256, {_POINT_READ_BLOCKS}"
"""The business tables' layout since migration 5: a lineage read of a few scattered ids
decompresses a few KiB per id and column, not the 64 KiB to 1 MiB of ClickHouse's default
compressed blocks (benchmarks/history/lineage.md, "Lineage": reads of 14
ids take half the time)."""


@dataclass(frozen=True)
class _BusinessTable:
    """What a business table is made of, to create it under its own name or a copy's."""

    table: str
    columns: tuple[tuple[str, str], ...]
    order: str
    indexes: tuple[str, ...] = ()
    version: str = ""
    """The ReplacingMergeTree version column: of two rows with the same key, a merge keeps the
    one with the larger version (the last written when there is none)."""

    def engine(self, t: Topology) -> str:
        return t.engine(self.table, "ReplacingMergeTree", self.version)

    def create(self, t: Topology, name: str, layout: str) -> str:
        body = ",\n    ".join(
            [*(f"{column} {kind}" for column, kind in self.columns), *self.indexes]
        )
        return f"""CREATE TABLE IF NOT EXISTS {name}{t.on_cluster} (
    {body}
) ENGINE = {self.engine(t)}
ORDER BY ({self.order})
SETTINGS {layout}"""


_EVENTS_TABLE = _BusinessTable(
    BIZ_EVENTS,
    EVENT_COLUMNS,
    "EventId, TraceId, SpanId",
    ("INDEX idx_event_type EventType TYPE set(64) GRANULARITY 4",),
)
_OBJECTS_TABLE = _BusinessTable(
    BIZ_EVENT_OBJECTS, _OBJECT_COLUMNS, "ObjectType, ObjectId, EventId, TraceId, SpanId"
)


def business_tables_ddl(t: Topology) -> list[str]:
    """One row per business event span, and one per (event span, referenced object).

    Derived rows are small and re-derivable, so they keep the default LZ4 codec: cheaper to
    write at ingest than ZSTD, which only pays off on the raw spans. Both serve point lookups
    (lineage hops), so they use small granules and no partitioning, and merges keep the part
    count low (migration 5 makes granules and compressed blocks smaller still, migration 7 every
    part compact).

    Both are ReplacingMergeTree keyed by the span identity, so a span delivered twice collapses
    to one row. Migration 13 adds the content hash to ``biz_events``' key and makes merges keep
    the first stored copy: a span re-sent with other content is a second version, and every read
    counts the first stored one (warehouse/first_stored.py).
    """
    events = t.storage(BIZ_EVENTS)
    objects = t.storage(BIZ_EVENT_OBJECTS)
    layout = "index_granularity = 1024"
    return [
        _EVENTS_TABLE.create(t, events, layout),
        *t.distributed(BIZ_EVENTS),
        _OBJECTS_TABLE.create(t, objects, layout),
        *t.distributed(BIZ_EVENT_OBJECTS),
    ]


def bookkeeping_ddl(t: Topology) -> list[str]:
    """Which migrations ran, and which correlation rules the current views were generated from."""
    migrations = t.storage(SCHEMA_MIGRATIONS)
    state = t.storage(SCHEMA_STATE)
    return [
        f"""CREATE TABLE IF NOT EXISTS {migrations}{t.on_cluster} (
    Version UInt32,
    Name String,
    AppliedAt DateTime64(3, 'UTC')
) ENGINE = {t.engine(SCHEMA_MIGRATIONS, "ReplacingMergeTree")}
ORDER BY Version""",
        *t.distributed(SCHEMA_MIGRATIONS, "Version"),
        f"""CREATE TABLE IF NOT EXISTS {state}{t.on_cluster} (
    Key String,
    Value String,
    UpdatedAt DateTime64(3, 'UTC')
) ENGINE = {t.engine(SCHEMA_STATE, "ReplacingMergeTree", "UpdatedAt")}
ORDER BY Key""",
        *t.distributed(SCHEMA_STATE, "cityHash64(Key)"),
    ]


def sla_alert_state_ddl(t: Topology) -> list[str]:
    """What the SLA evaluator alerted (``Channel`` '') and what each notifier delivered, so that
    a restart neither forgets a firing alert nor notifies anyone twice."""
    state = t.storage(SLA_ALERT_STATE)
    return [
        f"""CREATE TABLE IF NOT EXISTS {state}{t.on_cluster} (
    Channel LowCardinality(String),
    Fingerprint String,
    AlertName LowCardinality(String),
    Labels Map(LowCardinality(String), String),
    Annotations Map(LowCardinality(String), String),
    Status LowCardinality(String),
    Threshold Float64,
    StartsAt DateTime64(3, 'UTC'),
    EndsAt DateTime64(3, 'UTC'),
    UpdatedAt DateTime64(3, 'UTC')
) ENGINE = {t.engine(SLA_ALERT_STATE, "ReplacingMergeTree", "UpdatedAt")}
ORDER BY (Channel, Fingerprint)""",
        *t.distributed(SLA_ALERT_STATE, "cityHash64(Fingerprint)"),
    ]


def replayed_event_id(replay_of: str, own_event_id: str) -> str:
    """The event a span is an attempt of: the one it replays (``biz.replay.of``) when it names
    one, else its own ``biz.event.id``. Middleware that replays an event under a new event id
    thus adds an attempt to the original event, in every table and answer, rather than a second
    event (migration 13 folds the rows stored before)."""
    return f"if({replay_of} != '', {replay_of}, {own_event_id})"


BUSINESS_SPAN: Final = f"SpanAttributes['{sc.EVENT_TYPE}'] != ''"
"""The ``otel_traces`` rows that are business events: each becomes one ``biz_events`` row."""


def business_event_select(rules: CorrelationRules, source: str) -> str:
    """SELECT that turns ``otel_traces`` rows of ``source`` into ``biz_events`` rows.

    An event's time is its span's start: when the sync step happened, the instant trace UIs show.
    The dimensions are read from the object references in an outer query: written next to them,
    the engine worked the references out three times (expressions with lambdas are not shared),
    4.2 instead of 1.5 µs per span as a plain SELECT (benchmarks/history/ingest.md)."""

    def attr(key: str) -> str:
        return f"SpanAttributes['{key}']"

    error_spellings = ", ".join(f"'{s}'" for s in sc.STATUS_ERROR_SPELLINGS)
    ok_spellings = ", ".join(f"'{s}'" for s in sc.STATUS_OK_SPELLINGS)
    derived = f"""SELECT
    if({attr(sc.EVENT_ID)} != '', {attr(sc.EVENT_ID)}, concat('span:', TraceId, ':', SpanId)) AS SpanEventId,
    {attr(sc.EVENT_TYPE)} AS EventType,
    toDateTime64(Timestamp, 9, 'UTC') AS EventTime,
    Duration AS DurationNs,
    lower({attr(sc.SOURCE_SYSTEM)}) AS SourceSystem,
    lower({attr(sc.TARGET_SYSTEM)}) AS TargetSystem,
    multiIf({attr(sc.OUTCOME)} != '', lower({attr(sc.OUTCOME)}),
            StatusCode IN ({error_spellings}), '{sc.FAILED}', '{sc.SUCCESS}') AS Outcome,
    {attr(sc.ERROR_CATEGORY)} AS ErrorCategory,
    {attr(sc.ERROR_CODE)} AS ErrorCode,
    toDecimal64OrNull({attr(sc.AMOUNT)}, 4) AS Amount,
    upper({attr(sc.CURRENCY)}) AS Currency,
    {attr(sc.PERIOD)} AS Period,
    greatest(toUInt32OrZero({attr(sc.ATTEMPT)}), toUInt32(1)) AS Attempt,
    {attr(sc.REPLAY_OF)} AS ReplayOf,
    ServiceName,
    SpanName,
    TraceId,
    SpanId,
    multiIf(StatusCode IN ({error_spellings}), 'Error',
            StatusCode IN ({ok_spellings}), 'Ok', 'Unset') AS SpanStatus,
    StatusMessage,
    {object_refs_expression(rules)} AS ObjectRefs,
    now64(3, 'UTC') AS IngestedAt,
    {RAW_SPAN_HASH} AS RawSpanHash
FROM {source}
WHERE {BUSINESS_SPAN}"""
    dimensions = {
        "EventId": replayed_event_id("ReplayOf", "SpanEventId"),
        "LegalEntity": f"arrayFirst(p -> p.1 = '{sc.LEGAL_ENTITY}', ObjectRefs).2",
        "Customer": f"arrayFirst(p -> p.1 = '{sc.CUSTOMER}', ObjectRefs).2",
    }
    columns = ",\n    ".join(
        f"{dimensions[name]} AS {name}" if name in dimensions else name
        for name, _ in (*EVENT_COLUMNS, INGESTED_AT, RAW_SPAN)
    )
    return f"SELECT\n    {columns}\nFROM (\n{derived}\n)"


OBJECT_ROW_FACTS: tuple[tuple[str, str], ...] = (
    ("Attempt", "UInt32"),
    ("ObjectRefs", "Array(Tuple(type LowCardinality(String), id String))"),
)
"""What ``biz_event_objects`` rows add to their event's identity, time and outcome (migration 4):
enough to walk the lineage graph from object rows alone, one read per hop."""


def event_object_select(source: str, *, knowledge_time: bool = True) -> str:
    """SELECT that fans a ``biz_events`` row out into one row per referenced object id (with its
    event's knowledge time once migration 8 added it)."""
    extra = (INGESTED_AT,) if knowledge_time else ()
    facts = ",\n    ".join(name for name, _ in (*OBJECT_ROW_FACTS, *extra))
    return f"""SELECT
    ref.type AS ObjectType,
    ref.id AS ObjectId,
    EventId,
    EventType,
    EventTime,
    Outcome,
    TraceId,
    SpanId,
    {facts}
FROM {source}
ARRAY JOIN ObjectRefs AS ref"""


def object_row_facts_ddl(t: Topology) -> list[str]:
    """Migration 4: every object row carries its event's attempt number and object references,
    filled in again from ``biz_events``."""
    objects = t.storage(BIZ_EVENT_OBJECTS)
    tables = [objects, BIZ_EVENT_OBJECTS] if t.cluster else [objects]
    columns = ", ".join(
        f"ADD COLUMN IF NOT EXISTS {name} {kind}" for name, kind in OBJECT_ROW_FACTS
    )
    names = ", ".join(name for name, _ in _OBJECT_COLUMNS + OBJECT_ROW_FACTS)
    return [
        *(f"ALTER TABLE {table}{t.on_cluster} {columns}" for table in tables),
        f"TRUNCATE TABLE IF EXISTS {objects}{t.on_cluster}",
        f"INSERT INTO {BIZ_EVENT_OBJECTS} ({names})\n"
        + event_object_select(BIZ_EVENTS, knowledge_time=False),
    ]


def point_read_layout_ddl(t: Topology) -> list[str]:
    """Migration 5: both business tables re-laid out with ``POINT_READ_LAYOUT``.

    One server: the tables are copied and swapped in (``_relayout_ddl``). A cluster cannot copy
    every shard's rows from one node: there only the compressed-block sizes change (parts written
    and merged from then on use them) and the granule size stays.
    """
    if t.cluster:
        return _modify_business_tables(t, _POINT_READ_BLOCKS)
    return _relayout_ddl(t, POINT_READ_LAYOUT)


COMPACT_PARTS = "min_bytes_for_wide_part = 1099511627776"
"""The business tables' part format since migration 7: every part compact (all columns in one
file, each granule's columns side by side), not wide (a file per column) from 10 MiB on. A
lineage read of a few scattered ids then reads one region per id instead of one per column and
id: 11% less time per lineage, 21% less for a read of 14 events by id
(benchmarks/history/lineage.md)."""


def compact_parts_ddl(t: Topology) -> list[str]:
    """Migration 7: both business tables keep every part compact (``COMPACT_PARTS``).

    A merge that takes in a wide part writes a wide part whatever the setting says, so on one
    server the tables are copied and swapped in (``_relayout_ddl``). On a cluster the setting
    makes new inserts compact; the parts already stored stay wide until re-created shard by shard.
    """
    if t.cluster:
        return _modify_business_tables(t, COMPACT_PARTS)
    return _relayout_ddl(t, f"{POINT_READ_LAYOUT}, {COMPACT_PARTS}")


def _modify_business_tables(t: Topology, settings: str) -> list[str]:
    return [
        f"ALTER TABLE {t.storage(table)}{t.on_cluster} MODIFY SETTING {settings}"
        for table in (BIZ_EVENTS, BIZ_EVENT_OBJECTS)
    ]


def _relayout_ddl(
    t: Topology,
    layout: str,
    specs: tuple[_BusinessTable, ...] = (),
    fills: tuple[str, ...] = (),
) -> list[str]:
    """Business tables of one server (both, as first created, unless ``specs`` says otherwise)
    copied into tables with ``layout`` and swapped in with ``EXCHANGE TABLES`` (the copy is dropped
    first, so a migration cut short is simply run again). The copy takes the table's columns and
    indexes as they are (``AS``), whichever later migrations added; ``fills`` (a SELECT per spec)
    says what goes into each copy, every row as it is by default."""
    statements = []
    specs = specs or (_EVENTS_TABLE, _OBJECTS_TABLE)
    for index, spec in enumerate(specs):
        copy = f"{spec.table}_relayout"
        fill = fills[index] if fills else f"SELECT * FROM {spec.table}"
        statements += [
            f"DROP TABLE IF EXISTS {copy} SYNC",
            f"CREATE TABLE {copy} AS {spec.table}\n"
            f"ENGINE = {spec.engine(t)}\n"
            f"ORDER BY ({spec.order})\nSETTINGS {layout}",
            f"INSERT INTO {copy} {fill}",
            f"EXCHANGE TABLES {spec.table} AND {copy}",
            f"DROP TABLE {copy} SYNC",
        ]
    return statements


EARLINESS = (
    "Earliness",
    "UInt64 MATERIALIZED toUInt64(4611686018427387904 - toUnixTimestamp64Milli(IngestedAt))",
)
"""The business tables' ReplacingMergeTree version since migration 13: larger for a row stored
earlier, so a merge of copies of one fact keeps the first stored, knowledge time and all (without
a version a merge kept the last written, and a fact known at a past ``known_at`` could vanish)."""

CONTENT = ("ContentHash", f"UInt64 MATERIALIZED {CONTENT_HASH}")
"""``biz_events``' content hash column (migration 13), the last part of its sorting key."""

_FIRST_STORED_EVENTS = _BusinessTable(
    BIZ_EVENTS, EVENT_COLUMNS, "EventId, TraceId, SpanId, ContentHash", version=EARLINESS[0]
)
_FIRST_STORED_OBJECTS = _BusinessTable(
    BIZ_EVENT_OBJECTS,
    _OBJECT_COLUMNS,
    _OBJECTS_TABLE.order,
    version=EARLINESS[0],
)


def first_stored_facts_ddl(t: Topology) -> list[str]:
    """Migration 13: facts are append-only (docs/operations.md, "Conflicting versions").

    ``biz_events`` is keyed by span identity and content hash and both business tables keep the
    first stored copy of a row (``EARLINESS``): a span re-sent with other content is a second
    version, kept with its own knowledge time; an exact re-send is still one fact. Stored rows of
    a replay under a new event id are folded into the original event (``replayed_event_id``) and
    the object rows derived again from the event rows.

    One server: both tables are copied and swapped in (``_relayout_ddl``). A cluster cannot copy
    every shard's rows from one node: there the columns are added, and the new sorting key and
    version take effect once the tables are re-created shard by shard.
    """
    statements = []
    tables = ((BIZ_EVENTS, (RAW_SPAN, CONTENT, EARLINESS)), (BIZ_EVENT_OBJECTS, (EARLINESS,)))
    for table, columns in tables:
        added = ", ".join(f"ADD COLUMN IF NOT EXISTS {name} {kind}" for name, kind in columns)
        local = t.storage(table)
        statements += [
            f"ALTER TABLE {name}{t.on_cluster} {added}"
            for name in ([local, table] if t.cluster else [local])
        ]
    if t.cluster:
        return statements
    object_columns = ", ".join(
        name for name, _ in (*_OBJECT_COLUMNS, *OBJECT_ROW_FACTS, INGESTED_AT)
    )
    fills = (
        f"SELECT * REPLACE ({replayed_event_id('ReplayOf', 'EventId')} AS EventId) "
        f"FROM {BIZ_EVENTS}",
        f"({object_columns})\n{event_object_select(BIZ_EVENTS)}",
    )
    return statements + _relayout_ddl(
        t,
        f"{POINT_READ_LAYOUT}, {COMPACT_PARTS}",
        (_FIRST_STORED_EVENTS, _FIRST_STORED_OBJECTS),
        fills,
    )


def derived_views_ddl(t: Topology, rules: CorrelationRules) -> list[str]:
    """The materialized views generated from the correlation rules (dropped and re-created)."""
    events = t.storage(BIZ_EVENTS)
    objects = t.storage(BIZ_EVENT_OBJECTS)
    return [
        f"DROP VIEW IF EXISTS {events}_mv{t.on_cluster}",
        f"DROP VIEW IF EXISTS {objects}_mv{t.on_cluster}",
        f"CREATE MATERIALIZED VIEW {objects}_mv{t.on_cluster} TO {objects} AS\n"
        + event_object_select(events),
        f"CREATE MATERIALIZED VIEW {events}_mv{t.on_cluster} TO {events} AS\n"
        + business_event_select(rules, t.storage(OTEL_TRACES)),
    ]


def knowledge_time_ddl(t: Topology) -> list[str]:
    """Migration 8: both business tables carry ``IngestedAt`` (knowledge time) with a minmax index,
    so that the state evaluator reads only the rows stored since its watermark."""
    column, kind = INGESTED_AT
    statements = []
    for table in (BIZ_EVENTS, BIZ_EVENT_OBJECTS):
        local = t.storage(table)
        fallback = (
            KNOWLEDGE_FALLBACK if table == BIZ_EVENTS else "toDateTime64(EventTime, 3, 'UTC')"
        )
        for name in [local, table] if t.cluster else [local]:
            statements.append(
                f"ALTER TABLE {name}{t.on_cluster} ADD COLUMN IF NOT EXISTS {column} {kind} "
                f"DEFAULT {fallback}"
            )
        statements += [
            f"ALTER TABLE {local}{t.on_cluster} ADD INDEX IF NOT EXISTS idx_ingested_at "
            f"{column} TYPE minmax GRANULARITY 1",
            f"ALTER TABLE {local}{t.on_cluster} MATERIALIZE INDEX idx_ingested_at",
        ]
    return statements


def state_tables_ddl(t: Topology) -> list[str]:
    """Migration 8: the business state the evaluator keeps (``sla_timers``) and its lease.

    ``sla_timers`` is append-only: every re-derivation that changes a timer appends a version
    stamped with the knowledge time it was derived at (``KnownAt``); an answer for a past
    ``known_at`` reads the versions known by then, so it never changes. The instants at which a
    timer changes state (warning shares crossed, deadline, stop) are stored, so its state at any
    ``as_of`` is a comparison. Ordered by key object, so a re-derivation reads its keys' versions
    with one index range each; sharded (on a cluster) by key, so a key's versions meet on one
    shard.
    """
    timers = t.storage(SLA_TIMERS)
    lease = t.storage(EVALUATOR_LEASE)
    return [
        f"""CREATE TABLE IF NOT EXISTS {timers}{t.on_cluster} (
    KeyType LowCardinality(String),
    KeyId String,
    Sla LowCardinality(String),
    StartEventId String,
    KnownAt DateTime64(3, 'UTC'),
    Deleted UInt8,
    Digest UInt64,
    StartedAt DateTime64(6, 'UTC'),
    StartPeriod LowCardinality(String),
    Deadline DateTime64(6, 'UTC'),
    TargetSeconds Float64,
    WarningShares Array(Float64),
    WarningAt Array(DateTime64(6, 'UTC')),
    StopEventId String,
    StoppedAt Nullable(DateTime64(6, 'UTC')),
    StopPeriod LowCardinality(String),
    StopReason LowCardinality(String),
    ElapsedSeconds Float64,
    LegalEntity LowCardinality(String),
    Customer String,
    Amount Nullable(Decimal(18, 4)),
    Currency LowCardinality(String),
    INDEX idx_known_at KnownAt TYPE minmax GRANULARITY 1
) ENGINE = {t.engine(SLA_TIMERS)}
ORDER BY (KeyType, KeyId, Sla, StartEventId, KnownAt)""",
        *t.distributed(SLA_TIMERS, "cityHash64(KeyType, KeyId)"),
        f"""CREATE TABLE IF NOT EXISTS {lease}{t.on_cluster} (
    Name LowCardinality(String),
    Holder String,
    Since DateTime64(3, 'UTC'),
    Heartbeat DateTime64(3, 'UTC'),
    Written DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {t.engine(EVALUATOR_LEASE, "ReplacingMergeTree", "Written")}
ORDER BY (Name, Holder)
TTL toDateTime(Written) + INTERVAL 1 DAY""",
        *t.distributed(EVALUATOR_LEASE, "cityHash64(Name)"),
    ]


TIMER_INSTANTS: Final = "arrayConcat(WarningAt, [StartedAt, Deadline, ifNull(StoppedAt, Deadline)])"
"""The instants at which an ``sla_timers`` version's alerting can change: its start, each warning
share, its deadline and its stop."""

TIMER_LAST_INSTANT: Final = f"arrayMax({TIMER_INSTANTS})"
"""The last of them, which ``idx_last_instant`` keeps per granule: a read of the timers with an
instant after some moment skips the granules whose timers have all passed theirs."""


def timer_last_instant_ddl(t: Topology) -> list[str]:
    """Migration 31: a minmax index on each ``sla_timers`` version's last instant
    (``TIMER_LAST_INSTANT``), so that the alerting's read of the timers whose instants passed since
    the last read (``slas.timer_answers.CHANGED``, every tick that wrote versions) reads the
    granules of timers with an instant still ahead or just passed, not every version stored (at
    10M spans 165 ms CPU a tick before, 17 after). Built for the stored parts by a mutation that
    runs in the background; until it ends, a read is as before."""
    timers = t.storage(SLA_TIMERS)
    return [
        f"ALTER TABLE {timers}{t.on_cluster} ADD INDEX IF NOT EXISTS idx_last_instant "
        f"{TIMER_LAST_INSTANT} TYPE minmax GRANULARITY 1",
        f"ALTER TABLE {timers}{t.on_cluster} MATERIALIZE INDEX idx_last_instant",
    ]


def close_items_ddl(t: Topology) -> list[str]:
    """Migration 9: ``close_items``, the invoice-level and revenue items close risk weighs, kept
    like ``sla_timers``: append-only versions stamped with ``KnownAt``, with the instants at which
    each item's stage and posting were first attempted and took effect, so that whether it is
    posted, blocked or waiting at any ``as_of`` is a comparison. Ordered by item; the due period is
    what answers filter on (a minmax index skips other periods' granules)."""
    items = t.storage(CLOSE_ITEMS)
    instant = "Nullable(DateTime64(6, 'UTC'))"
    return [
        f"""CREATE TABLE IF NOT EXISTS {items}{t.on_cluster} (
    ItemType LowCardinality(String),
    ItemId String,
    KnownAt DateTime64(3, 'UTC'),
    Deleted UInt8,
    Digest UInt64,
    Kind LowCardinality(String),
    LegalEntity LowCardinality(String),
    Customer String,
    Currency LowCardinality(String),
    Amount Nullable(Decimal(18, 4)),
    DuePeriod LowCardinality(String),
    StageEventId String,
    StageFirstAt {instant},
    StageEffectiveAt {instant},
    PostingEventId String,
    PostingType LowCardinality(String),
    PostingFirstAt {instant},
    PostingEffectiveAt {instant},
    PostedPeriod LowCardinality(String),
    StageSeconds Float64,
    Invoice String,
    UpstreamEventId String,
    UpstreamEventType LowCardinality(String),
    UpstreamFirstAt {instant},
    INDEX idx_due_period DuePeriod TYPE set(256) GRANULARITY 4
) ENGINE = {t.engine(CLOSE_ITEMS)}
ORDER BY (ItemType, ItemId, KnownAt)""",
        *t.distributed(CLOSE_ITEMS, "cityHash64(ItemType, ItemId)"),
    ]


def timer_changes_ddl(t: Topology) -> list[str]:
    """Migration 14: ``sla_timer_changes``, each timer version's state pieces as signed rows, so
    that the state of every timer at an ``as_of`` known at a ``known_at`` is a sum over rows with
    ``Instant <= as_of AND KnownAt <= known_at`` rather than a sort of every version
    (``slas/timer_changes.py``). A version adds +1 where each of its pieces begins and -1 where it
    ends; the version that supersedes it takes its rows back (the same rows negated, stamped with
    the new ``KnownAt``). Ordered as the timer lists read (SLA, urgency, deadline, key), so a list
    stops at its limit; sharded like ``sla_timers``, by key.

    ``sla_timer_change_days`` sums the rows per SLA, state, day of ``Instant``, day from which the
    trend counts the piece (``CountsFrom``) and day they became known; ``sla_timer_change_ticks``
    the same per instant they became known, read for one knowledge day only. Views fill both at
    every insert. An answer adds whole days from them (days known before ``known_at``'s, then that
    day's ticks up to it) and reads from ``sla_timer_changes`` only the rows of ``as_of``'s own
    day. ``VersionDay`` lets the facts retention expire a version's sums with its rows. Migration
    27 puts both sums, and migration 21's bucket sums, into one table (``timer_sums_ddl``).
    """
    changes = t.storage(SLA_TIMER_CHANGES)
    days = t.storage(SLA_TIMER_CHANGE_DAYS)
    ticks = t.storage(SLA_TIMER_CHANGE_TICKS)
    return [
        f"""CREATE TABLE IF NOT EXISTS {changes}{t.on_cluster} (
    Sla LowCardinality(String),
    Urgency UInt8,
    Deadline DateTime64(6, 'UTC'),
    KeyId String,
    StartEventId String,
    KeyType LowCardinality(String),
    Version UInt64,
    Stopped UInt8,
    Instant DateTime64(6, 'UTC'),
    KnownAt DateTime64(3, 'UTC'),
    Delta Int8,
    State UInt8,
    CountsFrom DateTime64(6, 'UTC'),
    StartedAt DateTime64(6, 'UTC'),
    StoppedAt Nullable(DateTime64(6, 'UTC')),
    StopReason LowCardinality(String),
    StopEventId String,
    ElapsedSeconds Float64,
    TargetSeconds Float64,
    LegalEntity LowCardinality(String),
    Amount Nullable(Decimal(18, 4)),
    Currency LowCardinality(String),
    VersionKnownAt DateTime64(3, 'UTC'),
    INDEX idx_known_at KnownAt TYPE minmax GRANULARITY 1,
    INDEX idx_instant Instant TYPE minmax GRANULARITY 1,
    INDEX idx_counts_from CountsFrom TYPE minmax GRANULARITY 1
) ENGINE = {t.engine(SLA_TIMER_CHANGES)}
ORDER BY (Sla, Urgency, Deadline, KeyId, StartEventId, KeyType, Version, Stopped, Instant, KnownAt)""",
        *t.distributed(SLA_TIMER_CHANGES, "cityHash64(KeyType, KeyId)"),
        *_change_sums_ddl(t, days, changes, "KnownDay", "(Sla, KnownDay, Day, CountsDay, State)"),
        *_change_sums_ddl(
            t, ticks, changes, "KnownAt", "(KnownDay, Sla, KnownAt, Day, CountsDay, State)"
        ),
    ]


_STATE_SUMMED = (
    ("State", "UInt8", "State"),
    ("Day", "Date32", "toDate32(Instant)"),
    ("CountsDay", "Date32", "toDate32(CountsFrom)"),
)
"""What ``sla_timer_change_days`` and ``_ticks`` sum by, besides SLA and knowledge: (column, type,
expression over ``sla_timer_changes``)."""

ELAPSED_BUCKET_SECONDS = 300
"""The width, in business seconds, of the buckets ``sla_timer_elapsed_days`` and ``_ticks`` count
stopped timers in. Stored rows keep the width they were summed with: changing it means
truncating those tables and filling them again (migration 21's last statements)."""


def elapsed_bucket_sql(elapsed: str) -> str:
    """SQL of the bucket the business seconds ``elapsed`` fall in (the one definition: the views,
    the backfill and the answers all use it)."""
    return f"toUInt32(greatest({elapsed}, 0) / {ELAPSED_BUCKET_SECONDS})"


_ELAPSED_SUMMED = (
    ("Bucket", "UInt32", elapsed_bucket_sql("ElapsedSeconds")),
    ("Day", "Date32", "toDate32(Instant)"),
)
"""What ``sla_timer_elapsed_days`` and ``_ticks`` sum the stopped pieces by, besides SLA and
knowledge."""


def _change_sums_ddl(
    t: Topology,
    table: str,
    changes: str,
    known: str,
    order: str,
    summed: tuple[tuple[str, str, str], ...] = _STATE_SUMMED,
    where: str = "",
) -> list[str]:
    """A sum of ``sla_timer_changes``' rows (those ``where`` keeps) per SLA, the ``summed``
    columns and knowledge (its day, or its instant), filled by a view at insert."""
    name = table.removesuffix("_local")
    columns = "".join(f"\n    {column} {kind}," for column, kind, _ in summed)
    known_column = (
        "KnownDay Date32, KnownAt DateTime64(3, 'UTC'),"
        if known == "KnownAt"
        else "KnownDay Date32,"
    )
    return [
        f"""CREATE TABLE IF NOT EXISTS {table}{t.on_cluster} (
    Sla LowCardinality(String),{columns}
    {known_column}
    VersionDay Date32,
    Delta Int64
) ENGINE = {t.engine(name, "SummingMergeTree")}
ORDER BY ({order.strip("()")}, VersionDay)""",
        *t.distributed(name, "cityHash64(Sla)"),
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {table}_mv{t.on_cluster} TO {table} AS
{_change_sums_select(changes, known, summed, where)}""",
    ]


def _change_sums_select(
    changes: str, known: str, summed: tuple[tuple[str, str, str], ...], where: str
) -> str:
    """The rows a sum of ``sla_timer_changes`` adds (its view's select, and a backfill's)."""
    known_select = "toDate32(KnownAt) AS KnownDay" + (", KnownAt" if known == "KnownAt" else "")
    columns = ", ".join(
        column if expression == column else f"{expression} AS {column}"
        for column, _, expression in summed
    )
    return f"""SELECT Sla, {columns}, {known_select},
    toDate32(VersionKnownAt) AS VersionDay, toInt64(Delta) AS Delta
FROM {changes}{f"{chr(10)}WHERE {where}" if where else ""}"""


CHANGE_PROJECTIONS = {
    "by_instant": "Sla, State, Stopped, Instant, KnownAt, CountsFrom, ElapsedSeconds, Delta "
    "ORDER BY Instant",
    "by_decision": "Sla, State, Instant, KnownAt, CountsFrom, Delta ORDER BY CountsFrom",
}
"""The orders, besides the timer lists' own, in which answers read ``sla_timer_changes``' rows:
one day of ``Instant`` (the rows the daily sums leave out), and the rows decided on a trend
instant's day."""

_STOPPED_PIECES = f"""SELECT Sla, {elapsed_bucket_sql("ElapsedSeconds")} AS Bucket, ElapsedSeconds,
    Instant, KnownAt, Delta, VersionKnownAt
FROM {{changes}}
WHERE Stopped = 1"""
"""The rows of ``sla_timer_elapsed``: every stopped piece's, with its elapsed bucket."""


def timer_change_reads_ddl(t: Topology) -> list[str]:
    """Migration 21: what makes ``/slas`` and its trend cost the answer, not the history
    (``slas/timer_changes.py``). ``sla_timer_changes`` gets three projections
    (``CHANGE_PROJECTIONS``), built for the rows already stored by a mutation that runs in the
    background (until it ends, the answers read those parts as before: same rows, slower).
    ``sla_timer_elapsed_days`` and ``_ticks`` count the stopped pieces per SLA, bucket of
    ``ELAPSED_BUCKET_SECONDS`` business seconds, day of ``Instant`` and knowledge, as the state
    sums do: an exact percentile finds the bucket of its rank from them and reads only that
    bucket's rows, from ``sla_timer_elapsed`` (the stopped pieces ordered by SLA, bucket and
    elapsed time). Views fill the three at insert; the rows already stored are copied into them
    here (emptied first, so a cut-short migration run again counts every row once). Run with no
    evaluator recording meanwhile, as ``serve`` and ``syncsight migrate`` do."""
    changes = t.storage(SLA_TIMER_CHANGES)
    stopped = t.storage(SLA_TIMER_ELAPSED)
    days = t.storage(SLA_TIMER_ELAPSED_DAYS)
    ticks = t.storage(SLA_TIMER_ELAPSED_TICKS)
    sums = (
        (days, "KnownDay", "(Sla, KnownDay, Day, Bucket)"),
        (ticks, "KnownAt", "(KnownDay, Sla, KnownAt, Day, Bucket)"),
    )
    return [
        *(
            f"ALTER TABLE {changes}{t.on_cluster} ADD PROJECTION IF NOT EXISTS {name} "
            f"(SELECT {body})"
            for name, body in CHANGE_PROJECTIONS.items()
        ),
        *(
            f"ALTER TABLE {changes}{t.on_cluster} MATERIALIZE PROJECTION {name}"
            for name in CHANGE_PROJECTIONS
        ),
        f"""CREATE TABLE IF NOT EXISTS {stopped}{t.on_cluster} (
    Sla LowCardinality(String),
    Bucket UInt32,
    ElapsedSeconds Float64,
    Instant DateTime64(6, 'UTC'),
    KnownAt DateTime64(3, 'UTC'),
    Delta Int8,
    VersionKnownAt DateTime64(3, 'UTC')
) ENGINE = {t.engine(SLA_TIMER_ELAPSED)}
ORDER BY (Sla, Bucket, ElapsedSeconds)""",
        *t.distributed(SLA_TIMER_ELAPSED, "cityHash64(Sla)"),
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {stopped}_mv{t.on_cluster} TO {stopped} AS\n"
        + _STOPPED_PIECES.format(changes=changes),
        *(
            statement
            for table, known, order in sums
            for statement in _change_sums_ddl(
                t, table, changes, known, order, _ELAPSED_SUMMED, "Stopped = 1"
            )
        ),
        *(
            f"TRUNCATE TABLE IF EXISTS {table}{t.on_cluster}"
            for table in (stopped, *(table for table, _, _ in sums))
        ),
        f"INSERT INTO {SLA_TIMER_ELAPSED} (Sla, Bucket, ElapsedSeconds, Instant, KnownAt, Delta, "
        "VersionKnownAt)\n" + _STOPPED_PIECES.format(changes=SLA_TIMER_CHANGES),
        *(
            f"INSERT INTO {table.removesuffix('_local')} "
            f"(Sla, Bucket, Day, {'KnownDay, KnownAt' if known == 'KnownAt' else 'KnownDay'}, "
            "VersionDay, Delta)\n"
            + _change_sums_select(SLA_TIMER_CHANGES, known, _ELAPSED_SUMMED, "Stopped = 1")
            for table, known, _ in sums
        ),
    ]


STATE_SUMS: Final = (0, 1)
"""``sla_timer_sums``' kinds of the state sums: per knowledge day, per tick (the odd kinds)."""
BUCKET_SUMS: Final = (2, 3)
"""``sla_timer_sums``' kinds of the stopped pieces' elapsed bucket sums: per day, per tick."""

_SUMS_EPOCH = "toDateTime64(0, 3, 'UTC')"
_SUMS_KEY = "Kind, KnownDay, Sla, KnownAt, Day, CountsDay, State, Bucket, VersionDay"


def timer_sums_select(changes: str) -> str:
    """The rows ``sla_timer_sums`` adds for rows of ``sla_timer_changes`` (its view's select, and
    the backfill's): each row counted in the state sums, and a stopped piece's in the bucket sums
    too, each per knowledge day and per tick (``KnownAt`` the epoch in the day sums), summed per
    key in the engine before the sums table sorts them."""
    day_sums = f"({STATE_SUMS[0]}, {BUCKET_SUMS[0]})"
    return f"""SELECT Kind, KnownDay, Sla, Tick AS KnownAt, Day, Counts AS CountsDay,
    PieceState AS State, PieceBucket AS Bucket, VersionDay, sum(Change) AS Delta
FROM (
    SELECT Sla, Kind, toDate32(KnownAt) AS KnownDay, toDate32(Instant) AS Day,
        toDate32(VersionKnownAt) AS VersionDay, toInt64(Delta) AS Change,
        if(Kind IN {day_sums}, {_SUMS_EPOCH}, KnownAt) AS Tick,
        if(Kind IN {STATE_SUMS}, toDate32(CountsFrom), toDate32(0)) AS Counts,
        if(Kind IN {STATE_SUMS}, State, 0) AS PieceState,
        if(Kind IN {STATE_SUMS}, 0, {elapsed_bucket_sql("ElapsedSeconds")}) AS PieceBucket
    FROM {changes}
    ARRAY JOIN if(Stopped = 1, {list(STATE_SUMS + BUCKET_SUMS)}, {list(STATE_SUMS)}) AS Kind
)
GROUP BY {_SUMS_KEY}"""


def timer_sums_ddl(t: Topology) -> list[str]:
    """Migration 27: the four sums of ``sla_timer_changes`` (the state sums of migration 14 and the
    elapsed bucket sums of migration 21, each per knowledge day and per tick) as the kinds of one
    table, ``sla_timer_sums``, filled by one view that sums an insert's rows before it writes
    them: four views wrote four parts at every insert, each sorting every row of it. The sums are
    filled again from ``sla_timer_changes`` (emptied first, so a cut-short migration run again
    counts every row once), then the four tables and their views dropped. Run with no evaluator
    recording meanwhile, as ``serve`` and ``syncsight migrate`` do."""
    changes = t.storage(SLA_TIMER_CHANGES)
    sums = t.storage(SLA_TIMER_SUMS)
    replaced = (
        SLA_TIMER_CHANGE_DAYS,
        SLA_TIMER_CHANGE_TICKS,
        SLA_TIMER_ELAPSED_DAYS,
        SLA_TIMER_ELAPSED_TICKS,
    )
    return [
        f"""CREATE TABLE IF NOT EXISTS {sums}{t.on_cluster} (
    Kind UInt8,
    KnownDay Date32,
    Sla LowCardinality(String),
    KnownAt DateTime64(3, 'UTC'),
    Day Date32,
    CountsDay Date32,
    State UInt8,
    Bucket UInt32,
    VersionDay Date32,
    Delta Int64
) ENGINE = {t.engine(SLA_TIMER_SUMS, "SummingMergeTree")}
ORDER BY ({_SUMS_KEY})""",
        *t.distributed(SLA_TIMER_SUMS, "cityHash64(Sla)"),
        *(f"DROP VIEW IF EXISTS {t.storage(table)}_mv{t.on_cluster}" for table in replaced),
        f"TRUNCATE TABLE IF EXISTS {sums}{t.on_cluster}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {sums}_mv{t.on_cluster} TO {sums} AS\n"
        + timer_sums_select(changes),
        f"INSERT INTO {SLA_TIMER_SUMS} ({_SUMS_KEY}, Delta)\n"
        + timer_sums_select(SLA_TIMER_CHANGES),
        *(
            f"DROP TABLE IF EXISTS {name}{t.on_cluster}"
            for table in replaced
            for name in dict.fromkeys((table, t.storage(table)))
        ),
    ]


def event_dimensions_ddl(t: Topology) -> list[str]:
    """Migration 15: ``event_dimensions``, the legal entity and period of every business event as
    the business state resolved them (``slas.event_dimensions``), kept like ``close_items``:
    append-only versions stamped with ``KnownAt``, one whenever a re-derivation resolves an event
    differently. Ordered by event, so a re-derivation and the completeness-and-accuracy report
    read an event's versions with one index range; the projection ``by_period`` orders the same
    rows by period and legal entity, so the report finds the events of one period and entity
    without reading the others' (its cost follows the period, not the stored history). Sharded (on
    a cluster) by event."""
    dimensions = t.storage(EVENT_DIMENSIONS)
    return [
        f"""CREATE TABLE IF NOT EXISTS {dimensions}{t.on_cluster} (
    EventId String,
    KnownAt DateTime64(3, 'UTC'),
    LegalEntity LowCardinality(String),
    Period LowCardinality(String),
    PROJECTION by_period (SELECT * ORDER BY Period, LegalEntity, EventId, KnownAt)
) ENGINE = {t.engine(EVENT_DIMENSIONS)}
ORDER BY (EventId, KnownAt)""",
        *t.distributed(EVENT_DIMENSIONS, "cityHash64(EventId)"),
    ]


def state_chunks_ddl(t: Topology) -> list[str]:
    """Migration 10: the evaluator's scratch for a derivation from scratch, which chunk of whole
    components each event is in, so that a chunk's reads name it with a subquery rather than a
    literal list of hashes. Local to the evaluating node (it is truncated at every use)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {STATE_CHUNKS} (
    Chunk UInt32,
    EventHash UInt64
) ENGINE = MergeTree
ORDER BY (Chunk, EventHash)"""
    ]


def state_component_ddl(t: Topology) -> list[str]:
    """Migration 19: the evaluator's scratch for the components a tick re-derives, closed in
    the engine (``slas.state_queries.component``): their events and objects by id, each object
    with the expansion round that reached it, so that every read names them with a subquery the
    business tables' ordered keys serve (``syncsight_state_chunks`` names events by hash, which
    only a scan of each table can match: right for a derivation from scratch, wrong for a tick).
    Local to the evaluating node, truncated at every use (``Memory`` tables since migration 26)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {STATE_COMPONENT_EVENTS} (
    EventId String
) ENGINE = MergeTree
ORDER BY EventId""",
        f"""CREATE TABLE IF NOT EXISTS {STATE_COMPONENT_OBJECTS} (
    Round UInt16,
    ObjectType LowCardinality(String),
    ObjectId String
) ENGINE = MergeTree
ORDER BY (Round, ObjectType, ObjectId)""",
    ]


def memory_component_ddl(t: Topology) -> list[str]:
    """Migration 26: the component scratch (migration 19) as ``Memory`` tables. A tick truncates
    both and inserts a few rows into them round by round: as ``MergeTree`` every insert wrote a
    part and every ``TRUNCATE`` removed them, and reading them back cost more too (together about
    25 ms of a small tick's 360: benchmarks/history/business-state-tick.md, "Eleventh pass").
    Nothing in them outlives a tick, so losing them with the process loses nothing. Still local to
    the evaluating node (its reads use ``GLOBAL IN``); replaced whole, so applying it again is
    harmless."""
    return [
        f"""CREATE OR REPLACE TABLE {STATE_COMPONENT_EVENTS} (
    EventId String
) ENGINE = Memory""",
        f"""CREATE OR REPLACE TABLE {STATE_COMPONENT_OBJECTS} (
    Round UInt16,
    ObjectType LowCardinality(String),
    ObjectId String
) ENGINE = Memory""",
    ]


LEDGER_LEAVES_ORDER = "EventId, TraceId, SpanId, Day, LeafIndex"
"""A leaf is found by its fact's identity (an evidence pack's proofs)."""
LEDGER_NODES_ORDER = "Day, Level, NodeIndex"
"""A subtree is found by its day, level and index (proofs, roots and a seal's next level)."""


def ledger_ddl(t: Topology) -> list[str]:
    """Migration 11: the evidence ledger (lineage/ledger.py, docs/operations.md "Evidence and the
    ledger").

    ``ledger_leaves`` numbers every day's stored business facts (``biz_events`` rows by knowledge
    day) in the order of their knowledge time and identity, with their RFC 9162 leaf hash, found by
    fact identity; ``ledger_nodes`` holds every complete, aligned subtree of a day's Merkle tree
    (level 0 the leaves), which never changes once written, so any proof reads O(log n) rows;
    ``ledger_heads`` the signed tree heads; ``ledger_downloads`` the access trail of evidence, OCEL
    and report downloads with the signed roots issued. Heads and downloads are append-only
    (MergeTree); leaves and nodes are ReplacingMergeTree so that sealing a day again writes the same
    rows once.
    """
    leaves = t.storage(LEDGER_LEAVES)
    nodes = t.storage(LEDGER_NODES)
    heads = t.storage(LEDGER_HEADS)
    downloads = t.storage(LEDGER_DOWNLOADS)
    return [
        f"""CREATE TABLE IF NOT EXISTS {leaves}{t.on_cluster} (
    Day Date,
    LeafIndex UInt64,
    EventId String,
    TraceId String,
    SpanId String,
    IngestedAt DateTime64(3, 'UTC'),
    LeafHash FixedString(32),
    INDEX idx_day Day TYPE minmax GRANULARITY 1
) ENGINE = {t.engine(LEDGER_LEAVES, "ReplacingMergeTree")}
ORDER BY ({LEDGER_LEAVES_ORDER})""",
        *t.distributed(LEDGER_LEAVES, "cityHash64(Day)"),
        f"""CREATE TABLE IF NOT EXISTS {nodes}{t.on_cluster} (
    Day Date,
    Level UInt8,
    NodeIndex UInt64,
    Hash FixedString(32)
) ENGINE = {t.engine(LEDGER_NODES, "ReplacingMergeTree")}
ORDER BY ({LEDGER_NODES_ORDER})""",
        *t.distributed(LEDGER_NODES, "cityHash64(Day)"),
        f"""CREATE TABLE IF NOT EXISTS {heads}{t.on_cluster} (
    Day Date,
    TreeSize UInt64,
    RootHash String,
    Timestamp DateTime64(3, 'UTC'),
    KeyId String,
    Signature String,
    SealedAt DateTime64(3, 'UTC')
) ENGINE = {t.engine(LEDGER_HEADS)}
ORDER BY (Day, TreeSize, Timestamp)""",
        *t.distributed(LEDGER_HEADS, "cityHash64(Day)"),
        f"""CREATE TABLE IF NOT EXISTS {downloads}{t.on_cluster} (
    At DateTime64(3, 'UTC'),
    TokenName String,
    Role LowCardinality(String),
    Kind LowCardinality(String),
    Path String,
    Parameters String,
    RootHash String,
    KeyId String,
    Signature String
) ENGINE = {t.engine(LEDGER_DOWNLOADS)}
ORDER BY At""",
        *t.distributed(LEDGER_DOWNLOADS, "rand()"),
    ]


def ledger_point_read_ddl(t: Topology) -> list[str]:
    """Migration 22: the ledger's leaves and subtrees laid out for point reads
    (``POINT_READ_LAYOUT``). An evidence pack reads the leaves of its facts by event id and about a
    hundred subtree hashes scattered over a day's tree; with 8,192-row granules each of them costs
    a granule of random 32-byte hashes (about 260 KiB), with 256-row granules 8 KiB: about half the
    CPU of those two reads at 10M spans (benchmarks/history/evidence.md, "Evidence pack, fifth
    pass"). Nothing is written at ingest; a seal writes the same rows as before.

    One server: both tables copied and swapped in (``_relayout_ddl``); a cluster: only the
    compressed-block sizes change (as migration 5)."""
    tables = (
        _BusinessTable(LEDGER_LEAVES, (), LEDGER_LEAVES_ORDER),
        _BusinessTable(LEDGER_NODES, (), LEDGER_NODES_ORDER),
    )
    if t.cluster:
        return [
            f"ALTER TABLE {t.storage(spec.table)}{t.on_cluster} MODIFY SETTING {_POINT_READ_BLOCKS}"
            for spec in tables
        ]
    return _relayout_ddl(t, POINT_READ_LAYOUT, tables)


EVIDENCE_SPAN_READ_LAYOUT = f"index_granularity = 64, {_POINT_READ_BLOCKS}, {COMPACT_PARTS}"
"""``evidence_spans``' layout: a pack reads 10 to 60 scattered spans by key, each then costs one
64-row granule of one compact part (the fourth pass measured 64 against 32 and 256 rows,
benchmarks/history/evidence.md, "Evidence pack and report, fourth pass")."""


def evidence_spans_ddl(t: Topology) -> list[str]:
    """Migration 25: ``evidence_spans``, the raw copies evidence packs show and hash, in the
    columns a pack shows with each copy's ``RAW_SPAN_HASH``, ordered by the pack's lookup key
    (trace id, span id, raw hash) for point reads. Written off the ingest path: the SLA
    evaluator's tick copies the raw rows of the business rows stored in the window it read
    (``lineage.evidence_spans.record_window``); a pack reads ``otel_traces`` for what is not
    copied yet. The columns keep ``otel_traces``' types, so a copy reads back as the same values.
    A copy recorded twice is the same row: the replacing engine keeps one."""
    table = t.storage(EVIDENCE_SPANS)
    return [
        f"""CREATE TABLE IF NOT EXISTS {table}{t.on_cluster} (
    TraceId String,
    SpanId String,
    RawSpanHash UInt64,
    Timestamp DateTime64(9),
    ParentSpanId String,
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ServiceName LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeName String,
    ScopeVersion String,
    SpanAttributes Map(LowCardinality(String), String),
    Duration UInt64,
    StatusCode LowCardinality(String),
    StatusMessage String,
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ),
    Links Nested (
        TraceId String,
        SpanId String,
        Attributes Map(LowCardinality(String), String)
    )
) ENGINE = {t.engine(EVIDENCE_SPANS, "ReplacingMergeTree")}
ORDER BY (TraceId, SpanId, RawSpanHash)
SETTINGS {EVIDENCE_SPAN_READ_LAYOUT}""",
        *t.distributed(EVIDENCE_SPANS),
    ]


EVIDENCE_COPY_COLUMNS: Final = (
    "TraceId, SpanId, RawSpanHash, Timestamp, ParentSpanId, SpanName, SpanKind, ServiceName, "
    "ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, "
    "StatusMessage, Events.Timestamp, Events.Name, Events.Attributes, "
    "Links.TraceId, Links.SpanId, Links.Attributes"
)
"""The columns of an ``evidence_spans`` copy, each (``RawSpanHash`` aside) its raw row's own."""

EVIDENCE_COPY_SELECT: Final = EVIDENCE_COPY_COLUMNS.replace(
    "RawSpanHash", f"{RAW_SPAN_HASH} AS RawSpanHash"
)
"""``EVIDENCE_COPY_COLUMNS`` selected from ``otel_traces`` rows."""


def evidence_spans_at_ingest_ddl(t: Topology) -> list[str]:
    """Migration 30: the raw copies of business spans written by the insert that stores them, a
    view on ``otel_traces`` as the business tables' are, rather than copied by the evaluator's
    tick from a read of ``otel_traces`` (benchmarks/history/business-state-tick.md, "Fourteenth
    pass"). The instant from which every business row's copy is written with it goes into
    ``EVIDENCE_SPANS_AT_INGEST``: a tick copies
    windows that start before it (rows stored before the view, or stored anew by a rebuild since)
    as before, and moves the copies' watermark over the others. An insert already running when
    the view was created (or, on a cluster, reaching a node that created it late) may store rows
    after that instant without their copies: a pack reads those from ``otel_traces``, as it reads
    any span not copied yet (the same records)."""
    copies = t.storage(EVIDENCE_SPANS)
    return [
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {copies}_mv{t.on_cluster} TO {copies} AS
SELECT {EVIDENCE_COPY_SELECT}
FROM {t.storage(OTEL_TRACES)}
WHERE {BUSINESS_SPAN}""",
        f"""INSERT INTO {SCHEMA_STATE} (Key, Value, UpdatedAt)
SELECT '{EVIDENCE_SPANS_AT_INGEST}',
       toString(now64(3, 'UTC')), now64(3, 'UTC')""",
    ]


def work_item_events_ddl(t: Topology) -> list[str]:
    """Migration 12: the work queue's history, append-only: one row per action on a work item (a
    failure that blocks items, keyed by the failed event's id, or a breached timer, keyed by SLA,
    key and start event), with who took it and the owner and legal entity the item had then.
    Ordered by item and action, so an item's latest action of each kind is read with one index
    range (``ORDER BY ... DESC LIMIT 1 BY``); sharded (on a cluster) by item."""
    events = t.storage(WORK_ITEM_EVENTS)
    return [
        f"""CREATE TABLE IF NOT EXISTS {events}{t.on_cluster} (
    ItemId String,
    Kind LowCardinality(String),
    EventId String,
    Sla LowCardinality(String),
    KeyType LowCardinality(String),
    KeyId String,
    Action LowCardinality(String),
    Actor String,
    Assignee String,
    SnoozedUntil Nullable(DateTime64(3, 'UTC')),
    Text String,
    Owner LowCardinality(String),
    LegalEntity LowCardinality(String),
    At DateTime64(6, 'UTC')
) ENGINE = {t.engine(WORK_ITEM_EVENTS)}
ORDER BY (ItemId, Action, At)""",
        *t.distributed(WORK_ITEM_EVENTS, "cityHash64(ItemId)"),
    ]


def item_superseded_ddl(t: Topology) -> list[str]:
    """Migration 16: ``close_item_superseded``, for every ``close_items`` version another replaced,
    when it was replaced (``slas/item_versions.py``): each item's version in effect at a
    ``known_at`` is the one stored and not replaced by then, a filter rather than a sort of every
    version. Ordered and sharded like ``close_items``."""
    superseded = t.storage(CLOSE_ITEM_SUPERSEDED)
    return [
        f"""CREATE TABLE IF NOT EXISTS {superseded}{t.on_cluster} (
    ItemType LowCardinality(String),
    ItemId String,
    KnownAt DateTime64(3, 'UTC'),
    SupersededAt DateTime64(3, 'UTC'),
    INDEX idx_superseded_at SupersededAt TYPE minmax GRANULARITY 1
) ENGINE = {t.engine(CLOSE_ITEM_SUPERSEDED)}
ORDER BY (ItemType, ItemId, KnownAt)""",
        *t.distributed(CLOSE_ITEM_SUPERSEDED, "cityHash64(ItemType, ItemId)"),
    ]


BLOCKER_FACT_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (f"{step}{name}", kind)
    for step in ("Stage", "Posting", "Upstream")
    for name, kind in (
        ("ErrorCategory", "LowCardinality(String)"),
        ("ErrorCode", "String"),
        ("ErrorSince", "Nullable(DateTime64(6, 'UTC'))"),
    )
)
"""Per step an item waits on (its stage event, its posting, the root cause upstream), the error
of the step's latest failed attempt and since when its failures have had that error
(``slas.item_rows``); empty in versions written before migration 20."""

_NEVER = "toDateTime64(0, 6, 'UTC')"
_NOT_YET = "toDateTime64('2262-01-01 00:00:00', 6, 'UTC')"
HELD_UNTIL = f"""if(
    (notEmpty(StageEventId) AND (StageEffectiveAt IS NULL OR StageFirstAt < StageEffectiveAt))
    OR (Kind = 'invoice' AND notEmpty(PostingEventId)
        AND (PostingEffectiveAt IS NULL OR PostingFirstAt < PostingEffectiveAt))
    OR notEmpty(UpstreamEventId),
    ifNull(if(Kind = 'invoice', PostingEffectiveAt, StageEffectiveAt), {_NOT_YET}),
    {_NEVER})"""
"""An upper bound of the instants at which a version's item can be held (``slas.close_sums.
item_state_sql``'s ``blocked`` implies ``as_of < HeldUntil``): the epoch when no step of it ever
failed (every step took effect at its first attempt, no failure upstream), else the instant it
settled (its posting took effect; far in the future while it has not)."""


def held_items_ddl(t: Topology) -> list[str]:
    """Migration 20: ``close_items`` keeps the facts of the failures that hold each item
    (``BLOCKER_FACT_COLUMNS``), so that the blocked-invoice answer reads no ``biz_events``; and a
    projection ordered by ``HeldUntil`` puts the versions of items that can be held at an instant
    together, so that the answer reads only those (``HeldUntil > as_of``, one range) instead of
    every item in effect."""
    local = t.storage(CLOSE_ITEMS)
    columns = [*(f"{name} {kind}" for name, kind in BLOCKER_FACT_COLUMNS)]
    columns.append(f"HeldUntil DateTime64(6, 'UTC') DEFAULT {HELD_UNTIL}")
    added = ", ".join(f"ADD COLUMN IF NOT EXISTS {column}" for column in columns)
    return [
        *(
            f"ALTER TABLE {name}{t.on_cluster} {added}"
            for name in ([local, CLOSE_ITEMS] if t.cluster else [local])
        ),
        f"ALTER TABLE {local}{t.on_cluster} ADD PROJECTION IF NOT EXISTS held "
        "(SELECT * ORDER BY HeldUntil, ItemType, ItemId, KnownAt)",
        f"ALTER TABLE {local}{t.on_cluster} MATERIALIZE PROJECTION held",
    ]


PIECE_NEVER = "toDateTime64('2299-12-31 00:00:00', 6, 'UTC')"
"""The end of a piece of a ``close_items`` version that never ends (its last)."""

_PIECE_SUMMED = "DuePeriod, LegalEntity, Currency, State"


def piece_change_sums(sign: str) -> str:
    """The items and the exact money a row of ``close_item_pieces`` adds with ``sign`` (an item
    without an amount counts 0)."""
    return f"toInt64({sign}) AS Items, toDecimal128(ifNull(Amount, 0), 4) * {sign} AS Money"


def piece_change_columns(instant: str, sign: str) -> str:
    """What a row of ``close_item_pieces`` adds to the sums at ``instant`` (its ``Begins`` with
    its ``Delta``, its ``Ends`` with the opposite sign): the instant, its day, the knowledge it
    counts by, and ``piece_change_sums``."""
    return f"""{instant} AS Instant, toDate32({instant}) AS Day,
    toDate32(KnownAt) AS KnownDay, KnownAt, toDate32(VersionKnownAt) AS VersionDay,
    {piece_change_sums(sign)}"""


def piece_changes_select(pieces: str) -> str:
    """Each row of ``close_item_pieces`` as the changes it makes to the sums of its days: where it
    begins, and where it ends (never for a last piece). The views' select."""
    return f"""SELECT {_PIECE_SUMMED}, {piece_change_columns("change.1", "change.2")}
FROM {pieces}
ARRAY JOIN arrayFilter(c -> c.1 < {PIECE_NEVER},
    [(Begins, toInt8(Delta)), (Ends, toInt8(-Delta))]) AS change"""


def _record_item_versions_again(t: Topology) -> list[str]:
    """Empty the replaced versions, the pieces and every table their views fill (the sums, the
    completed stages; those a migration has not made yet are skipped) and set their watermark back
    to the epoch: the next tick records every stored close item version again
    (``slas.item_versions``). Every filled table is named here, whichever migration calls it: one
    left out would keep its rows and get every version's rows a second time."""
    emptied = (
        CLOSE_ITEM_SUPERSEDED,
        CLOSE_ITEM_PIECES,
        CLOSE_ITEM_PIECE_DAYS,
        CLOSE_ITEM_PIECE_TICKS,
        CLOSE_STAGE_DURATIONS,
        CLOSE_ITEM_PIECE_CHANGES,
    )
    return [
        *(f"TRUNCATE TABLE IF EXISTS {t.storage(table)}{t.on_cluster}" for table in emptied),
        f"INSERT INTO {SCHEMA_STATE} (Key, Value, UpdatedAt) "
        f"VALUES ('{CLOSE_ITEM_VERSIONS_WATERMARK}', '1970-01-01T00:00:00+00:00', now64(3))",
    ]


COMPLETED_STAGE_PIECE = (
    f"Kind = 'invoice' AND StageSeconds >= 0 AND Ends = {PIECE_NEVER}"
    " AND PostingEffectiveAt IS NOT NULL"
)
"""The one row of ``close_item_pieces`` a version of an invoice item whose stage completed adds
or takes back (its last piece: the item posted), with what the stage took in business seconds."""


def close_stage_durations_ddl(t: Topology) -> list[str]:
    """Migration 29: ``close_stage_durations``, the completed invoice stages (billing.ready →
    invoice.posted in business seconds, by legal entity and instant of posting) that project close
    risk's waiting items, as signed rows stamped with ``KnownAt``: the row of each version that
    completed a stage +1, taken back (-1) by the version that replaces it, so that the stages in
    the 180 days before an ``as_of`` known at a ``known_at`` are one range of the table's order
    and a sum, instead of a read of every close item's version. Filled by a view from
    ``close_item_pieces`` (which carries each version's ``StageSeconds`` from here on: its last
    piece is the posted one); as migration 18 does, the pieces are emptied and their watermark set
    back to the epoch, so the next tick records every stored version again, and the answers take
    the path that reads every item until then."""
    pieces = t.storage(CLOSE_ITEM_PIECES)
    durations = t.storage(CLOSE_STAGE_DURATIONS)
    return [
        *(
            f"ALTER TABLE {name}{t.on_cluster} ADD COLUMN IF NOT EXISTS StageSeconds Float64"
            " DEFAULT -1"
            for name in ([pieces, CLOSE_ITEM_PIECES] if t.cluster else [pieces])
        ),
        f"""CREATE TABLE IF NOT EXISTS {durations}{t.on_cluster} (
    PostedAt DateTime64(6, 'UTC'),
    LegalEntity LowCardinality(String),
    StageSeconds Float64,
    KnownAt DateTime64(3, 'UTC'),
    VersionKnownAt DateTime64(3, 'UTC'),
    Delta Int8
) ENGINE = {t.engine(CLOSE_STAGE_DURATIONS)}
ORDER BY (PostedAt, LegalEntity)""",
        *t.distributed(CLOSE_STAGE_DURATIONS, "cityHash64(LegalEntity)"),
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {durations}_mv{t.on_cluster} TO {durations} AS
SELECT assumeNotNull(PostingEffectiveAt) AS PostedAt, LegalEntity, StageSeconds, KnownAt,
    VersionKnownAt, Delta
FROM {pieces}
WHERE {COMPLETED_STAGE_PIECE}""",
        *_record_item_versions_again(t),
    ]


def _piece_sums_view(t: Topology, table: str, changes: str) -> str:
    """The view that fills ``close_item_piece_days`` or ``_ticks`` (``table``) from the pieces'
    ``changes`` (a select of ``piece_change_columns``' columns)."""
    local = t.storage(table)
    known = "KnownAt, " if table == CLOSE_ITEM_PIECE_TICKS else ""
    return f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {local}_mv{t.on_cluster} TO {local} AS
SELECT {_PIECE_SUMMED}, Day, KnownDay, {known}VersionDay, Items, Money
FROM ({changes})"""


def close_item_piece_changes_ddl(t: Topology) -> list[str]:
    """Migration 32: ``close_item_piece_changes``, each row of ``close_item_pieces`` as the changes
    it makes to the close sums (``piece_changes_select``: +Delta where it begins, -Delta where it
    ends), ordered by the instant of the change. The sums at ``as_of`` take whole days from
    ``close_item_piece_days`` / ``_ticks`` and ``as_of``'s own day row by row: from the pieces
    themselves that was two reads of a table ordered by period, entity and state (about a third of
    its granules each at 10M, whatever the day), from here one range of a day's changes. Filled by
    a view as the pieces are written; the daily sums' views now sum its rows (the changes a piece
    makes worked out once per insert, not once per view). As migration 18 does, the pieces are
    emptied and their watermark set back, so the next tick records every stored version again
    (and these tables with it), and the answers take the path that reads every item until
    then."""
    pieces = t.storage(CLOSE_ITEM_PIECES)
    changes = t.storage(CLOSE_ITEM_PIECE_CHANGES)
    return [
        f"""CREATE TABLE IF NOT EXISTS {changes}{t.on_cluster} (
    Instant DateTime64(6, 'UTC'),
    KnownAt DateTime64(3, 'UTC'),
    DuePeriod LowCardinality(String),
    LegalEntity LowCardinality(String),
    Currency LowCardinality(String),
    State UInt8,
    VersionDay Date32,
    Items Int64,
    Money Decimal(38, 4)
) ENGINE = {t.engine(CLOSE_ITEM_PIECE_CHANGES)}
ORDER BY (Instant, KnownAt)""",
        *t.distributed(CLOSE_ITEM_PIECE_CHANGES, "cityHash64(DuePeriod, LegalEntity)"),
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {changes}_mv{t.on_cluster} TO {changes} AS
SELECT Instant, KnownAt, {_PIECE_SUMMED}, VersionDay, Items, Money
FROM ({piece_changes_select(pieces)})""",
        *(
            statement
            for table in (CLOSE_ITEM_PIECE_DAYS, CLOSE_ITEM_PIECE_TICKS)
            for statement in (
                f"DROP VIEW IF EXISTS {t.storage(table)}_mv{t.on_cluster}",
                _piece_sums_view(
                    t,
                    table,
                    "SELECT *, toDate32(Instant) AS Day, toDate32(KnownAt) AS KnownDay"
                    f" FROM {changes}",
                ),
            )
        ),
        *_record_item_versions_again(t),
    ]


_INSTANT = "Nullable(DateTime64(6, 'UTC'))"
CLOSE_ITEM_ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ItemType", "LowCardinality(String)"),
    ("ItemId", "String"),
    ("KnownAt", "DateTime64(3, 'UTC')"),
    ("Kind", "LowCardinality(String)"),
    ("LegalEntity", "LowCardinality(String)"),
    ("Currency", "LowCardinality(String)"),
    ("Amount", "Nullable(Decimal(18, 4))"),
    ("DuePeriod", "LowCardinality(String)"),
    ("StageEventId", "String"),
    ("StageFirstAt", _INSTANT),
    ("StageEffectiveAt", _INSTANT),
    ("PostingEventId", "String"),
    ("PostingType", "LowCardinality(String)"),
    ("PostingFirstAt", _INSTANT),
    ("PostingEffectiveAt", _INSTANT),
    ("PostedPeriod", "LowCardinality(String)"),
    ("UpstreamEventId", "String"),
    ("UpstreamEventType", "LowCardinality(String)"),
    ("UpstreamFirstAt", _INSTANT),
)
"""``close_item_rows``' columns: a version's key and what close risk lists of it
(``slas.close_sums.ASSESSED_COLUMNS``), typed as in ``close_items``."""


def close_item_rows_ddl(t: Topology) -> list[str]:
    """Migration 33: ``close_item_rows``, every ``close_items`` version's key and the columns close
    risk lists of it, laid out for point reads (``POINT_READ_LAYOUT``, compact parts). A
    close-risk answer reads the rows of the versions it lists by key
    (``slas.close_item_pieces.version_rows``): in ``close_items``' 8,192-row granules a few dozen
    scattered versions decompress most of the table's columns (13 ms a read, 20 to 50 at the
    late instants' 30 to 90 versions, at 10M); here 256-row granules and 4 KiB blocks (6 ms).
    ``close_items`` keeps its layout: its ``held`` projection takes the table's granules, and
    the blocked invoices' range reads of it cost more with small ones. Filled by a view as the
    versions are written, and once from the versions stored before it."""
    rows = t.storage(CLOSE_ITEM_ROWS)
    body = ",\n    ".join(f"{name} {kind}" for name, kind in CLOSE_ITEM_ROW_COLUMNS)
    names = ", ".join(name for name, _ in CLOSE_ITEM_ROW_COLUMNS)
    return [
        f"""CREATE TABLE IF NOT EXISTS {rows}{t.on_cluster} (
    {body}
) ENGINE = {t.engine(CLOSE_ITEM_ROWS)}
ORDER BY (ItemType, ItemId, KnownAt)
SETTINGS {POINT_READ_LAYOUT}, {COMPACT_PARTS}""",
        *t.distributed(CLOSE_ITEM_ROWS, "cityHash64(ItemType, ItemId)"),
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {rows}_mv{t.on_cluster} TO {rows} AS
SELECT {names} FROM {t.storage(CLOSE_ITEMS)}""",
        f"INSERT INTO {CLOSE_ITEM_ROWS} ({names})\nSELECT {names} FROM {CLOSE_ITEMS}",
    ]


def close_item_pieces_ddl(t: Topology) -> list[str]:
    """Migration 18: close risk from sums in event time (``slas/close_item_pieces.py``).
    ``close_item_pieces`` holds each ``close_items`` version split into the pieces of event time
    in which its item's state (open, waiting, blocked, posted into another period, posted) stays
    the same (each with the version's columns an answer lists), +1 per piece, and the version that replaces it takes its pieces back (-1, stamped
    with the new ``KnownAt``), as ``sla_timer_changes`` does for timers. Ordered by due period,
    entity, state and end, so that the items in a state at an instant are one range per state.
    ``close_item_piece_days`` and ``_ticks`` sum them per due period, entity, currency, state, day
    and knowledge (its day; for the current knowledge day, its tick), filled by views at insert:
    the money due and at risk at ``as_of`` adds whole days from them and reads only ``as_of``'s own
    day row by row. The rows come from the versions recorded by ``slas.item_versions``: its
    watermark is set back to the epoch here (and ``close_item_superseded`` emptied), so the next
    tick records every stored version's pieces and replaced versions; answers take the path that
    reads every item until then. Run with no evaluator recording meanwhile, as ``serve`` and
    ``syncsight migrate`` do."""
    pieces = t.storage(CLOSE_ITEM_PIECES)
    instant = "DateTime64(6, 'UTC')"
    statements = [
        f"""CREATE TABLE IF NOT EXISTS {pieces}{t.on_cluster} (
    DuePeriod LowCardinality(String),
    LegalEntity LowCardinality(String),
    State UInt8,
    Ends {instant},
    Begins {instant},
    ItemType LowCardinality(String),
    ItemId String,
    KnownAt DateTime64(3, 'UTC'),
    Delta Int8,
    Kind LowCardinality(String),
    Currency LowCardinality(String),
    Amount Nullable(Decimal(18, 4)),
    StageEventId String,
    StageFirstAt Nullable({instant}),
    StageEffectiveAt Nullable({instant}),
    PostingEventId String,
    PostingType LowCardinality(String),
    PostingFirstAt Nullable({instant}),
    PostingEffectiveAt Nullable({instant}),
    PostedPeriod LowCardinality(String),
    UpstreamEventId String,
    UpstreamEventType LowCardinality(String),
    UpstreamFirstAt Nullable({instant}),
    Invoice String,
    Customer String,
    VersionKnownAt DateTime64(3, 'UTC'),
    INDEX idx_begins Begins TYPE minmax GRANULARITY 1,
    INDEX idx_known_at KnownAt TYPE minmax GRANULARITY 1
) ENGINE = {t.engine(CLOSE_ITEM_PIECES)}
ORDER BY (DuePeriod, LegalEntity, State, Ends, Begins, ItemType, ItemId, KnownAt)""",
        *t.distributed(CLOSE_ITEM_PIECES, "cityHash64(ItemType, ItemId)"),
    ]
    for table, known, order in (
        (CLOSE_ITEM_PIECE_DAYS, "", "DuePeriod, LegalEntity, KnownDay, Day"),
        (
            CLOSE_ITEM_PIECE_TICKS,
            "KnownAt DateTime64(3, 'UTC'),",
            "KnownDay, KnownAt, DuePeriod, LegalEntity, Day",
        ),
    ):
        local = t.storage(table)
        statements += [
            f"""CREATE TABLE IF NOT EXISTS {local}{t.on_cluster} (
    DuePeriod LowCardinality(String),
    LegalEntity LowCardinality(String),
    Currency LowCardinality(String),
    State UInt8,
    Day Date32,
    KnownDay Date32,{known}
    VersionDay Date32,
    Items Int64,
    Money Decimal(38, 4)
) ENGINE = {t.engine(table, "SummingMergeTree")}
ORDER BY ({order}, Currency, State, VersionDay)""",
            *t.distributed(table, "cityHash64(DuePeriod, LegalEntity)"),
            _piece_sums_view(t, table, piece_changes_select(pieces)),
        ]
    return [*statements, *_record_item_versions_again(t)]
