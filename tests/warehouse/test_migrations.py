"""Schema migrations against the real engine: exporter compatibility, idempotence, topologies."""

from __future__ import annotations

import re
import time
from datetime import datetime
from decimal import Decimal

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.instants import utc
from tests.templates import admin_client, copy_database
from tests.warehouse.spans import span_row
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import MIGRATIONS, migrate, render_ddl
from warehouse.schema import (
    CLOSE_ITEM_PIECES,
    CLOSE_ITEM_ROW_COLUMNS,
    CLOSE_STAGE_DURATIONS,
    EVIDENCE_SPANS_AT_INGEST,
    OBJECT_ROW_FACTS,
    Topology,
    TopologyError,
    _record_item_versions_again,
    bookkeeping_ddl,
    first_stored_facts_ddl,
    point_read_layout_ddl,
    state_component_ddl,
)
from warehouse.spans import OTEL_TRACES_COLUMNS

BILLED = {
    sc.EVENT_TYPE: sc.BILLING_READY,
    sc.EVENT_ID: "billing.ready:BE-7",
    sc.AMOUNT: "1250.50",
    sc.CURRENCY: "EUR",
    sc.PERIOD: "2026-09",
    sc.object_id_key(sc.BILLING_EVENT): "BE-7",
    sc.object_id_key(sc.PROJECT): "PRJ-1",
}

