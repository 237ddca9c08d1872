"""Which set-ups may stand failed for a customer, kept per process: the set-up events with a stored
row that did not succeed, by customer, as known up to an instant. ``FAILED_SETUPS`` reads only
these events (``slas.impact_answers``); kept, a blocked-invoice page need not find them again.
Read whole once, then only the rows stored since (a tick's, not the history's); read whole again
after a rebuild of the business tables.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from clickhouse_connect.driver.client import Client

from domain.instants import EPOCH, utc

SETUP_FAILURE_ROWS: Final = """ObjectType IN {dimensions:Array(String)}
  AND EventType IN {event_types:Array(String)} AND IngestedAt <= {known_at:DateTime64(3, 'UTC')}
  AND Outcome != 'success'"""
"""The ``biz_event_objects`` rows that make a set-up a candidate failure of the object they name:
a set-up's stored row, known at ``known_at``, that did not succeed (whichever version of its
attempt was stored first: only events with such a row can stand failed)."""

SETUP_CANDIDATES = f"""
SELECT ObjectId, EventId, min(IngestedAt)
FROM biz_event_objects
WHERE {SETUP_FAILURE_ROWS} AND IngestedAt > {{after:DateTime64(3, 'UTC')}}
GROUP BY ObjectId, EventId
LIMIT {{kept:UInt64}}
"""
"""Every object's candidate set-ups (``SETUP_FAILURE_ROWS`` of every object, not of a few) among
the rows stored after ``after`` and by ``known_at``, and when the first such row was stored: a
set-up is the candidate of an object at any ``known_at`` from then on. At most ``kept`` rows."""

CANDIDATES_KEPT: Final = 100_000
"""The most (customer, set-up) pairs a process keeps: some 1,200 in a quarter of 10M spans, where
reading them all costs about 45 ms. Beyond it none are kept and each answer reads its customers'
candidates itself."""


@dataclass(frozen=True)
class _Kept:
    rebuild: Hashable
    """The business tables' rebuild record when read: a rebuild since (``warehouse.rebuild``, by
    any process) stored every row again, and the candidates are read whole again."""
    cover: datetime
    """Every row stored up to this knowledge time was read (a watermark: none is stored later)."""
    by_object: dict[str, tuple[tuple[datetime, str], ...]] | None
    """Object id → (first failed row stored at, set-up event id); None when more than kept.
    Never changed once built: answers read it without the lock."""
    pairs: int = 0
    """How many (object, set-up) pairs ``by_object`` holds."""


class SetupCandidates:
    """The candidate set-ups of given objects at a ``known_at``, as ``SETUP_FAILURE_ROWS`` finds
    them: read once for every object up to the business state's watermark, then kept, since the
    rows stored up to a watermark never change; when a later ``known_at`` is asked, the rows
    stored since are read and added; after a rebuild, all are read again. Shared by an answer's
    threads.

    What is kept may name more than the rows now say (rows the facts retention dropped since):
    harmless, since ``FAILED_SETUPS`` reads each candidate's attempts as known at ``known_at``
    and names only a set-up whose first stored attempt failed and names the customer, which its
    row in ``biz_event_objects`` then says too."""

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
        rebuild: Callable[[], Hashable],
    ) -> list[str] | None:
        """The candidate set-ups of the objects ``ids`` known at ``known``, in id order; None when
        the process keeps none (more than ``kept``): the caller reads them itself. When what is
        kept does not cover ``known``, the rows stored since are read up to the later of ``known``
        and ``watermark()`` (both at most the watermark: every row up to them is stored); every
        row when ``rebuild()`` (the rebuild record) differs from what it was at the last read."""
        kept = self._current(client, known, watermark, rebuild())
        if kept.by_object is None:
            return None
        return sorted(
            {event for i in ids for at, event in kept.by_object.get(i, ()) if at <= known}
        )

    def _current(
        self,
        client: Client,
        known: datetime,
        watermark: Callable[[], datetime],
        rebuild: Hashable,
    ) -> _Kept:
        with self._lock:  # one read when several answers find nothing kept at once
            kept = self._kept if self._kept is not None and self._kept.rebuild == rebuild else None
            if kept is not None and known <= kept.cover:
                return kept
            # grown by the rows stored since; read whole when nothing is kept under this rebuild,
            # or more than kept (in case fewer are now)
            grown = kept.by_object if kept is not None else None
            cover = max(known, watermark())
            rows = client.query(
                SETUP_CANDIDATES,
                parameters={
                    **self._parameters,
                    "after": EPOCH if kept is None or grown is None else kept.cover,
                    "known_at": cover,
                    "kept": self._most + 1,
                },
            ).result_rows
            # a new dict (answers may be reading the kept one), its untouched entries shared
            by_object = dict(grown or {})
            pairs = kept.pairs if kept is not None and grown is not None else 0
            added: dict[str, list[tuple[datetime, str]]] = {}
            for object_id, event_id, at in rows:  # one row per (object, set-up): grouped
                added.setdefault(str(object_id), []).append((utc(at), str(event_id)))
            for object_id, found in added.items():
                known_ones = {event for _, event in by_object.get(object_id, ())}
                new = [(at, event) for at, event in found if event not in known_ones]  # not again
                by_object[object_id] = (*by_object.get(object_id, ()), *new)
                pairs += len(new)
            full = pairs > self._most
            self._kept = _Kept(rebuild, cover, None if full else by_object, pairs)
            return self._kept
