"""The errors of named events at an instant, from their attempts kept per knowledge time: the
first stored version of every attempt of an event known at ``known_at`` does not change once
``known_at`` is under the business state's watermark (an answer's ``known_at`` always is), so a
close-risk answer reads only the events it has not seen at that ``known_at`` and works out the
error of each one's latest attempt by ``as_of`` in Python (``latest_error``), as
``slas.close_state.ERRORS`` does in SQL.

What is kept is bounded (``KEPT_EVENTS``, least recently used first out) and is dropped whole
whenever the business state's reading changes (``slas.kept_facts``; a rebuild stores the facts
it derives differently, under changed rules, with a new knowledge time).
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable
from datetime import datetime
from typing import Final

from clickhouse_connect.driver.client import Client

from domain.instants import utc
from slas.kept_facts import KeptFacts
from warehouse.counted_attempt import ATTEMPT_ORDER
from warehouse.first_stored import NAMED_EVENTS_KNOWN_AT

KEPT_EVENTS: Final = 4096
"""Events whose attempts one ``ErrorAttempts`` keeps at most (each a few attempts: some hundreds
of bytes): a late close-risk answer names some 80 blocking events, mostly those of the answers
before it."""

ATTEMPTS = f"""
SELECT EventId, toUnixTimestamp64Nano(EventTime), ErrorCategory, ErrorCode
FROM {NAMED_EVENTS_KNOWN_AT}
ORDER BY EventId, {ATTEMPT_ORDER}
"""
"""Every attempt of the events named (``event_ids``) known at ``known_at`` (its first stored
version), in ``ATTEMPT_ORDER`` within each event (the engine's order, as ``argMax`` over it
ranks them): its instant in nanoseconds since the epoch (``EventTime`` keeps nanoseconds), its
error category and code."""

Attempts = tuple[tuple[int, str, str], ...]
"""An event's attempts as ``ATTEMPTS`` reads them, in its order: (nanoseconds, category, code)."""


def nanos(instant: datetime) -> int:
    """``instant`` in nanoseconds since the epoch, exactly (no float on the way)."""
    moment = utc(instant)
    whole = int(moment.replace(microsecond=0).timestamp())
    return (whole * 1_000_000 + moment.microsecond) * 1000


def latest_error(attempts: Attempts, as_of: datetime) -> tuple[str, str] | None:
    """The error category and code of the latest of ``attempts`` (in ``ATTEMPT_ORDER``) at or
    before ``as_of``; None when none was made by then (``ERRORS`` has no row for the event)."""
    last = bisect.bisect_right([at for at, _, _ in attempts], nanos(as_of))
    if not last:
        return None
    _, category, code = attempts[last - 1]
    return category, code


def read_attempts(client: Client, event_ids: list[str], known_at: datetime) -> dict[str, Attempts]:
    """``ATTEMPTS`` of ``event_ids`` by event; an event without any known at ``known_at`` maps to
    none (it is kept as such too)."""
    found: dict[str, list[tuple[int, str, str]]] = {event: [] for event in event_ids}
    if event_ids:
        rows = client.query(
            ATTEMPTS, parameters={"event_ids": event_ids, "known_at": known_at}
        ).result_rows
        for event, at, category, code in rows:
            found[str(event)].append((int(at), str(category), str(code)))
    return {event: tuple(attempts) for event, attempts in found.items()}


class ErrorAttempts:
    """Events' attempts kept by (event, knowledge time) (``KeptFacts``, ``KEPT_EVENTS`` of
    them)."""

    def __init__(self, size: int = KEPT_EVENTS) -> None:
        self._kept: KeptFacts[tuple[str, datetime], Attempts] = KeptFacts(size)

    def __len__(self) -> int:
        return len(self._kept)

    def known(
        self, reading: Hashable, known_at: datetime, event_ids: Iterable[str]
    ) -> tuple[dict[str, Attempts], list[str]]:
        """The attempts kept of ``event_ids`` at ``known_at``, and (sorted) the events not kept;
        everything kept from another ``reading`` is dropped first."""
        found, unseen = self._kept.known(
            reading, [(event, known_at) for event in sorted(set(event_ids))]
        )
        return {event: attempts for (event, _), attempts in found.items()}, [e for e, _ in unseen]

    def keep(self, reading: Hashable, known_at: datetime, attempts: dict[str, Attempts]) -> None:
        """Keep ``attempts`` (read at ``known_at`` under ``reading``); nothing when the reading
        changed since."""
        self._kept.keep(
            reading, {(event, known_at): of_event for event, of_event in attempts.items()}
        )
