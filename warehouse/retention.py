"""Retention as table TTLs: raw spans, business facts and state, alert history, each kept for its
own number of days (0 keeps forever). ``apply_retention`` (run by ``migrate``) compares the TTL each
table has with the one wanted and alters only those that differ, so running it again changes
nothing and changing a setting changes exactly the tables it covers. The parts already stored
follow a changed TTL in the engine's background: nothing waits for them."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Final

from clickhouse_connect.driver.client import Client

from warehouse.schema import (
    BIZ_EVENT_OBJECTS,
    BIZ_EVENTS,
    CLOSE_ITEM_PIECE_CHANGES,
    CLOSE_ITEM_PIECE_DAYS,
    CLOSE_ITEM_PIECE_TICKS,
    CLOSE_ITEM_PIECES,
    CLOSE_ITEM_ROWS,
    CLOSE_ITEM_SUPERSEDED,
    CLOSE_ITEMS,
    CLOSE_STAGE_DURATIONS,
    EVENT_DIMENSIONS,
    EVIDENCE_SPANS,
    OTEL_TRACES,
    OTEL_TRACES_TRACE_ID_TS,
    SLA_ALERT_STATE,
    SLA_TIMER_CHANGES,
    SLA_TIMER_ELAPSED,
    SLA_TIMER_SUMS,
    SLA_TIMERS,
    WORK_ITEM_EVENTS,
    Topology,
)

logger = logging.getLogger(__name__)

RAW: Final = "raw"
FACTS: Final = "facts"
ALERTS: Final = "alerts"

EXPIRES_FROM: Final = {
    OTEL_TRACES: (RAW, "toDateTime(Timestamp)"),
    OTEL_TRACES_TRACE_ID_TS: (RAW, "Start"),
    EVIDENCE_SPANS: (RAW, "toDateTime(Timestamp)"),
    BIZ_EVENTS: (FACTS, "toDateTime(EventTime)"),
    BIZ_EVENT_OBJECTS: (FACTS, "toDateTime(EventTime)"),
    SLA_TIMERS: (FACTS, "toDateTime(KnownAt)"),
    SLA_TIMER_CHANGES: (FACTS, "toDateTime(VersionKnownAt)"),
    SLA_TIMER_SUMS: (FACTS, "toDateTime(VersionDay)"),
    SLA_TIMER_ELAPSED: (FACTS, "toDateTime(VersionKnownAt)"),
    CLOSE_ITEMS: (FACTS, "toDateTime(KnownAt)"),
    CLOSE_ITEM_ROWS: (FACTS, "toDateTime(KnownAt)"),
    CLOSE_ITEM_SUPERSEDED: (FACTS, "toDateTime(KnownAt)"),
    CLOSE_ITEM_PIECES: (FACTS, "toDateTime(VersionKnownAt)"),
    CLOSE_ITEM_PIECE_DAYS: (FACTS, "toDateTime(VersionDay)"),
    CLOSE_ITEM_PIECE_TICKS: (FACTS, "toDateTime(VersionDay)"),
    CLOSE_ITEM_PIECE_CHANGES: (FACTS, "toDateTime(VersionDay)"),
    CLOSE_STAGE_DURATIONS: (FACTS, "toDateTime(VersionKnownAt)"),
    EVENT_DIMENSIONS: (FACTS, "toDateTime(KnownAt)"),
    SLA_ALERT_STATE: (ALERTS, "toDateTime(UpdatedAt)"),
    WORK_ITEM_EVENTS: (FACTS, "toDateTime(At)"),
}
"""Table → (retention class, the instant a row's age counts from): raw spans and business rows
by event time; state versions by when they became known; alert state by its last change; work
item history (what people did about failures, which auditors ask for) by when it was done."""

_TABLE_TTL = re.compile(r" TTL (.+?)(?: SETTINGS |$)")

TABLE_TTL = """
SELECT name, engine_full FROM system.tables
WHERE database = currentDatabase() AND name IN {names:Array(String)}
"""


MAX_DAYS: Final = 20_000
"""The longest retention in days (about 54 years; 0 keeps rows forever). A row's TTL is a
``DateTime``, which ends in 2106 and wraps around past it: a row stored in 2026 under a TTL of
30,000 days would expire in 1972, that is at once, and the next merge would drop it."""


@dataclass(frozen=True)
class Retention:
    """Days each class of rows is kept; 0 keeps them forever (no TTL)."""

    raw_days: int
    facts_days: int
    alerts_days: int

    def __post_init__(self) -> None:
        for name in ("raw_days", "facts_days", "alerts_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
                raise ValueError(
                    f"retention {name}={value!r}: expected a whole number of days from 0 "
                    f"(forever) to {MAX_DAYS:,}"
                )

    def days(self, kind: str) -> int:
        return {RAW: self.raw_days, FACTS: self.facts_days, ALERTS: self.alerts_days}[kind]


def ttl_expression(table: str, retention: Retention) -> str:
    """The TTL ``table`` should have, spelt as ClickHouse normalises it ('' for none)."""
    kind, since = EXPIRES_FROM[table]
    days = retention.days(kind)
    return f"{since} + toIntervalDay({days})" if days else ""


_METADATA_ONLY: Final = "SETTINGS materialize_ttl_after_modify = 0"
_IN_THE_BACKGROUND: Final = "SETTINGS mutations_sync = 0"
"""A TTL change is two statements: the table's TTL, at once (new parts follow it), then the same
TTL applied to the parts already stored, as a mutation the engine runs part by part in its
background pool (``system.mutations``). One ``MODIFY TTL`` does both and, on the embedded engine,
returns only when every stored part is rewritten, whatever ``mutations_sync`` says: that held
``serve``'s start-up for the whole rewrite, 27-55 s for the medium quarter's raw spans, minutes at
10M spans (benchmarks/history/startup-and-hostile-input.md,
"Retention at start-up")."""


def retention_ddl(topology: Topology, retention: Retention, current: dict[str, str]) -> list[str]:
    """The ALTERs that bring each table's TTL from ``current`` (storage table → its TTL, '' when
    none) to the wanted one; nothing for a table that already has it. None waits for the stored
    parts to be rewritten."""
    statements = []
    for table in EXPIRES_FROM:
        name = topology.storage(table)
        wanted, now = ttl_expression(table, retention), current.get(name, "")
        if wanted == now:
            continue
        if wanted:
            statements += [
                f"ALTER TABLE {name}{topology.on_cluster} MODIFY TTL {wanted} {_METADATA_ONLY}",
                f"ALTER TABLE {name}{topology.on_cluster} MATERIALIZE TTL {_IN_THE_BACKGROUND}",
            ]
        else:
            statements.append(f"ALTER TABLE {name}{topology.on_cluster} REMOVE TTL")
    return statements


def current_ttls(client: Client, topology: Topology) -> dict[str, str]:
    """Storage table → the TTL it has now ('' when none)."""
    names = [topology.storage(table) for table in EXPIRES_FROM]
    rows = client.query(TABLE_TTL, parameters={"names": names}).result_rows
    found = {}
    for name, engine in rows:
        match = _TABLE_TTL.search(str(engine))
        found[str(name)] = match[1] if match else ""
    return found


def apply_retention(client: Client, topology: Topology, retention: Retention) -> list[str]:
    """Alter the tables whose TTL differs from ``retention``; the statements that ran."""
    statements = retention_ddl(topology, retention, current_ttls(client, topology))
    for statement in statements:
        logger.info("retention: %s", statement)
        client.command(statement)
    return statements
