"""Which attempt's facts (amount, currency) count for a business event: its first successful
attempt, else its latest attempt. The one definition, in SQL, for every answer that aggregates an
event's attempts (the business state's snapshots, the completeness-and-accuracy report); a lineage
node shows the same attempt (``lineage.graph.EventNode.decisive``)."""

from __future__ import annotations

from typing import Final

from domain import semconv as sc

_SUCCESS = f"Outcome = '{sc.SUCCESS}'"

COUNTED_ATTEMPT: Final = (
    f"({_SUCCESS}, "
    f"if({_SUCCESS}, -toUnixTimestamp64Nano(EventTime), toUnixTimestamp64Nano(EventTime)), "
    f"if({_SUCCESS}, -toInt64(Attempt), toInt64(Attempt)))"
)
"""The ``argMax`` key of the counted attempt: successes first, the earliest of them (then the
lowest attempt number), else the latest attempt (then the highest number)."""
