"""Versioned, idempotent schema migrations, and the views derived from the correlation rules.

``migrate`` applies the numbered migrations a database has not seen (every statement is
``IF NOT EXISTS``, so a half-applied migration is simply applied again) and then makes sure the
derived materialized views match the current correlation rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from warehouse.correlation_rules import CorrelationRules
from warehouse.retention import Retention, apply_retention, retention_ddl
from warehouse.schema import (
    SCHEMA_MIGRATIONS,
    Topology,
    bookkeeping_ddl,
    business_tables_ddl,
    close_item_piece_changes_ddl,
    close_item_pieces_ddl,
    close_item_rows_ddl,
    close_items_ddl,
    close_stage_durations_ddl,
    compact_parts_ddl,
    derived_views_ddl,
    event_dimensions_ddl,
    evidence_spans_at_ingest_ddl,
    evidence_spans_ddl,
    first_stored_facts_ddl,
    held_items_ddl,
    item_superseded_ddl,
    knowledge_time_ddl,
    ledger_ddl,
    ledger_point_read_ddl,
    memory_component_ddl,
    object_row_facts_ddl,
    otel_traces_ddl,
    point_read_layout_ddl,
    sla_alert_state_ddl,
    state_chunks_ddl,
    state_component_ddl,
    state_tables_ddl,
    timer_change_reads_ddl,
    timer_changes_ddl,
    timer_last_instant_ddl,
    timer_sums_ddl,
    work_item_events_ddl,
)
from warehouse.schema_state import read_state, write_state

logger = logging.getLogger(__name__)

RULES_FINGERPRINT_KEY = "correlation_rules_fingerprint"


@dataclass(frozen=True)
class Migration:
    """One numbered schema step; ``statements`` renders its DDL for a topology."""

    version: int
    name: str
    statements: Callable[[Topology], list[str]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "exporter-compatible raw span tables", otel_traces_ddl),
    Migration(2, "business events and event-object references", business_tables_ddl),
    Migration(3, "SLA alert and notification state", sla_alert_state_ddl),
    Migration(4, "event outlines on object rows (one read per lineage hop)", object_row_facts_ddl),
    Migration(5, "small granules and compressed blocks for lineage reads", point_read_layout_ddl),
    Migration(6, "business view reads the dimensions off the references once", lambda _: []),
    Migration(7, "compact parts for lineage reads", compact_parts_ddl),
    Migration(
        8,
        "knowledge time on business rows; SLA timer state and evaluator lease",
        lambda t: knowledge_time_ddl(t) + state_tables_ddl(t),
    ),
    Migration(9, "close items state", close_items_ddl),
    Migration(10, "scratch of whole-graph state derivations", state_chunks_ddl),
    Migration(11, "evidence ledger: daily Merkle trees, signed heads, access trail", ledger_ddl),
    Migration(12, "work queue history (append-only)", work_item_events_ddl),
    Migration(
        13,
        "facts append-only: conflicting versions kept, first stored wins; replays folded",
        first_stored_facts_ddl,
    ),
    Migration(
        14, "SLA timer state pieces as signed rows (answers from SQL sums)", timer_changes_ddl
    ),
    Migration(
        15,
        "event dimensions state: each event's legal entity and period as the business state "
        "resolved them",
        event_dimensions_ddl,
    ),
    Migration(
        16,
        "replaced close item versions: an item's version at a known_at without a sort",
        item_superseded_ddl,
    ),
    Migration(
        18,
        "close risk from sums in event time: close item state pieces, summed per day",
        close_item_pieces_ddl,
    ),
    Migration(
        19,
        "scratch of the components a tick closes in the engine, by id (index reads)",
        state_component_ddl,
    ),
    Migration(
        20,
        "close items keep the facts of the failures that hold them; held items read together",
        held_items_ddl,
    ),
    Migration(
        21,
        "SLA summaries and trend from sums: state pieces read by instant, decision and elapsed "
        "time; stopped timers counted per elapsed bucket",
        timer_change_reads_ddl,
    ),
    Migration(
        22,
        "small granules and compressed blocks for the evidence ledger's leaves and subtrees",
        ledger_point_read_ddl,
    ),
    Migration(
        25,
        "raw copies of the business spans for evidence packs, laid out for point reads",
        evidence_spans_ddl,
    ),
    Migration(
        26,
        "the component scratch in memory: no part written per round, none removed per tick",
        memory_component_ddl,
    ),
    Migration(
        27,
        "SLA timer state and elapsed bucket sums in one table, filled by one view",
        timer_sums_ddl,
    ),
    Migration(
        29,
        "completed invoice stages as signed rows by instant of posting: close risk's projection "
        "reads the window's stages, not every close item",
        close_stage_durations_ddl,
    ),
    Migration(
        30,
        "raw copies of the business spans written by the insert that stores them",
        evidence_spans_at_ingest_ddl,
    ),
    Migration(
        31,
        "an index on each SLA timer version's last instant: the alerting's read of the timers "
        "whose instants passed reads those still ahead, not every version",
        timer_last_instant_ddl,
    ),
    Migration(
        32,
        "close item state pieces as changes by instant: the close sums read as_of's own day as "
        "one range, not a third of every piece",
        close_item_piece_changes_ddl,
    ),
    Migration(
        33,
        "close item versions' rows laid out for point reads: close risk reads the rows of the "
        "versions it lists in a few KiB each, not most of close_items' granules",
        close_item_rows_ddl,
    ),
)
"""A migration without statements still re-creates the derived views (``migrate``)."""


@dataclass(frozen=True)
class MigrationReport:
    """What ``migrate`` did: migration versions applied and whether the views were re-created."""

    applied: tuple[int, ...]
    views_recreated: bool
    rules_changed: bool
    retention_changes: tuple[str, ...] = ()
    """The TTL statements that ran (none when every table already had its retention)."""


def render_ddl(
    topology: Topology, rules: CorrelationRules, retention: Retention | None = None
) -> list[str]:
    """Every statement ``migrate`` could run on an empty database, in order (for ``syncsight
    migrate --print``)."""
    statements = bookkeeping_ddl(topology)
    for migration in MIGRATIONS:
        statements += migration.statements(topology)
    statements += derived_views_ddl(topology, rules)
    return statements + (retention_ddl(topology, retention, {}) if retention else [])


def migrate(
    client: Client,
    rules: CorrelationRules,
    topology: Topology | None = None,
    retention: Retention | None = None,
) -> MigrationReport:
    """Bring the client's database up to date, and its TTLs to ``retention`` when given; safe to
    run any number of times."""
    topology = topology or Topology()
    for statement in bookkeeping_ddl(topology):
        client.command(statement)
    done = {
        row[0]
        for row in client.query(f"SELECT DISTINCT Version FROM {SCHEMA_MIGRATIONS}").result_rows
    }
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        logger.info("applying migration %d: %s", migration.version, migration.name)
        for statement in migration.statements(topology):
            client.command(statement)
        client.command(
            f"INSERT INTO {SCHEMA_MIGRATIONS} (Version, Name, AppliedAt) "
            "VALUES ({version:UInt32}, {name:String}, now64(3))",
            parameters={"version": migration.version, "name": migration.name},
        )
        applied.append(migration.version)
    recorded = current_rules_fingerprint(client)
    rules_changed = recorded is not None and recorded != rules.fingerprint()
    views_missing = not _derived_views_exist(client, topology)
    # a migration may change what the views select: re-create them after any
    recreate = recorded != rules.fingerprint() or views_missing or bool(applied)
    if recreate:
        for statement in derived_views_ddl(topology, rules):
            client.command(statement)
        write_state(client, RULES_FINGERPRINT_KEY, rules.fingerprint(), at=datetime.now(UTC))
    if rules_changed:
        logger.warning(
            "correlation rules changed since the views were built: new spans use the new rules; "
            "run `syncsight rebuild` to re-derive what is already stored"
        )
    changes = apply_retention(client, topology, retention) if retention else []
    return MigrationReport(tuple(applied), recreate, rules_changed, tuple(changes))


def current_rules_fingerprint(client: Client) -> str | None:
    """The fingerprint of the rules the derived views were generated from, if any."""
    state = read_state(client, RULES_FINGERPRINT_KEY)
    return state[RULES_FINGERPRINT_KEY][0] if RULES_FINGERPRINT_KEY in state else None


def _derived_views_exist(client: Client, topology: Topology) -> bool:
    names = [f"{topology.storage(t)}_mv" for t in ("biz_events", "biz_event_objects")]
    rows = client.query(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() "
        "AND name IN {names:Array(String)}",
        parameters={"names": names},
    ).result_rows
    return int(rows[0][0]) == len(names)
