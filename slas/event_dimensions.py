"""The ``event_dimensions`` state: the legal entity and period of every business event as the
business state resolves them (``EventSnapshot.dimensions`` and ``EventSnapshot.periods``, the one
definition of both), appended as a new version whenever a re-derivation resolves an event
differently, so that the completeness-and-accuracy report (``lineage.audit_queries``) reads them
instead of resolving them again over the whole history.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from clickhouse_connect.driver.client import Client

from domain.periods import period_text
from slas.snapshot import EventSnapshot
from slas.state_columns import insert_columns
from slas.state_queries import CHUNK_EVENT_IDS
from slas.timer_rows import SnapshotNames
from warehouse.schema import EVENT_DIMENSIONS, STATE_COMPONENT_EVENTS

Dimensions = tuple[str, str]
"""An event's (legal entity, period); empty text where none is known."""

_LATEST = f"""
SELECT EventId, argMax((LegalEntity, Period), KnownAt)
FROM {EVENT_DIMENSIONS}
WHERE {{where}}
GROUP BY EventId
"""

LATEST_DIMENSIONS_OF_CHUNK: Final = _LATEST.format(where=f"EventId GLOBAL IN ({CHUNK_EVENT_IDS})")
LATEST_DIMENSIONS_OF_NAMED: Final = _LATEST.format(
    where=f"EventId GLOBAL IN (SELECT EventId FROM {STATE_COMPONENT_EVENTS})"
)
"""The latest stored dimensions of some events, of a chunk's or of the named component's
(named by a subquery, as the other state reads of a chunk or component are)."""


def dimension_rows(snapshot: EventSnapshot, names: SnapshotNames) -> dict[str, Dimensions]:
    """Event id → (legal entity, period) of every event of ``snapshot``."""
    entity, _ = snapshot.dimensions
    entities = ("", *snapshot.legal_entities)
    periods = snapshot.periods.tolist()
    texts = {period: period_text(period) for period in set(periods)}  # a few distinct ones
    return {
        names.events[event_hash]: (entities[code], texts[period])
        for event_hash, code, period in zip(
            snapshot.event.tolist(), entity.tolist(), periods, strict=True
        )
    }


def latest_dimensions(client: Client, *, chunk: int | None) -> dict[str, Dimensions]:
    """Event id → its latest stored dimensions, for the events of ``chunk`` (of the component
    ``component`` closed when None)."""
    if chunk is None:
        table = client.query_arrow(LATEST_DIMENSIONS_OF_NAMED)
    else:
        table = client.query_arrow(LATEST_DIMENSIONS_OF_CHUNK, parameters={"chunk": chunk})
    # columns, not rows: tens of thousands of events a tick, no tuple parsed one by one
    event_ids_, latest = (column.combine_chunks() for column in table.columns)
    dimensions = zip(latest.field(0).to_pylist(), latest.field(1).to_pylist(), strict=True)
    return dict(zip(event_ids_.to_pylist(), dimensions, strict=True))


def changed_dimensions(
    fresh: Mapping[str, Dimensions], stored: Mapping[str, Dimensions]
) -> list[tuple[str, Dimensions]]:
    """The events whose dimensions differ from their latest stored version (or have none)."""
    return [(event_id, dims) for event_id, dims in fresh.items() if stored.get(event_id) != dims]


def append_dimensions(
    client: Client, changed: list[tuple[str, Dimensions]], *, known_at: datetime
) -> None:
    insert_columns(
        client,
        EVENT_DIMENSIONS,
        {
            "EventId": [event_id for event_id, _ in changed],
            "KnownAt": known_at,
            "LegalEntity": [entity for _, (entity, _) in changed],
            "Period": [period for _, (_, period) in changed],
        },
    )
