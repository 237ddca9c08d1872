"""Which attempt of a business event decides what. Its attempts stand in one order (instant,
attempt number, span id: ``ATTEMPT_ORDER`` in SQL, ``attempt_order`` in Python): the latest
decides whether the event stands failed, as SLA state, blocked items, lineage, the
completeness-and-accuracy report and the OCEL export read it. Which attempt's facts (amount,
currency) count (``COUNTED_ATTEMPT``): its first successful attempt, else its latest attempt, in
the business state's snapshots and the report; a lineage node shows the same attempt
(``lineage.graph.EventNode.decisive``). The one definition of both, for every feature."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from domain import semconv as sc
from domain.business_event import BusinessEvent
from domain.instants import utc

_SUCCESS = f"Outcome = '{sc.SUCCESS}'"

ATTEMPT_ORDER: Final = "(EventTime, Attempt, SpanId)"
"""The order of an event's attempts as an aggregate's key (``attempt_order``, in SQL):
``argMax(Outcome, ATTEMPT_ORDER)`` is the outcome of its latest attempt, ``argMin`` of a column
its first attempt's. Without the attempt number and the span id, attempts at one instant (a
failure and its retry stamped alike, a replay under another trace) would leave ``argMax`` to keep
whichever row it met first: an event the SLA state calls failed while the lineage and the report
call it posted. Span ids compare as their text, as in Python."""


FAILING_SINCE: Final = (
    f"arrayMin(arrayMap(a -> a.1, arrayFilter(a -> a > maxIf({ATTEMPT_ORDER}, {_SUCCESS}), "
    f"groupArrayIf({ATTEMPT_ORDER}, NOT {_SUCCESS}))))"
)
"""When an event's current run of failed attempts began (an aggregate over its attempts): its
first failed attempt after its last successful one in ``ATTEMPT_ORDER``; the zero instant when its
latest attempt succeeded. By instant alone, a failure stamped like the success before it began no
run at all."""

_LATEST_ERROR = f"argMax((ErrorCategory, ErrorCode), {ATTEMPT_ORDER})"
LATEST_ERROR: Final = f"{_LATEST_ERROR}.1, {_LATEST_ERROR}.2"
"""The error of an event's latest attempt in ``ATTEMPT_ORDER``: two aggregate columns over its
attempts, its category and its code, both of the one attempt. What close risk names for each
blocking event and blocked invoices for each blocker."""


def attempt_order(attempt: BusinessEvent) -> tuple[datetime, int, str]:
    """The order of an event's attempts (``ATTEMPT_ORDER`` in Python): a lineage node's attempts
    sorted by it, the latest last (``lineage.graph.group_attempts``)."""
    return (utc(attempt.timestamp), attempt.attempt, attempt.span_id)


_SPAN_RANK = "toInt128(reinterpretAsUInt64(reverse(unhex(SpanId))))"
"""A span id (16 hex digits) as the number it spells: it orders as its text."""

COUNTED_ATTEMPT: Final = (
    f"({_SUCCESS}, "
    f"if({_SUCCESS}, -toUnixTimestamp64Nano(EventTime), toUnixTimestamp64Nano(EventTime)), "
    f"if({_SUCCESS}, -toInt64(Attempt), toInt64(Attempt)), "
    f"if({_SUCCESS}, -{_SPAN_RANK}, {_SPAN_RANK}))"
)
"""The ``argMax`` key of the counted attempt: successes first, the earliest of them (then the
lowest attempt number, then the lowest span id), else the latest attempt in ``ATTEMPT_ORDER``
(spelt here as numbers, so that successes can sort the other way). Without the span id, attempts
that tie on the rest (a replay under another trace at the same instant and number) would leave
``argMax`` to keep whichever row it met first, which depends on how the engine splits the rows
between threads: an answer an auditor could not reproduce."""
