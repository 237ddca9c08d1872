"""Retention as TTLs set by ``migrate`` on the real engine: visible in ``system.tables``, idempotent,
changed by the settings, removed by 0, and rows past it gone after a merge."""

from __future__ import annotations

import threading
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client
from pydantic import ValidationError

from domain import semconv as sc
from slas.alert_store import AlertStore
from slas.alerts import Alert
from syncsight.settings import Settings
from tests.warehouse.spans import span_row
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate, render_ddl
from warehouse.retention import EXPIRES_FROM, Retention
from warehouse.schema import Topology
from warehouse.spans import OTEL_TRACES_COLUMNS

DEFAULTS = Retention(raw_days=400, facts_days=2557, alerts_days=400)


def table_ttls(client: Client) -> dict[str, str]:
    rows = client.query(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() "
        "AND name IN {names:Array(String)}",
        parameters={"names": list(EXPIRES_FROM)},
    ).result_rows
    return {
        str(name): str(engine).split(" TTL ")[1].split(" SETTINGS ")[0]
        if " TTL " in str(engine)
        else ""
        for name, engine in rows
    }


def span(client: Client, event_id: str, at: datetime, span_id: str) -> None:
    facts = {
        sc.EVENT_TYPE: sc.BILLING_READY,
        sc.EVENT_ID: event_id,
        sc.PERIOD: at.strftime("%Y-%m"),
        sc.object_id_key(sc.BILLING_EVENT): event_id,
    }
    row = span_row(facts, span_id=span_id, start_ns=int(at.timestamp() * 1e9))
    client.insert("otel_traces", [row], column_names=OTEL_TRACES_COLUMNS)


def count(client: Client, table: str) -> int:
    return int(client.query(f"SELECT count() FROM {table}").result_rows[0][0])