# Column names and types of the OTel Collector ClickHouse exporter (its otel_traces table).
EXPORTER_COLUMNS = [
    ("Timestamp", "DateTime64(9)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("ParentSpanId", "String"),
    ("TraceState", "String"),
    ("SpanName", "LowCardinality(String)"),
    ("SpanKind", "LowCardinality(String)"),
    ("ServiceName", "LowCardinality(String)"),
    ("ResourceAttributes", "Map(LowCardinality(String), String)"),
    ("ScopeName", "String"),
    ("ScopeVersion", "String"),
    ("SpanAttributes", "Map(LowCardinality(String), String)"),
    ("Duration", "UInt64"),
    ("StatusCode", "LowCardinality(String)"),
    ("StatusMessage", "String"),
    ("Events.Timestamp", "Array(DateTime64(9))"),
    ("Events.Name", "Array(LowCardinality(String))"),
    ("Events.Attributes", "Array(Map(LowCardinality(String), String))"),
    ("Links.TraceId", "Array(String)"),
    ("Links.SpanId", "Array(String)"),
    ("Links.TraceState", "Array(String)"),
    ("Links.Attributes", "Array(Map(LowCardinality(String), String))"),
]


def insert_billed(client: Client, billing_event: str, *, span_id: str) -> None:
    """One billing.ready span of ``billing_event`` into the raw span table."""
    facts = {
        **BILLED,
        sc.EVENT_ID: f"billing.ready:{billing_event}",
        sc.object_id_key(sc.BILLING_EVENT): billing_event,
    }
    client.insert(
        "otel_traces", [span_row(facts, span_id=span_id)], column_names=OTEL_TRACES_COLUMNS
    )


def forget_migration(client: Client, version: int) -> None:
    """Make the database look as if migration ``version`` had never run (the next ``migrate``
    applies it again)."""
    client.command(
        "ALTER TABLE syncsight_schema_migrations DELETE WHERE Version = {version:UInt32}",
        parameters={"version": version},
        settings={"mutations_sync": 1},
    )


def schema_snapshot(client: Client) -> list[tuple[str, str]]:
    rows = client.query(
        "SELECT name, create_table_query FROM system.tables "
        "WHERE database = currentDatabase() ORDER BY name"
    ).result_rows
    return [(str(name), str(ddl)) for name, ddl in rows]


class TestMigrate:
    def test_raw_span_table_has_the_exporter_columns_and_types(self, client: Client) -> None:
        """otel_traces keeps the exporter's column names and types, in its insert order."""
        migrate(client, CorrelationRules.default())
        columns = client.query(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
            "AND table = 'otel_traces' ORDER BY position"
        ).result_rows
        assert [(str(n), str(t)) for n, t in columns] == EXPORTER_COLUMNS

    def test_running_twice_leaves_the_same_schema(self, client: Client) -> None:
        """A second migrate applies nothing and changes no table or view."""
        first = migrate(client, CorrelationRules.default())
        before = schema_snapshot(client)
        second = migrate(client, CorrelationRules.default())
        assert first.applied == tuple(m.version for m in MIGRATIONS)
        assert second.applied == ()
        assert not second.views_recreated
        assert schema_snapshot(client) == before

    def test_changed_rules_recreate_the_views_and_say_so(self, client: Client) -> None:
        """New correlation rules re-generate the derived views and report that a rebuild is due."""
        migrate(client, CorrelationRules.default())
        report = migrate(client, CorrelationRules.from_mapping({"sf.opportunity.id": "contract"}))
        assert report.views_recreated
        assert report.rules_changed
        views = dict(schema_snapshot(client))
        assert "sf.opportunity.id" in views["biz_events_mv"]

    def test_an_existing_exporter_table_is_adopted_not_replaced(self, client: Client) -> None:
        """A database where the OTel Collector already created otel_traces keeps its rows."""
        client.command(render_ddl(Topology(), CorrelationRules.default())[2])  # otel_traces only
        client.command("INSERT INTO otel_traces (TraceId, SpanId) VALUES ('ab', 'cd')")
        migrate(client, CorrelationRules.default())
        assert client.query("SELECT count() FROM otel_traces").result_rows[0][0] == 1


PRE_4_OBJECT_VIEW = """CREATE MATERIALIZED VIEW biz_event_objects_mv TO biz_event_objects AS
SELECT ref.type AS ObjectType, ref.id AS ObjectId, EventId, EventType, EventTime, Outcome,
       TraceId, SpanId
FROM biz_events ARRAY JOIN ObjectRefs AS ref"""


class TestObjectRowFacts:
    def test_migration_4_fills_the_facts_of_stored_rows_and_of_new_spans(
        self, client: Client
    ) -> None:
        """A database from before migration 4: stored object rows get their event's outline,
        and spans that arrive afterwards do too (the views are re-created)."""
        migrate(client, CorrelationRules.default())
        facts = [name for name, _ in OBJECT_ROW_FACTS]
        client.command(
            "ALTER TABLE biz_event_objects " + ", ".join(f"DROP COLUMN {f}" for f in facts)
        )
        client.command("DROP VIEW biz_event_objects_mv")
        client.command(PRE_4_OBJECT_VIEW)
        forget_migration(client, 4)
        insert_billed(client, "BE-7", span_id="00000000000000b1")

        report = migrate(client, CorrelationRules.default())
        insert_billed(client, "BE-8", span_id="00000000000000b2")

        assert report.applied == (4,)
        rows = client.query(
            "SELECT ObjectId, Attempt, ObjectRefs FROM biz_event_objects "
            "WHERE ObjectType = 'billing_event' ORDER BY ObjectId"
        ).result_rows
        assert [(r[0], r[1]) for r in rows] == [("BE-7", 1), ("BE-8", 1)]
        assert all({"type": sc.PROJECT, "id": "PRJ-1"} in r[2] for r in rows)


class TestPointReadLayout:
    def test_migration_5_re_lays_out_the_business_tables_keeping_every_row(
        self, client: Client
    ) -> None:
        """A database from before migration 5 (1,024-row granules): its business rows survive
        the re-layout, the tables get small granules and compressed blocks, and spans that
        arrive afterwards still reach both tables (the views follow the swapped tables)."""
        migrate(client, CorrelationRules.default())
        insert_billed(client, "BE-7", span_id="00000000000000b1")
        for table in ("biz_events", "biz_event_objects"):
            client.command(f"ALTER TABLE {table} MODIFY SETTING min_compress_block_size = 65536")
        forget_migration(client, 5)
        before = business_rows(client)

        report = migrate(client, CorrelationRules.default())
        insert_billed(client, "BE-8", span_id="00000000000000b2")

        assert report.applied == (5,)
        after = business_rows(client)
        assert after["biz_events"][:1] == before["biz_events"]
        assert len(after["biz_events"]) == 2
        assert (
            after["biz_event_objects"][: len(before["biz_event_objects"])]
            == before["biz_event_objects"]
        )
        assert {row[1] for row in after["biz_event_objects"]} == {"BE-7", "BE-8", "PRJ-1"}
        for table in ("biz_events", "biz_event_objects"):
            ddl = client.query(
                "SELECT create_table_query FROM system.tables "
                "WHERE database = currentDatabase() AND name = {name:String}",
                parameters={"name": table},
            ).result_rows[0][0]
            assert "index_granularity = 256" in ddl
            assert "min_compress_block_size = 2048" in ddl
        leftovers = client.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%relayout%'"
        ).result_rows
        assert leftovers == []

    def test_a_cut_short_migration_5_run_again_keeps_every_row(self, client: Client) -> None:
        """Cut short after the swap and before the copy was dropped: running it again starts
        from the swapped-in table and still ends with every row once."""
        migrate(client, CorrelationRules.default())
        insert_billed(client, "BE-7", span_id="00000000000000b1")
        before = business_rows(client)
        statements = point_read_layout_ddl(Topology())
        for statement in statements[: statements.index("DROP TABLE biz_events_relayout SYNC")]:
            client.command(statement)
        for statement in statements:
            client.command(statement)

        assert business_rows(client) == before


