"""Re-derive the business tables from raw spans: how a rule change or an external writer's spans
become visible. Derived rows are keyed by span identity, so spans that arrive while a rebuild runs
are at worst derived twice and collapse to one row.

A rebuild keeps knowledge time: a fact it derives again as it was stored keeps the instant it was
first stored (``IngestedAt``), so an answer for a ``known_at`` before the rebuild is what it was.
Only a fact it derives differently (a rule changed its object references) or derives for the
first time is known from the rebuild on.

A rebuild keeps the facts whose raw spans the raw retention has expired: business rows are kept
longer than raw spans (7 years against 400 days by default), and a rebuild can derive only what
``otel_traces`` holds. It re-derives the events from a horizon on and leaves the older ones as
they were stored: the raw retention's horizon, or the oldest raw span stored if that is later
(spans a shorter retention expired before it was raised, or before a rebuild run with another
setting than the service's, are gone for good)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from clickhouse_connect.driver.client import Client

from domain.instants import LATEST
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
from warehouse.schema_state import REBUILD_KEY, read_state, write_state

logger = logging.getLogger(__name__)

FIRST_KNOWN: Final = "biz_events_first_known"
"""Every stored fact's knowledge time, kept while a rebuild re-derives the business tables: the
only record of it between their truncation and their refill. Emptied when a rebuild finishes;
a rebuild that died leaves it, and the next one adds to it (the earliest instant of a fact wins),
so no knowledge time is lost to a rebuild cut short. On a cluster it lives on the node that
runs the rebuild."""

REBUILD_STALE: Final = timedelta(hours=6)
"""A rebuild flag older than this is a rebuild that died: whoever waits for it carries on."""

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

HORIZON: Final = "EventTime >= {horizon:DateTime64(9, 'UTC')}"
"""The business rows a rebuild derives again: those of events from the raw retention's horizon on
(the events of every span ``otel_traces`` still keeps)."""

EVERYTHING: Final = datetime(1900, 1, 1, tzinfo=UTC)
"""The horizon when raw spans are kept forever: the first instant a ``DateTime64`` holds."""

NOTHING: Final = LATEST
"""The horizon when no raw span is stored: past every instant an event is accepted with, so
every business row is kept and none derived."""

KEEP_FIRST_KNOWN: Final = (
    f"INSERT INTO {FIRST_KNOWN}\nSELECT {FACT}, IngestedAt FROM {BIZ_EVENTS} WHERE {HORIZON}"
)

OLDEST_RAW_SPAN: Final = f"SELECT count(), min(Timestamp) FROM {OTEL_TRACES}"
"""How many raw spans are stored and the start of the oldest: the raw retention drops whole days
from the oldest on, so every event from that instant on still has its raw span."""

OLDER_THAN_HORIZON: Final = f"SELECT count() FROM {BIZ_EVENTS} WHERE NOT ({HORIZON})"

RAW_FROM_HORIZON: Final = (
    f"(SELECT * FROM {OTEL_TRACES} WHERE Timestamp >= {{horizon:DateTime64(9, 'UTC')}})"
)
"""The raw spans a rebuild derives from: those the raw retention keeps, by span start, which is
the event time of the row derived from each (a span older than the horizon that a merge has not
expired yet is left out, its business row kept as stored)."""

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
{business_event_select(rules, RAW_FROM_HORIZON)}
        )
    )
) AS derived
LEFT ANY JOIN (
    SELECT Fact, IngestedAt AS First FROM {FIRST_KNOWN}
    ORDER BY Fact, IngestedAt
    LIMIT 1 BY Fact
) AS known USING Fact
SETTINGS join_use_nulls = 1"""


REDERIVE_SETTINGS: Final = {
    "min_insert_block_size_rows": 65_536,
    "min_insert_block_size_bytes": 64 * 1024 * 1024,
}
"""The re-derivation's insert squashes blocks of at most 65,536 rows or 64 MiB (the engine's
default, a million rows or 256 MiB, held some 1.6 GB more at 10M): a rebuild runs inside the
service (``POST /api/v1/admin/rebuild``) beside ingest. At 10M the peak went from 2,929-3,021 to
1,366-1,420 MiB for 10-35 % more CPU, turn about under load (benchmarks/history/rebuild.md)."""


HOLDING: Final = ("running", "failed")
"""The rebuild records that leave the business tables missing rows: one under way, and one that
failed (an engine error mid-way) and must be run again. ``done`` releases them."""


def holds_tables(record: tuple[str, datetime] | None, now: datetime) -> bool:
    """Whether the rebuild record (``REBUILD_KEY``'s value and instant) says the business rows
    are missing or half re-stored: running or failed, and younger than ``REBUILD_STALE``."""
    return record is not None and record[0] in HOLDING and now - record[1] < REBUILD_STALE