class TestRetentionTtls:
    def test_migrate_sets_each_tables_ttl_from_its_class(self, client: Client) -> None:
        """Raw spans by span time, business rows by event time, state by knowledge time,
        alert state by its last change: SHOW CREATE carries each."""
        report = migrate(client, CorrelationRules.default(), retention=DEFAULTS)
        assert table_ttls(client) == {
            "otel_traces": "toDateTime(Timestamp) + toIntervalDay(400)",
            "otel_traces_trace_id_ts": "Start + toIntervalDay(400)",
            "evidence_spans": "toDateTime(Timestamp) + toIntervalDay(400)",
            "biz_events": "toDateTime(EventTime) + toIntervalDay(2557)",
            "biz_event_objects": "toDateTime(EventTime) + toIntervalDay(2557)",
            "sla_timers": "toDateTime(KnownAt) + toIntervalDay(2557)",
            "sla_timer_changes": "toDateTime(VersionKnownAt) + toIntervalDay(2557)",
            "sla_timer_sums": "toDateTime(VersionDay) + toIntervalDay(2557)",
            "sla_timer_elapsed": "toDateTime(VersionKnownAt) + toIntervalDay(2557)",
            "close_items": "toDateTime(KnownAt) + toIntervalDay(2557)",
            "close_item_rows": "toDateTime(KnownAt) + toIntervalDay(2557)",
            "close_item_superseded": "toDateTime(KnownAt) + toIntervalDay(2557)",
            "close_item_pieces": "toDateTime(VersionKnownAt) + toIntervalDay(2557)",
            "close_item_piece_days": "toDateTime(VersionDay) + toIntervalDay(2557)",
            "close_item_piece_ticks": "toDateTime(VersionDay) + toIntervalDay(2557)",
            "close_item_piece_changes": "toDateTime(VersionDay) + toIntervalDay(2557)",
            "close_stage_durations": "toDateTime(VersionKnownAt) + toIntervalDay(2557)",
            "event_dimensions": "toDateTime(KnownAt) + toIntervalDay(2557)",
            "sla_alert_state": "toDateTime(UpdatedAt) + toIntervalDay(400)",
            "work_item_events": "toDateTime(At) + toIntervalDay(2557)",
        }
        # each table's TTL, then the same applied to its stored parts in the background
        assert len(report.retention_changes) == 2 * len(EXPIRES_FROM)
        shown = client.query("SHOW CREATE TABLE otel_traces").result_rows[0][0]
        assert "TTL toDateTime(Timestamp) + toIntervalDay(400)" in shown

    def test_running_again_changes_nothing(self, client: Client) -> None:
        """The second migrate with the same settings runs no ALTER."""
        migrate(client, CorrelationRules.default(), retention=DEFAULTS)
        again = migrate(client, CorrelationRules.default(), retention=DEFAULTS)
        assert again.retention_changes == ()

    def test_a_changed_setting_alters_only_its_tables(self, client: Client) -> None:
        """Raw 90 days: the raw span tables (and the evidence copies of raw spans) change,
        nothing else."""
        migrate(client, CorrelationRules.default(), retention=DEFAULTS)
        report = migrate(
            client,
            CorrelationRules.default(),
            retention=Retention(raw_days=90, facts_days=2557, alerts_days=400),
        )
        assert report.retention_changes == (
            "ALTER TABLE otel_traces MODIFY TTL toDateTime(Timestamp) + toIntervalDay(90) "
            "SETTINGS materialize_ttl_after_modify = 0",
            "ALTER TABLE otel_traces MATERIALIZE TTL SETTINGS mutations_sync = 0",
            "ALTER TABLE otel_traces_trace_id_ts MODIFY TTL Start + toIntervalDay(90) "
            "SETTINGS materialize_ttl_after_modify = 0",
            "ALTER TABLE otel_traces_trace_id_ts MATERIALIZE TTL SETTINGS mutations_sync = 0",
            "ALTER TABLE evidence_spans MODIFY TTL toDateTime(Timestamp) + toIntervalDay(90) "
            "SETTINGS materialize_ttl_after_modify = 0",
            "ALTER TABLE evidence_spans MATERIALIZE TTL SETTINGS mutations_sync = 0",
        )
        assert table_ttls(client)["otel_traces"].endswith("toIntervalDay(90)")

    def test_zero_keeps_forever(self, client: Client) -> None:
        """0 removes the TTL (and a table without one is left alone)."""
        migrate(client, CorrelationRules.default(), retention=DEFAULTS)
        forever = Retention(raw_days=400, facts_days=2557, alerts_days=0)
        report = migrate(client, CorrelationRules.default(), retention=forever)
        assert report.retention_changes == ("ALTER TABLE sla_alert_state REMOVE TTL",)
        assert table_ttls(client)["sla_alert_state"] == ""
        assert (
            migrate(client, CorrelationRules.default(), retention=forever).retention_changes == ()
        )

    def test_without_retention_migrate_leaves_ttls_alone(self, client: Client) -> None:
        """A rebuild's migrate (no retention given) neither sets nor removes a TTL."""
        migrate(client, CorrelationRules.default(), retention=DEFAULTS)
        assert migrate(client, CorrelationRules.default()).retention_changes == ()
        assert table_ttls(client)["biz_events"].endswith("toIntervalDay(2557)")

    def test_on_a_cluster_the_local_tables_are_altered_on_cluster(self) -> None:
        """--print renders the TTLs for the storage tables with ON CLUSTER."""
        statements = render_ddl(Topology("analytics"), CorrelationRules.default(), DEFAULTS)
        assert (
            "ALTER TABLE otel_traces_local ON CLUSTER analytics MODIFY TTL "
            "toDateTime(Timestamp) + toIntervalDay(400) SETTINGS materialize_ttl_after_modify = 0"
        ) in statements
        assert (
            "ALTER TABLE otel_traces_local ON CLUSTER analytics MATERIALIZE TTL "
            "SETTINGS mutations_sync = 0"
        ) in statements


