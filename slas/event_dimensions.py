"""The ``event_dimensions`` state: the legal entity and period of every business event as the
business state resolves them (``EventSnapshot.dimensions`` and ``EventSnapshot.periods``, the one
definition of both), appended as a new version whenever a re-derivation resolves an event
differently, so that the completeness-and-accuracy report (``lineage.audit_queries``) reads them
instead of resolving them again over the whole history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from domain.periods import period_text
from slas.digests import U64Array
from slas.snapshot import EventSnapshot
from slas.state_columns import insert_columns
from slas.state_queries import CHUNK_EVENT_IDS
from slas.timer_rows import SnapshotNames
from warehouse.schema import EVENT_DIMENSIONS, STATE_COMPONENT_EVENTS

_LATEST = f"""
SELECT cityHash64(EventId) AS event_hash, argMax((LegalEntity, Period), KnownAt) AS latest
FROM {EVENT_DIMENSIONS}
WHERE {{where}}
GROUP BY EventId
"""

LATEST_DIMENSIONS_OF_CHUNK: Final = _LATEST.format(where=f"EventId GLOBAL IN ({CHUNK_EVENT_IDS})")
LATEST_DIMENSIONS_OF_NAMED: Final = _LATEST.format(
    where=f"EventId GLOBAL IN (SELECT EventId FROM {STATE_COMPONENT_EVENTS})"
)
"""The latest stored dimensions of some events, of a chunk's or of the named component's
(named by a subquery, as the other state reads of a chunk or component are), each event by the
hash a snapshot keys it with."""


@dataclass(frozen=True, eq=False)
class StoredDimensions:
    """The latest stored (legal entity, period) of some events, in columns: the events' hashes
    (``cityHash64`` of their ids) and the two texts as Arrow."""

    event: U64Array
    legal_entity: pa.Array
    period: pa.Array

    @staticmethod
    def none() -> StoredDimensions:
        """No event's dimensions stored."""
        empty = pa.array([], type=pa.string())
        return StoredDimensions(np.zeros(0, np.uint64), empty, empty)


def latest_dimensions(client: Client, *, chunk: int | None) -> StoredDimensions:
    """The latest stored dimensions of the events of ``chunk`` (of the component ``component``
    closed when None)."""
    if chunk is None:
        table = client.query_arrow(LATEST_DIMENSIONS_OF_NAMED)
    else:
        table = client.query_arrow(LATEST_DIMENSIONS_OF_CHUNK, parameters={"chunk": chunk})
    # columns, not rows: hundreds of thousands of events a chunk, no tuple made per event
    latest = table["latest"].combine_chunks()
    return StoredDimensions(
        np.asarray(table["event_hash"].to_numpy(), dtype=np.uint64),
        latest.field(0).cast(pa.string()),
        latest.field(1).cast(pa.string()),
    )


def changed_dimensions(
    snapshot: EventSnapshot, names: SnapshotNames, stored: StoredDimensions
) -> dict[str, Any]:
    """The ``event_dimensions`` columns but ``KnownAt`` of every event of ``snapshot`` whose
    (legal entity, period), as ``EventSnapshot.dimensions`` and ``EventSnapshot.periods``
    resolve them, differ from its latest stored version (or that has none)."""
    entity, _ = snapshot.dimensions
    entities = ("", *snapshot.legal_entities)
    periods, period_codes = np.unique(snapshot.periods, return_inverse=True)
    texts = tuple(period_text(int(period)) for period in periods)  # a few distinct ones
    rows = snapshot.rows_of(stored.event)
    known = rows >= 0
    same = np.zeros(len(snapshot.event), dtype=bool)
    same[rows[known]] = (_codes(stored.legal_entity, entities)[known] == entity[rows[known]]) & (
        _codes(stored.period, texts)[known] == period_codes[rows[known]]
    )
    changed = np.flatnonzero(~same)
    return {
        "EventId": [names.events[h] for h in snapshot.event[changed].tolist()],
        "LegalEntity": np.array(entities, dtype=object)[entity[changed]],
        "Period": np.array(texts, dtype=object)[period_codes[changed]],
    }


def _codes(texts: pa.Array, table: tuple[str, ...]) -> npt.NDArray[np.int64]:
    """Each text's index in ``table``, -1 where it is not there."""
    found = pc.index_in(texts, value_set=pa.array(table, type=pa.string()))
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def append_dimensions(client: Client, changed: dict[str, Any], *, known_at: datetime) -> None:
    """Append ``changed``'s columns (``changed_dimensions``) as versions known at ``known_at``."""
    insert_columns(client, EVENT_DIMENSIONS, {**changed, "KnownAt": known_at})