class TestCompactParts:
    def test_migration_7_rewrites_wide_parts_compact_keeping_every_row(
        self, client: Client
    ) -> None:
        """A database from before migration 7, its business rows in wide parts: afterwards every
        part is compact, every row is kept, and new spans are written compact too."""
        migrate(client, CorrelationRules.default())
        for table in ("biz_events", "biz_event_objects"):
            client.command(f"ALTER TABLE {table} MODIFY SETTING min_bytes_for_wide_part = 0")
        insert_billed(client, "BE-7", span_id="00000000000000b1")
        insert_billed(client, "BE-6", span_id="00000000000000b0")
        forget_migration(client, 7)
        assert part_types(client) == {"biz_events": {"Wide"}, "biz_event_objects": {"Wide"}}
        before = business_rows(client)

        report = migrate(client, CorrelationRules.default())
        after = business_rows(client)
        insert_billed(client, "BE-8", span_id="00000000000000b2")

        assert report.applied == (7,)
        assert part_types(client) == {"biz_events": {"Compact"}, "biz_event_objects": {"Compact"}}
        assert after == before
        assert [row[0] for row in business_rows(client)["biz_events"]] == [
            "billing.ready:BE-6",
            "billing.ready:BE-7",
            "billing.ready:BE-8",
        ]


OLD_ROWS = """
INSERT INTO biz_events (EventId, EventType, EventTime, Amount, Currency, ReplayOf, TraceId, SpanId,
                        ObjectRefs, IngestedAt) VALUES
('billing.ready:BE-7', 'billing.ready', '2026-09-01 10:00:00', 100, 'EUR', '', 'aa', '01',
 [('billing_event', 'BE-7')], '2026-09-01 10:00:01'),
('billing.ready:BE-7:replay', 'billing.ready', '2026-09-02 10:00:00', 100, 'EUR',
 'billing.ready:BE-7', 'bb', '02', [('billing_event', 'BE-7')], '2026-09-02 10:00:01')
"""


def database_before(client: Client, version: int) -> None:
    """A database as migrations before ``version`` left it (without the derived views)."""
    topology = Topology()
    for statement in bookkeeping_ddl(topology):
        client.command(statement)
    for migration in MIGRATIONS:
        if migration.version >= version:
            break
        for statement in migration.statements(topology):
            client.command(statement)
        client.command(
            "INSERT INTO syncsight_schema_migrations (Version, Name, AppliedAt) "
            "VALUES ({version:UInt32}, {name:String}, now64(3))",
            parameters={"version": migration.version, "name": migration.name},
        )


def insert_billed_amount(client: Client, amount: str) -> None:
    """The billing.ready span of BE-9 with ``amount``, always with the same trace and span ids."""
    facts = {
        **BILLED,
        sc.EVENT_ID: "billing.ready:BE-9",
        sc.object_id_key(sc.BILLING_EVENT): "BE-9",
        sc.AMOUNT: amount,
    }
    client.insert(
        "otel_traces",
        [span_row(facts, span_id="00000000000000b9")],
        column_names=OTEL_TRACES_COLUMNS,
    )
    time.sleep(0.002)  # the next copy is stored at a later millisecond