class TestExpiry:
    def test_rows_older_than_the_ttl_go_after_a_final_merge(self, client: Client) -> None:
        """Raw and facts 10 days, alerts 10 days: a 30-day-old span, its business rows and a
        30-day-old alert row go; today's stay."""
        migrate(client, CorrelationRules.default())
        now = datetime.now(UTC)
        old = now - timedelta(days=30)
        span(client, "BE-OLD", old, "00000000000000a1")
        span(client, "BE-NEW", now, "00000000000000a2")
        store = AlertStore(lambda: client)
        for name, at in (("Old", old), ("New", now)):
            store.save(
                "",
                [Alert(labels={"alertname": name}, annotations={}, starts_at=at)],
                now=at,
            )
        assert [count(client, t) for t in ("otel_traces", "biz_events", "sla_alert_state")] == [
            2,
            2,
            2,
        ]
        migrate(
            client,
            CorrelationRules.default(),
            retention=Retention(raw_days=10, facts_days=10, alerts_days=10),
        )
        for table in ("otel_traces", "biz_events", "biz_event_objects", "sla_alert_state"):
            client.command(f"OPTIMIZE TABLE {table} FINAL")
        assert [str(r[0]) for r in client.query("SELECT EventId FROM biz_events").result_rows] == [
            "BE-NEW"
        ]
        assert {
            str(r[0]) for r in client.query("SELECT ObjectId FROM biz_event_objects").result_rows
        } == {"BE-NEW"}
        assert count(client, "otel_traces") == 1
        assert [
            str(r[0]) for r in client.query("SELECT AlertName FROM sla_alert_state").result_rows
        ] == ["New"]

    def test_start_up_does_not_wait_for_the_stored_parts(
        self, client: Client, engine_url: str, database: str
    ) -> None:
        """A changed retention returns once the TTL is set, even while the engine can apply it to
        no stored part (its merges stopped): the parts follow in the background, and the old
        span goes without any OPTIMIZE once they do. Waiting held ``serve``'s start-up for the
        whole rewrite of every stored part."""
        migrate(client, CorrelationRules.default())
        now = datetime.now(UTC)
        span(client, "BE-OLD", now - timedelta(days=30), "00000000000000b1")
        span(client, "BE-NEW", now, "00000000000000b2")
        client.command("SYSTEM STOP MERGES otel_traces")
        done = threading.Event()
        short = Retention(raw_days=10, facts_days=2557, alerts_days=400)

        def apply() -> None:  # a client of its own: one client serves one thread at a time
            with closing(connect(engine_url, database=database)) as own:
                migrate(own, CorrelationRules.default(), retention=short)
            done.set()

        worker = threading.Thread(target=apply, daemon=True)
        try:
            worker.start()
            returned = done.wait(60)  # generous: it returns at once, or waits for merges
            pending = client.query(
                "SELECT count() FROM system.mutations WHERE database = currentDatabase() "
                "AND table = 'otel_traces' AND NOT is_done"
            ).result_rows[0][0]
        finally:
            client.command("SYSTEM START MERGES otel_traces")
            worker.join(60)
        assert returned, "migrate waited for the TTL to reach every stored part"
        assert pending == 1
        assert table_ttls(client)["otel_traces"] == "toDateTime(Timestamp) + toIntervalDay(10)"
        deadline = time.monotonic() + 120
        while count(client, "otel_traces") != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [str(r[0]) for r in client.query("SELECT SpanId FROM otel_traces").result_rows] == [
            "00000000000000b2"
        ]


class TestSettings:
    def test_the_defaults_keep_enough_for_audits(self) -> None:
        """400 days raw and alerts, 7 years of facts."""
        assert Settings().retention == DEFAULTS

    def test_a_negative_number_of_days_is_refused_naming_the_setting(self) -> None:
        """The error names the variable and what it expects."""
        with pytest.raises(
            ValidationError, match=r"retention_facts_days\n.*greater than or equal to 0"
        ):
            Settings(retention_facts_days=-1)

    @pytest.mark.parametrize("days", [30_000, 1_000_000])
    def test_a_retention_whose_ttl_would_wrap_around_to_the_past_is_refused(
        self, days: int
    ) -> None:
        """A TTL is a DateTime, which wraps past 2106: 30,000 days from 2026 would expire every
        row at once. The setting and the domain value refuse it, naming the bound."""
        with pytest.raises(ValidationError, match=r"retention_raw_days\n.*less than or equal to"):
            Settings(retention_raw_days=days)
        with pytest.raises(ValueError, match=r"facts_days=.*from 0 \(forever\) to 20,000"):
            Retention(raw_days=1, facts_days=days, alerts_days=1)

    def test_a_retention_value_that_is_not_whole_days_is_refused(self) -> None:
        """The domain value refuses it too, naming the field and value."""
        with pytest.raises(ValueError, match=r"raw_days=-5: expected a whole number of days"):
            Retention(raw_days=-5, facts_days=1, alerts_days=1)
