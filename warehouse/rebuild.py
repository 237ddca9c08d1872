"""Re-derive the business tables from raw spans: how a rule change or an external writer's spans
become visible. Derived rows are keyed by span identity, so spans that arrive while a rebuild runs
are at worst derived twice and collapse to one row.

A rebuild keeps knowledge time: a fact it derives again as it was stored keeps the instant it was
first stored (``IngestedAt``), so an answer for a ``known_at`` before the rebuild is what it was.
Only a fact it derives differently (a rule changed its object references) or derives for the
first time is known from the rebuild on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from clickhouse_connect.driver.client import Client

from warehouse.correlation_rules import CorrelationRules
from warehouse.schema import (
    BIZ_EVENT_OBJECTS,
    BIZ_EVENTS,
    CONTENT_HASH,
    EVENT_COLUMNS,
    INGESTED_AT,
    OTEL_TRACES,
    RAW_SPAN,
    Topology,
    business_event_select,
)
from warehouse.schema_state import REBUILD_KEY, write_state

logger = logging.getLogger(__name__)

FIRST_KNOWN: Final = "biz_events_first_known"
"""Every stored fact's knowledge time, kept while a rebuild re-derives the business tables: the
only record of it between their truncation and their refill. Emptied when a rebuild finishes;
a rebuild that died leaves it, and the next one adds to it (the earliest instant of a fact wins),
so no knowledge time is lost to a rebuild cut short. On a cluster it lives on the node that
runs the rebuild."""

FACT: Final = "sipHash128(EventId, TraceId, SpanId, ContentHash)"
"""A fact's identity in ``FIRST_KNOWN``: ``biz_events``' sorting key (span identity and content
hash) in 16 bytes, so that the rebuild's lookup of 10M facts holds some 400 MiB, not the keys'
strings."""

CREATE_FIRST_KNOWN: Final = f"""
CREATE TABLE IF NOT EXISTS {FIRST_KNOWN} (
    Fact FixedString(16),
    IngestedAt DateTime64(3, 'UTC')
) ENGINE = MergeTree ORDER BY (Fact, IngestedAt)
"""

KEEP_FIRST_KNOWN: Final = f"INSERT INTO {FIRST_KNOWN}\nSELECT {FACT}, IngestedAt FROM {BIZ_EVENTS}"

_TYPED = ",\n        ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in EVENT_COLUMNS)
_STORED = ", ".join(name for name, _ in (*EVENT_COLUMNS, INGESTED_AT, RAW_SPAN))
_CONTENT = ", ".join(name for name, _ in EVENT_COLUMNS)


def rederive_statement(rules: CorrelationRules) -> str:
    """INSERT of every business row derived from ``otel_traces``, each known from the instant its
    fact was first stored (``FIRST_KNOWN``) or, for a fact not stored before, from now.

    The derived columns are cast to ``biz_events``' types before the content hash is taken, so a
    fact derived again hashes as its stored row did (``ContentHash`` is computed from the stored
    types). The earliest instant of each fact is read in the table's order, one row per fact."""
    return f"""INSERT INTO {BIZ_EVENTS} ({_STORED})
SELECT {_CONTENT}, ifNull(known.First, derived.IngestedAt) AS IngestedAt, RawSpanHash
FROM (
    SELECT *, sipHash128(EventId, TraceId, SpanId, {CONTENT_HASH}) AS Fact
    FROM (
        SELECT
        {_TYPED},
        IngestedAt,
        RawSpanHash
        FROM (
{business_event_select(rules, OTEL_TRACES)}
        )
    )
) AS derived
LEFT ANY JOIN (
    SELECT Fact, IngestedAt AS First FROM {FIRST_KNOWN}
    ORDER BY Fact, IngestedAt
    LIMIT 1 BY Fact
) AS known USING Fact
SETTINGS join_use_nulls = 1"""


@dataclass(frozen=True)
class RebuildReport:
    """Counts after a rebuild: raw spans read, business events and object references derived,
    and how many events are known from the rebuild on (derived differently or for the first
    time; the others kept the instant they were first stored)."""

    spans: int
    events: int
    references: int
    new_knowledge: int = 0


def rebuild(
    client: Client, rules: CorrelationRules, topology: Topology | None = None
) -> RebuildReport:
    """Truncate the derived tables and derive them again from every span in ``otel_traces``.

    Inserting into ``biz_events`` fires the event→object view, so both tables are refilled. The
    SLA timer state waits while it runs (``REBUILD_KEY``): it would otherwise see half-filled
    tables and resolve alerts only to fire them again. Its ``done`` record tells the state to
    re-derive every timer once (``slas.business_state``), as rows derived again keep their
    knowledge time and no window of new rows would show them; a version is written only where a
    timer changed.
    """
    topology = topology or Topology()
    started = datetime.now(UTC)
    write_state(client, REBUILD_KEY, "running", at=started)
    try:
        return _rederive(client, rules, topology, started)
    finally:
        write_state(client, REBUILD_KEY, "done", at=datetime.now(UTC))


def _rederive(
    client: Client, rules: CorrelationRules, topology: Topology, started: datetime
) -> RebuildReport:
    client.command(CREATE_FIRST_KNOWN)
    client.command(KEEP_FIRST_KNOWN)
    for table in (BIZ_EVENTS, BIZ_EVENT_OBJECTS):
        client.command(f"TRUNCATE TABLE IF EXISTS {topology.storage(table)}{topology.on_cluster}")
    logger.info("re-deriving business tables from %s", OTEL_TRACES)
    client.command(rederive_statement(rules))
    client.command(f"TRUNCATE TABLE {FIRST_KNOWN}")
    spans = client.query(f"SELECT count() FROM {OTEL_TRACES}").result_rows[0][0]
    events, new = client.query(
        f"SELECT count(), countIf(IngestedAt >= {{started:DateTime64(3, 'UTC')}}) "
        f"FROM {BIZ_EVENTS} FINAL",
        parameters={"started": started},
    ).result_rows[0]
    refs = client.query(f"SELECT count() FROM {BIZ_EVENT_OBJECTS} FINAL").result_rows[0][0]
    return RebuildReport(int(spans), int(events), int(refs), int(new))