class TestFirstStoredFacts:
    def test_migration_13_keeps_every_row_folds_replays_and_keeps_versions_apart(
        self, client: Client
    ) -> None:
        """A loaded database from before migration 13: its rows survive, a replay stored under
        a new event id becomes an attempt of the original (object rows too), and afterwards a
        span re-sent with another amount stays a second version through merges while an exact
        re-send stays one row, the first stored."""
        database_before(client, 13)
        client.command(OLD_ROWS)

        report = migrate(client, CorrelationRules.default())
        insert_billed_amount(client, "10.00")
        insert_billed_amount(client, "10.00")
        insert_billed_amount(client, "12.00")
        for table in ("biz_events", "biz_event_objects"):
            client.command(f"OPTIMIZE TABLE {table} FINAL")

        assert report.applied == tuple(m.version for m in MIGRATIONS if m.version >= 13)
        events = client.query(
            "SELECT EventId, SpanId, Amount, IngestedAt FROM biz_events "
            "ORDER BY EventId, SpanId, IngestedAt"
        ).result_rows
        assert [(e, s, a) for e, s, a, _ in events] == [
            ("billing.ready:BE-7", "01", Decimal("100")),
            ("billing.ready:BE-7", "02", Decimal("100")),
            ("billing.ready:BE-9", "00000000000000b9", Decimal("10")),
            ("billing.ready:BE-9", "00000000000000b9", Decimal("12")),
        ]
        assert events[2][3] < events[3][3]
        objects = client.query(
            "SELECT ObjectId, EventId, SpanId FROM biz_event_objects "
            "WHERE ObjectId = 'BE-7' ORDER BY SpanId"
        ).result_rows
        assert [tuple(row) for row in objects] == [
            ("BE-7", "billing.ready:BE-7", "01"),
            ("BE-7", "billing.ready:BE-7", "02"),
        ]
        keys = client.query(
            "SELECT name, sorting_key, engine_full FROM system.tables "
            "WHERE database = currentDatabase() AND name IN ('biz_events', 'biz_event_objects') "
            "ORDER BY name"
        ).result_rows
        assert [(str(n), str(k)) for n, k, _ in keys] == [
            ("biz_event_objects", "ObjectType, ObjectId, EventId, TraceId, SpanId"),
            ("biz_events", "EventId, TraceId, SpanId, ContentHash"),
        ]
        assert all("ReplacingMergeTree(Earliness)" in str(engine) for _, _, engine in keys)

    def test_a_cut_short_migration_13_run_again_keeps_every_row(self, client: Client) -> None:
        """Cut short after the events table was swapped in: running it again ends with every row
        once."""
        database_before(client, 13)
        client.command(OLD_ROWS)
        statements = first_stored_facts_ddl(Topology())
        for statement in statements[: statements.index("DROP TABLE biz_events_relayout SYNC")]:
            client.command(statement)
        for statement in statements:
            client.command(statement)
        rows = client.query("SELECT EventId, SpanId FROM biz_events ORDER BY SpanId").result_rows
        assert [tuple(row) for row in rows] == [
            ("billing.ready:BE-7", "01"),
            ("billing.ready:BE-7", "02"),
        ]


def part_types(client: Client) -> dict[str, set[str]]:
    rows = client.query(
        "SELECT table, groupUniqArray(part_type) FROM system.parts WHERE active "
        "AND database = currentDatabase() AND table IN ('biz_events', 'biz_event_objects') "
        "GROUP BY table"
    ).result_rows
    return {str(table): set(types) for table, types in rows}


def business_rows(client: Client) -> dict[str, list[tuple[object, ...]]]:
    return {
        "biz_events": [
            tuple(row)
            for row in client.query(
                "SELECT EventId, Amount, TraceId, SpanId FROM biz_events ORDER BY EventId"
            ).result_rows
        ],
        "biz_event_objects": [
            tuple(row)
            for row in client.query(
                "SELECT ObjectType, ObjectId, EventId, Attempt FROM biz_event_objects "
                "ORDER BY EventId, ObjectType, ObjectId"
            ).result_rows
        ],
    }


