"""Re-derive the business tables from raw spans: how a rule change or an external writer's spans
become visible. Derived rows are keyed by span identity, so spans that arrive while a rebuild runs
are at worst derived twice and collapse to one row."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from warehouse.correlation import CorrelationRules
from warehouse.schema import (
    BIZ_EVENT_OBJECTS,
    BIZ_EVENTS,
    OTEL_TRACES,
    Topology,
    business_event_select,
)

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

    Inserting into ``biz_events`` fires the event→object view, so both tables are refilled.
    """
    topology = topology or Topology()
    for table in (BIZ_EVENTS, BIZ_EVENT_OBJECTS):
        client.command(f"TRUNCATE TABLE IF EXISTS {topology.storage(table)}{topology.on_cluster}")
    logger.info("re-deriving business tables from %s", OTEL_TRACES)
    client.command(f"INSERT INTO {BIZ_EVENTS}\n{business_event_select(rules, OTEL_TRACES)}")
    spans = client.query(f"SELECT count() FROM {OTEL_TRACES}").result_rows[0][0]
    events = client.query(f"SELECT count() FROM {BIZ_EVENTS} FINAL").result_rows[0][0]
    refs = client.query(f"SELECT count() FROM {BIZ_EVENT_OBJECTS} FINAL").result_rows[0][0]
    return RebuildReport(int(spans), int(events), int(refs))
