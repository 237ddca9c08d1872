"""Which attempt's facts (amount, currency) count for a business event: its first successful
attempt, else its latest attempt. The one definition, in SQL, for every answer that aggregates an
event's attempts (the business state's snapshots, the completeness-and-accuracy report); a lineage
node shows the same attempt (``lineage.graph.EventNode.decisive``)."""

from __future__ import annotations

from typing import Final

from domain import semconv as sc

_SUCCESS = f"Outcome = '{sc.SUCCESS}'"

_SPAN_RANK = "toInt128(reinterpretAsUInt64(reverse(unhex(SpanId))))"
"""A span id (16 hex digits) as the number it spells: it orders as its text."""

COUNTED_ATTEMPT: Final = (
    f"({_SUCCESS}, "
    f"if({_SUCCESS}, -toUnixTimestamp64Nano(EventTime), toUnixTimestamp64Nano(EventTime)), "
    f"if({_SUCCESS}, -toInt64(Attempt), toInt64(Attempt)), "
    f"if({_SUCCESS}, -{_SPAN_RANK}, {_SPAN_RANK}))"
)
"""The ``argMax`` key of the counted attempt: successes first, the earliest of them (then the
lowest attempt number, then the lowest span id), else the latest attempt (then the highest
number, then the highest span id): the order of a node's attempts (``lineage.graph``
``group_attempts``: instant, attempt number, span id). Without the span id, attempts that tie on
the rest (a replay under another trace at the same instant and number) would leave ``argMax`` to
keep whichever row it met first, which depends on how the engine splits the rows between
threads: an answer an auditor could not reproduce."""