class TestComponentScratch:
    SCRATCH = ("syncsight_state_component_events", "syncsight_state_component_objects")

    def test_migration_26_keeps_the_component_scratch_in_memory(self, client: Client) -> None:
        """A database from before migration 26 (the scratch as migration 19's MergeTree tables,
        rows in them): the tables become empty Memory tables with the same columns, and
        applying the migration again changes nothing."""
        migrate(client, CorrelationRules.default())
        columns = self._columns(client)
        for table in self.SCRATCH:
            client.command(f"DROP TABLE {table}")
        for statement in state_component_ddl(Topology()):
            client.command(statement)
        client.command(f"INSERT INTO {self.SCRATCH[0]} VALUES ('billing.ready:BE-7')")
        assert self._engines(client) == ["MergeTree", "MergeTree"]
        forget_migration(client, 26)

        assert migrate(client, CorrelationRules.default()).applied == (26,)
        assert self._engines(client) == ["Memory", "Memory"]
        assert self._columns(client) == columns
        assert client.query(f"SELECT count() FROM {self.SCRATCH[0]}").result_rows == [(0,)]
        before = schema_snapshot(client)
        forget_migration(client, 26)
        assert migrate(client, CorrelationRules.default()).applied == (26,)
        assert schema_snapshot(client) == before

    def _engines(self, client: Client) -> list[str]:
        rows = client.query(
            "SELECT engine FROM system.tables WHERE database = currentDatabase() "
            "AND name IN {names:Array(String)} ORDER BY name",
            parameters={"names": list(self.SCRATCH)},
        ).result_rows
        return [str(engine) for (engine,) in rows]

    def _columns(self, client: Client) -> list[tuple[str, str, str]]:
        rows = client.query(
            "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() "
            "AND table IN {names:Array(String)} ORDER BY table, position",
            parameters={"names": list(self.SCRATCH)},
        ).result_rows
        return [(str(t), str(n), str(k)) for t, n, k in rows]


class TestEvidenceAtIngest:
    def test_migration_30_copies_the_business_spans_stored_from_then_on(
        self, client: Client
    ) -> None:
        """A database from before migration 30 holding a business span: after the migration the
        next business span's copy is written by its insert (with the raw row's hash, as the
        tick's copy), a span that is no business event gets none, the span stored before gets
        none until a tick copies it, and the instant in between is recorded."""
        migrate(client, CorrelationRules.default())
        client.command("DROP VIEW evidence_spans_mv")
        forget_migration(client, 30)
        insert_billed(client, "BE-7", span_id="00f067aa0ba902b7")
        assert migrate(client, CorrelationRules.default()).applied == (30,)
        insert_billed(client, "BE-8", span_id="00f067aa0ba902b8")
        client.insert(
            "otel_traces",
            [span_row({sc.EVENT_ID: "not-business"}, span_id="00f067aa0ba902b9")],
            column_names=OTEL_TRACES_COLUMNS,
        )
        copies = client.query(
            "SELECT SpanId, RawSpanHash FROM evidence_spans ORDER BY SpanId"
        ).result_rows
        hashes = client.query(
            "SELECT SpanId, RawSpanHash FROM biz_events WHERE SpanId = '00f067aa0ba902b8'"
        ).result_rows
        assert copies == hashes != []
        at_ingest = _parse_state(client, EVIDENCE_SPANS_AT_INGEST)
        [(before, after)] = client.query(
            "SELECT minIf(IngestedAt, SpanId = '00f067aa0ba902b7'), "
            "maxIf(IngestedAt, SpanId = '00f067aa0ba902b8') FROM biz_events"
        ).result_rows
        assert utc(before) < at_ingest <= utc(after)


