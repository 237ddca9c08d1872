"""Which set-ups may stand failed for a customer, kept per process: the set-up events with a stored
row that did not succeed, by customer, as known up to an instant. ``FAILED_SETUPS`` reads only
these events (``slas.impact_answers``); kept, a blocked-invoice page need not find them again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from clickhouse_connect.driver.client import Client

from domain.instants import utc
from warehouse.schema_state import writes

SETUP_FAILURE_ROWS: Final = """ObjectType IN {dimensions:Array(String)}
  AND EventType IN {event_types:Array(String)} AND IngestedAt <= {known_at:DateTime64(3, 'UTC')}
  AND Outcome != 'success'"""
"""The ``biz_event_objects`` rows that make a set-up a candidate failure of the object they name:
a set-up's stored row, known at ``known_at``, that did not succeed (whichever version of its
attempt was stored first: only events with such a row can stand failed)."""

SETUP_CANDIDATES = f"""
SELECT ObjectId, EventId, min(IngestedAt)
FROM biz_event_objects
WHERE {SETUP_FAILURE_ROWS}
GROUP BY ObjectId, EventId
LIMIT {{kept:UInt64}}
"""
"""Every object's candidate set-ups (``SETUP_FAILURE_ROWS`` of every object, not of a few) and when
the first such row was stored: a set-up is the candidate of an object at any ``known_at`` from
then on. At most ``kept`` rows."""

CANDIDATES_KEPT: Final = 100_000
"""The most (customer, set-up) pairs a process keeps: some 1,200 in a quarter of 10M spans, where
reading them all costs about 45 ms. Beyond it none are kept and each answer reads its customers'
candidates itself."""


@dataclass(frozen=True)
class _Kept:
    writes: int
    """``warehouse.schema_state.writes`` when read: a reset, a rebuild or a migration by this
    process since (each writes the schema state) may have rewritten the rows read."""
    cover: datetime
    """Every row stored up to this knowledge time was read (a watermark: none is stored later)."""
    by_object: dict[str, tuple[tuple[datetime, str], ...]] | None
    """Object id → (first failed row stored at, set-up event id); None when more than kept."""


class SetupCandidates:
    """The candidate set-ups of given objects at a ``known_at``, as ``SETUP_FAILURE_ROWS`` finds
    them: read once for every object up to the business state's watermark, then kept, since the
    rows stored up to a watermark never change; read again when a later ``known_at`` is asked or
    the process wrote the schema state. Shared by an answer's threads."""

    def __init__(
        self, dimensions: Sequence[str], event_types: Sequence[str], kept: int = CANDIDATES_KEPT
    ) -> None:
        """``dimensions``: the object types set-ups name (customer); ``event_types``: theirs."""
        self._parameters = {"dimensions": list(dimensions), "event_types": list(event_types)}
        self._most = kept
        self._kept: _Kept | None = None
        self._lock = threading.Lock()

    def of(
        self,
        client: Client,
        ids: Iterable[str],
        known: datetime,
        watermark: Callable[[], datetime],
    ) -> list[str] | None:
        """The candidate set-ups of the objects ``ids`` known at ``known``, in id order; None when
        the process keeps none (more than ``kept``): the caller reads them itself. When what is
        kept does not cover ``known``, every object's are read up to the later of ``known`` and
        ``watermark()`` (both at most the watermark: every row up to them is stored)."""
        kept = self._current(client, known, watermark)
        if kept.by_object is None:
            return None
        return sorted(
            {event for i in ids for at, event in kept.by_object.get(i, ()) if at <= known}
        )

    def _current(self, client: Client, known: datetime, watermark: Callable[[], datetime]) -> _Kept:
        with self._lock:  # one read when several answers find nothing kept at once
            kept = self._kept
            if kept is not None and kept.writes == writes() and known <= kept.cover:
                return kept
            written, cover = writes(), max(known, watermark())
            rows = client.query(
                SETUP_CANDIDATES,
                parameters={**self._parameters, "known_at": cover, "kept": self._most + 1},
            ).result_rows
            by_object: dict[str, list[tuple[datetime, str]]] | None = None
            if len(rows) <= self._most:
                by_object = {}
                for object_id, event_id, at in rows:
                    by_object.setdefault(str(object_id), []).append((utc(at), str(event_id)))
            self._kept = _Kept(
                written,
                cover,
                None if by_object is None else {k: tuple(v) for k, v in by_object.items()},
            )
            return self._kept
