"""Inserts are durable when they return: the embedded engine fsyncs every part a span insert writes,
and a server insert can wait for a quorum of replicas."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from tests.warehouse.spans import span_row
from warehouse.client import chdb_data_path
from warehouse.correlation_rules import CorrelationRules
from warehouse.durable_parts import InsertQuorum, fsync_inserted_parts, insert_settings
from warehouse.migrations import migrate
from warehouse.span_batch import encode_rows
from warehouse.span_store import span_sink

FILE_SYNCS = "SELECT sum(value) FROM system.events WHERE event = 'FileSync'"


def file_syncs(client: Client) -> int:
    return int(client.query(FILE_SYNCS).result_rows[0][0])


class TestFsyncedParts:
    def test_every_merge_tree_table_fsyncs_the_parts_a_span_insert_writes(
        self, client: Client, engine_url: str
    ) -> None:
        """After start-up's call, all MergeTree tables carry the settings and an insert fsyncs."""
        if chdb_data_path(engine_url) is None:
            pytest.skip("the embedded engine's own durability; a server is configured apart")
        migrate(client, CorrelationRules.default())
        changed = fsync_inserted_parts(client)
        assert {"otel_traces", "biz_events", "biz_event_objects"} <= set(changed)
        without = client.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND engine LIKE '%MergeTree' AND NOT (engine_full LIKE '%fsync_after_insert = 1%' "
            "AND engine_full LIKE '%fsync_part_directory = 1%')"
        ).result_rows
        assert without == []
        before = file_syncs(client)
        span_sink(client, engine_url).write(
            encode_rows([span_row({"biz.event.type": "time.approved", "biz.event.id": "e-1"})])
        )
        assert file_syncs(client) > before
        assert fsync_inserted_parts(client) == []  # the next start changes nothing


class TestInsertQuorum:
    @pytest.mark.parametrize(
        ("quorum", "expected"),
        [
            (0, {}),
            (1, {}),
            (2, {"insert_quorum": 2, "distributed_foreground_insert": 1}),
            ("auto", {"insert_quorum": "auto", "distributed_foreground_insert": 1}),
        ],
    )
    def test_a_quorum_of_two_or_more_replicas_makes_the_insert_wait_for_them(
        self, quorum: InsertQuorum, expected: dict[str, object]
    ) -> None:
        """0 and 1 leave server inserts as they are; a quorum waits for replicas and shards."""
        assert insert_settings(quorum) == expected