class TestCloseItemRows:
    def test_migration_33_fills_the_point_read_rows_of_the_versions_stored_before_and_after(
        self, client: Client
    ) -> None:
        """A database from before migration 33 holding a close item version: after the migration
        ``close_item_rows`` holds that version's row (the migration's fill) and the next
        version's (its view), each column as ``close_items`` has it."""
        migrate(client, CorrelationRules.default())
        client.command("DROP VIEW close_item_rows_mv")
        client.command("DROP TABLE close_item_rows")
        forget_migration(client, 33)
        columns = ", ".join(name for name, _ in CLOSE_ITEM_ROW_COLUMNS)
        insert = (
            "INSERT INTO close_items (ItemType, ItemId, KnownAt, Kind, Amount, StageEventId,"
            " StageFirstAt) VALUES ('invoice', {id:String}, {known:DateTime64(3, 'UTC')},"
            " 'invoice', 12.5, {event:String}, {known:DateTime64(3, 'UTC')})"
        )
        client.command(
            insert, parameters={"id": "INV-1", "known": datetime(2026, 3, 1), "event": "BE-1"}
        )
        assert migrate(client, CorrelationRules.default()).applied == (33,)
        client.command(
            insert, parameters={"id": "INV-2", "known": datetime(2026, 3, 2), "event": "BE-2"}
        )
        items, rows = (
            client.query(f"SELECT {columns} FROM {table} ORDER BY ItemId").result_rows
            for table in ("close_items", "close_item_rows")
        )
        assert [row[1] for row in rows] == ["INV-1", "INV-2"]
        assert rows == items


def _parse_state(client: Client, key: str) -> datetime:
    [(value,)] = client.query(
        "SELECT argMax(Value, UpdatedAt) FROM syncsight_schema_state WHERE Key = {key:String}",
        parameters={"key": key},
    ).result_rows
    return utc(datetime.fromisoformat(value))


