"""Re-derive the business tables from raw spans: how a rule change or an external writer's spans
become visible. Derived rows are keyed by span identity, so spans that arrive while a rebuild runs
are at worst derived twice and collapse to one row."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from warehouse.correlation_rules import CorrelationRules
from warehouse.schema import (
    BIZ_EVENT_OBJECTS,
    BIZ_EVENTS,
    OTEL_TRACES,
    Topology,
    business_event_select,
)
from warehouse.schema_state import REBUILD_KEY, write_state

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RebuildReport:
    """Counts after a rebuild: raw spans read, business events and object references derived."""

    spans: int
    events: int
    references: int


def rebuild(
    client: Client, rules: CorrelationRules, topology: Topology | None = None
) -> RebuildReport:
    """Truncate the derived tables and derive them again from every span in ``otel_traces``.

    Inserting into ``biz_events`` fires the event→object view, so both tables are refilled. The
    SLA timer state waits while it runs (``REBUILD_KEY``): it would otherwise see half-filled
    tables and resolve alerts only to fire them again. Re-derived rows are new knowledge (their
    ``IngestedAt`` is the rebuild's), so the state re-derives them all afterwards and writes a
    version only where a timer changed.
    """
    topology = topology or Topology()
    write_state(client, REBUILD_KEY, "running", at=datetime.now(UTC))
    try:
        return _rederive(client, rules, topology)
    finally:
        write_state(client, REBUILD_KEY, "done", at=datetime.now(UTC))


def _rederive(client: Client, rules: CorrelationRules, topology: Topology) -> RebuildReport:
    for table in (BIZ_EVENTS, BIZ_EVENT_OBJECTS):
        client.command(f"TRUNCATE TABLE IF EXISTS {topology.storage(table)}{topology.on_cluster}")
    logger.info("re-deriving business tables from %s", OTEL_TRACES)
    client.command(f"INSERT INTO {BIZ_EVENTS}\n{business_event_select(rules, OTEL_TRACES)}")
    spans = client.query(f"SELECT count() FROM {OTEL_TRACES}").result_rows[0][0]
    events = client.query(f"SELECT count() FROM {BIZ_EVENTS} FINAL").result_rows[0][0]
    refs = client.query(f"SELECT count() FROM {BIZ_EVENT_OBJECTS} FINAL").result_rows[0][0]
    return RebuildReport(int(spans), int(events), int(refs))
