"""Schema migrations against the real engine: exporter compatibility, idempotence, topologies."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from warehouse.correlation import CorrelationRules
from warehouse.migrations import MIGRATIONS, migrate, render_ddl
from warehouse.schema import Topology, TopologyError

# Column names and types of the OTel Collector ClickHouse exporter (reference/clickhouse-schema.md).
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


class TestClusterDDL:
    def test_cluster_ddl_is_on_cluster_replicated_and_distributed(self) -> None:
        """Every CREATE/DROP runs ON CLUSTER; storage is Replicated; plain names are Distributed."""
        ddl = render_ddl(Topology("analytics"), CorrelationRules.default())
        for statement in ddl:
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