class TestClusterDDL:
    def test_cluster_ddl_is_on_cluster_replicated_and_distributed(self) -> None:
        """Every CREATE/ALTER/DROP/TRUNCATE runs ON CLUSTER; storage is Replicated; plain names
        are Distributed; the data steps (migration 4's refill, migration 18's watermark, migration
        21's sums) go through Distributed tables; migrations 5 and 22 only change the block sizes
        there (no node can copy every shard)."""
        ddl = render_ddl(Topology("analytics"), CorrelationRules.default())
        settings = [s for s in ddl if " MODIFY SETTING " in s]
        assert [s.split(" ON CLUSTER ")[0] for s in settings] == [
            "ALTER TABLE biz_events_local",
            "ALTER TABLE biz_event_objects_local",
        ] * 2 + [  # migration 5's block sizes, migration 7's compact parts
            "ALTER TABLE ledger_leaves_local",
            "ALTER TABLE ledger_nodes_local",
        ]  # migration 22's block sizes
        assert not [s for s in ddl if "EXCHANGE" in s or "relayout" in s or "OPTIMIZE" in s]
        refill, recorded_again, *sums, recorded_for_29, at_ingest, recorded_for_32, rows_33 = (
            inserts
        ) = [s for s in ddl if s.startswith("INSERT")]
        assert refill.startswith("INSERT INTO biz_event_objects (ObjectType")
        assert refill.endswith("FROM biz_events\nARRAY JOIN ObjectRefs AS ref")
        # migration 18: the close items' versions recorded again by the next tick
        assert recorded_again.startswith(
            "INSERT INTO syncsight_schema_state (Key, Value, UpdatedAt) "
            "VALUES ('close_item_superseded_watermark', '1970-01-01T00:00:00+00:00'"
        )
        assert "TRUNCATE TABLE IF EXISTS close_item_pieces_local ON CLUSTER analytics" in ddl
        # migration 29: the pieces carry what a stage took, on both tables, and are recorded
        # again; the completed stages' view reads the local pieces
        assert recorded_for_29 == recorded_again
        for name in ("close_item_pieces_local", "close_item_pieces"):
            assert (
                f"ALTER TABLE {name} ON CLUSTER analytics ADD COLUMN IF NOT EXISTS StageSeconds"
                " Float64 DEFAULT -1" in ddl
            )
        assert any(
            s.startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS close_stage_durations_local_mv ")
            and "TO close_stage_durations_local AS" in s
            and "FROM close_item_pieces_local\n" in s
            for s in ddl
        )
        assert (
            "Distributed(analytics, currentDatabase(), close_item_piece_days_local, "
            "cityHash64(DuePeriod, LegalEntity))" in "\n".join(ddl)
        )
        # migration 21's backfill of the bucket sums and 27's of the one sums table that
        # replaced them, Distributed to Distributed; 27's view reads the local changes
        *bucket_sums, one_sums = sums
        assert [s.split(" (")[0] for s in sums] == [
            "INSERT INTO sla_timer_elapsed",
            "INSERT INTO sla_timer_elapsed_days",
            "INSERT INTO sla_timer_elapsed_ticks",
            "INSERT INTO sla_timer_sums",
        ]
        assert all(s.endswith("FROM sla_timer_changes\nWHERE Stopped = 1") for s in bucket_sums)
        assert "    FROM sla_timer_changes\n" in one_sums
        assert any(
            s.startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS sla_timer_sums_local_mv ON ")
            and "TO sla_timer_sums_local AS" in s
            and "FROM sla_timer_changes_local\n" in s
            for s in ddl
        )
        # migration 30: the copies written with the local raw spans, the instant recorded once
        assert any(
            s.startswith(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS evidence_spans_local_mv ON CLUSTER "
                "analytics TO evidence_spans_local AS"
            )
            and "FROM otel_traces_local\n" in s
            for s in ddl
        )
        assert at_ingest.startswith(
            "INSERT INTO syncsight_schema_state (Key, Value, UpdatedAt)\n"
            "SELECT 'evidence_spans_copied_at_ingest'"
        )
        # migration 32: the pieces' changes by instant, written by a view of the local pieces
        # into the local table (Distributed in front), and the versions recorded again
        assert recorded_for_32 == recorded_again
        assert any(
            s.startswith(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS close_item_piece_changes_local_mv ON "
                "CLUSTER analytics TO close_item_piece_changes_local AS"
            )
            and "FROM close_item_pieces_local\n" in s
            for s in ddl
        )
        assert (
            "Distributed(analytics, currentDatabase(), close_item_piece_changes_local, "
            "cityHash64(DuePeriod, LegalEntity))" in "\n".join(ddl)
        )
        assert "TRUNCATE TABLE IF EXISTS close_item_piece_changes_local ON CLUSTER analytics" in ddl
        # migration 33: the versions' point-read rows, written by a view of the local items into
        # the local table (Distributed in front, sharded as the items), filled Distributed to
        # Distributed
        assert rows_33.startswith("INSERT INTO close_item_rows (ItemType, ItemId, KnownAt, ")
        assert rows_33.endswith(" FROM close_items")
        assert any(
            s.startswith(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS close_item_rows_local_mv ON CLUSTER "
                "analytics TO close_item_rows_local AS"
            )
            and s.endswith(" FROM close_items_local")
            for s in ddl
        )
        assert (
            "Distributed(analytics, currentDatabase(), close_item_rows_local, "
            "cityHash64(ItemType, ItemId))" in "\n".join(ddl)
        )
        for replaced in ("sla_timer_change_days", "sla_timer_elapsed_ticks"):
            for name in (replaced, f"{replaced}_local"):
                assert f"DROP TABLE IF EXISTS {name} ON CLUSTER analytics" in ddl
            assert f"DROP VIEW IF EXISTS {replaced}_local_mv ON CLUSTER analytics" in ddl
        for statement in ddl:
            # the evaluator's scratch stays on its own node: its reads use GLOBAL IN
            scratch = ("syncsight_state_chunks", "syncsight_state_component_")
            if statement not in inserts and not any(table in statement for table in scratch):
                assert " ON CLUSTER analytics" in statement, statement
        text = "\n".join(ddl)
        assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/otel_traces'" in text
        assert "ReplicatedReplacingMergeTree(" in text
        assert (
            "CREATE TABLE IF NOT EXISTS otel_traces ON CLUSTER analytics AS otel_traces_local"
            in text
        )
        assert (
            "Distributed(analytics, currentDatabase(), otel_traces_local, cityHash64(TraceId))"
            in text
        )
        assert "TO biz_events_local" in text

    def test_single_server_ddl_has_no_cluster_clauses(self) -> None:
        """Without --cluster there is no ON CLUSTER, Replicated or Distributed engine."""
        text = "\n".join(render_ddl(Topology(), CorrelationRules.default()))
        assert "ON CLUSTER" not in text
        assert "Replicated" not in text
        assert "Distributed" not in text

    @pytest.mark.parametrize("name", ["", "a-b", "x; DROP TABLE otel_traces", "1abc"])
    def test_cluster_name_must_be_an_identifier(self, name: str) -> None:
        """A cluster name that is not an identifier is refused with the value in the message."""
        with pytest.raises(TopologyError, match="--cluster"):
            Topology(name)


