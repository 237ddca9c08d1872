"""Inserts that are durable when they return. Ingest deletes a journal file once the insert of its
spans returned, so those rows must survive a power loss from then on: the embedded engine is told to
fsync every part it writes (ClickHouse has no per-insert switch for it, so the MergeTree tables carry
``fsync_after_insert`` and ``fsync_part_directory``). On a replicated cluster an insert can instead
wait for a quorum of replicas (``insert_settings``)."""

from __future__ import annotations

from typing import Any, Final, Literal

from clickhouse_connect.driver.client import Client

FSYNC_SETTINGS: Final = ("fsync_after_insert", "fsync_part_directory")

_TABLES_WITHOUT_FSYNC: Final = (
    "SELECT name FROM system.tables WHERE database = currentDatabase() "
    "AND engine LIKE '%MergeTree' AND NOT match(engine_full, {fsynced:String}) ORDER BY name"
)

InsertQuorum = int | Literal["auto"]


def fsync_inserted_parts(client: Client) -> list[str]:
    """Make every MergeTree table of the client's database fsync the parts an insert writes
    (materialized views' targets included) before the insert returns; the tables changed."""
    fsynced = "fsync_after_insert = 1.*fsync_part_directory = 1"
    tables = [
        str(row[0])
        for row in client.query(_TABLES_WITHOUT_FSYNC, parameters={"fsynced": fsynced}).result_rows
    ]
    assignments = ", ".join(f"{name} = 1" for name in FSYNC_SETTINGS)
    for table in tables:
        client.command(f"ALTER TABLE `{table}` MODIFY SETTING {assignments}")
    return tables


def insert_settings(quorum: InsertQuorum) -> dict[str, Any]:
    """Query settings of a span insert into a ClickHouse server: with a quorum (a number of
    replicas of at least 2, or ``auto`` for a majority) the insert returns only once that many
    replicas wrote it, and an insert through a Distributed table waits for its shards."""
    if quorum == 0 or quorum == 1:
        return {}
    return {"insert_quorum": quorum, "distributed_foreground_insert": 1}