def rebuild_running(client: Client, now: datetime) -> datetime | None:
    """When the rebuild that holds the business tables (``holds_tables``) started or failed, or
    None."""
    record = read_state(client, REBUILD_KEY).get(REBUILD_KEY)
    return record[1] if record is not None and holds_tables(record, now) else None


@dataclass(frozen=True)
class RebuildReport:
    """Counts after a rebuild: raw spans read, business events and object references derived,
    and how many events are known from the rebuild on (derived differently or for the first
    time, and those ingested while it ran; the others kept the instant they were first
    stored)."""

    spans: int
    events: int
    references: int
    new_knowledge: int = 0
    kept_before: datetime | None = None
    """The raw retention's horizon, or the oldest raw span stored if later: events before it were
    kept as stored (None: everything was derived again)."""


def rebuild(
    client: Client,
    rules: CorrelationRules,
    topology: Topology | None = None,
    *,
    raw_days: int = 0,
) -> RebuildReport:
    """Derive the business tables again from every span in ``otel_traces``: truncated and
    refilled, or, with a raw retention of ``raw_days`` (0: raw spans are kept forever), their
    rows of events from its horizon on deleted and derived again, the older kept as stored.

    Inserting into ``biz_events`` fires the event→object view, so both tables are refilled. The
    SLA timer state waits while it runs (``REBUILD_KEY``): it would otherwise see half-filled
    tables and resolve alerts only to fire them again. Its ``done`` record tells the state to
    re-derive every timer once (``slas.business_state``), as rows derived again keep their
    knowledge time and no window of new rows would show them; a version is written only where a
    timer changed.
    """
    topology = topology or Topology()
    started = datetime.now(UTC)
    horizon = _horizon(client, started - timedelta(days=raw_days) if raw_days > 0 else None)
    write_state(client, REBUILD_KEY, "running", at=started)
    try:
        report = _rederive(client, rules, topology, started, horizon)
    except BaseException:
        # the rows it had deleted are still missing: the state keeps waiting, and says so, until
        # a rebuild finishes (a ``done`` here let the keeper mark every missing timer deleted)
        write_state(client, REBUILD_KEY, "failed", at=datetime.now(UTC))
        raise
    write_state(client, REBUILD_KEY, "done", at=datetime.now(UTC))
    return report


def _horizon(client: Client, retained_from: datetime | None) -> datetime | None:
    """The instant from which on events are derived again: the raw retention's horizon
    (``retained_from``, None when raw spans are kept forever) or the oldest raw span stored,
    whichever is later, so no fact whose raw span is gone is deleted. None when no business row
    is older than it: every row is derived again, the tables truncated."""
    spans, oldest = client.query(OLDEST_RAW_SPAN).result_rows[0]
    horizon = oldest.replace(tzinfo=oldest.tzinfo or UTC) if spans else NOTHING
    if retained_from is not None:
        horizon = max(horizon, retained_from)
    older = client.query(OLDER_THAN_HORIZON, parameters={"horizon": horizon}).result_rows[0][0]
    return horizon if older else None


def _rederive(
    client: Client,
    rules: CorrelationRules,
    topology: Topology,
    started: datetime,
    horizon: datetime | None,
) -> RebuildReport:
    parameters = {"horizon": horizon or EVERYTHING}
    client.command(CREATE_FIRST_KNOWN)
    client.command(KEEP_FIRST_KNOWN, parameters=parameters)
    # a delete rewrites every part (they are compact: one file each); with no event older than
    # the horizon (``_horizon`` then gives None) emptying the tables costs nothing
    for table in (BIZ_EVENTS, BIZ_EVENT_OBJECTS):
        stored = f"{topology.storage(table)}{topology.on_cluster}"
        if horizon is None:
            client.command(f"TRUNCATE TABLE IF EXISTS {stored}")
        else:
            client.command(f"DELETE FROM {stored} WHERE {HORIZON}", parameters=parameters)
    logger.info("re-deriving business tables from %s", OTEL_TRACES)
    client.command(rederive_statement(rules), parameters=parameters, settings=REDERIVE_SETTINGS)
    client.command(f"TRUNCATE TABLE {FIRST_KNOWN}")
    spans = client.query(
        f"SELECT count() FROM {RAW_FROM_HORIZON}", parameters=parameters
    ).result_rows[0][0]
    events, new = client.query(
        f"SELECT count(), countIf(IngestedAt >= {{started:DateTime64(3, 'UTC')}}) "
        f"FROM {BIZ_EVENTS} FINAL",
        parameters={"started": started},
    ).result_rows[0]
    refs = client.query(f"SELECT count() FROM {BIZ_EVENT_OBJECTS} FINAL").result_rows[0][0]
    return RebuildReport(int(spans), int(events), int(refs), int(new), horizon)