class TestServeTopology:
    def test_the_cluster_setting_gives_start_up_the_cluster_layout(self) -> None:
        """With SYNCSIGHT_CLICKHOUSE_CLUSTER the service migrates and rebuilds ON CLUSTER."""
        from syncsight.settings import Settings

        settings = Settings(clickhouse_url="chdb://memory", clickhouse_cluster="analytics")
        topology = Topology(settings.clickhouse_cluster)
        assert topology.storage("biz_events") == "biz_events_local"
        assert " ON CLUSTER analytics" in render_ddl(topology, CorrelationRules.default())[0]


class TestTemplateCopy:
    def test_a_copy_of_a_migrated_database_is_that_database(
        self, client: Client, engine_url: str, database: str
    ) -> None:
        """``copy_database`` (how tests get a migrated database without migrating it again): the
        copy has the same tables and views and the same rows, migrating it applies nothing, and
        its views fire once for a new span."""
        migrate(client, CorrelationRules.default())
        client.insert("otel_traces", [span_row(BILLED)], column_names=OTEL_TRACES_COLUMNS)
        target = f"{database}_copy"
        with admin_client(engine_url) as admin:
            admin.command(f"CREATE DATABASE {target}")
            try:
                copy_database(admin, database, target)
                copy = connect(engine_url, database=target)
                assert [
                    (name, ddl.replace(f"{target}.", f"{database}."))
                    for name, ddl in schema_snapshot(copy)
                ] == schema_snapshot(client)
                tables = [name for name, ddl in schema_snapshot(client) if "VIEW" not in ddl]
                assert len(tables) > 10
                for table in tables:
                    stored = f"SELECT * FROM {table} ORDER BY ALL"
                    assert copy.query(stored).result_rows == client.query(stored).result_rows
                assert copy.query("SELECT count() FROM biz_events").result_rows == [(1,)]
                assert migrate(copy, CorrelationRules.default()).applied == ()
                other = {**BILLED, sc.EVENT_ID: "billing.ready:BE-8"}
                again = span_row(other, span_id="c7ad6b7169203332")
                copy.insert("otel_traces", [again], column_names=OTEL_TRACES_COLUMNS)
                assert copy.query("SELECT count() FROM biz_events").result_rows == [(2,)]
                assert client.query("SELECT count() FROM biz_events").result_rows == [(1,)]
                copy.close()
            finally:
                admin.command(f"DROP DATABASE IF EXISTS {target}")


def test_recording_the_item_versions_again_empties_every_table_the_pieces_fill(
    client: Client,
) -> None:
    """Every table a view fills from ``close_item_pieces`` is emptied with the pieces when a
    migration has the versions recorded again: one left out would get every version's rows a
    second time. Found from the engine's own view definitions, so a new view is checked too."""
    migrate(client, CorrelationRules.default())
    (views,) = client.query(
        "SELECT dependencies_table FROM system.tables "
        "WHERE database = currentDatabase() AND name = {pieces:String}",
        parameters={"pieces": CLOSE_ITEM_PIECES},
    ).result_rows[0]
    assert views, "close_item_pieces feeds no view: the test reads nothing"
    targets = {
        re.search(r"\bTO\s+\S+?\.`?(\w+)`?\s", str(query)).group(1)  # type: ignore[union-attr]
        for (query,) in client.query(
            "SELECT create_table_query FROM system.tables "
            "WHERE database = currentDatabase() AND name IN {views:Array(String)}",
            parameters={"views": list(views)},
        ).result_rows
    }
    emptied = {
        statement.split()[4]
        for statement in _record_item_versions_again(Topology())
        if statement.startswith("TRUNCATE")
    }
    assert {CLOSE_ITEM_PIECES, CLOSE_STAGE_DURATIONS} <= emptied
    assert targets <= emptied, targets - emptied
