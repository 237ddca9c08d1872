"""Which stored version of a span counts: the first stored fact wins.

``biz_events`` keeps every version of a span identity (event id, trace id, span id) whose content
differs (migration 13): a re-sent span with another amount is a second version with its own
knowledge time, never an overwrite. Every answer (lineage, evidence, SLA timers, close items, the
audit report) counts the version stored first and shows the others as conflicts; an exact re-send
is the same fact stored twice and counts once. This module is the one definition of that choice.
"""

from __future__ import annotations

from typing import Final

FIRST_STORED_ORDER: Final = "IngestedAt, ContentHash"
"""How the stored rows of one span identity rank: the first stored first (two versions stored in
the same millisecond are told apart by their content hash, so the choice never depends on parts
or merges)."""


def first_stored_events(where: str, columns: str = "*") -> str:
    """A subquery of the ``biz_events`` rows ``where`` selects, one per span identity: the first
    stored.

    ``where`` may narrow by identity (event ids) and knowledge time (``IngestedAt``) only: the
    first stored row of an identity is known by then exactly when any row of it is. A condition on
    the content (type, time, period) belongs outside, applied to the chosen row, or a later version
    could stand in for a first one that the condition drops."""
    return f"""(
    SELECT {columns} FROM biz_events
    WHERE {where}
    ORDER BY EventId, TraceId, SpanId, {FIRST_STORED_ORDER}
    LIMIT 1 BY EventId, TraceId, SpanId
)"""


NAMED_EVENTS_KNOWN_AT: Final = first_stored_events(
    "EventId IN {event_ids:Array(String)} AND IngestedAt <= {known_at:DateTime64(3, 'UTC')}"
)
"""The first stored version of every attempt of the events named (``event_ids``) known at
``known_at``: what an answer reads of a few named events (their errors, when their failures
began), a condition on event time applied outside."""
