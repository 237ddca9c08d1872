"""A full evaluation of every SLA at an instant: read every stored event, correlate, apply business
time. The service keeps its answers as state instead (``slas.business_state``); this is the
reference the state is tested against, and what ``benchmarks/slas.py`` measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from slas.calendars import CalendarBook
from slas.definitions import SlaDefinition
from slas.queries import customer_hashes, load_snapshot
from slas.snapshot import EventSnapshot
from slas.timer_pairing import correlate
from slas.timers import (
    EvaluatedTimers,
    apply_filters,
    evaluate_timers,
)


@dataclass(frozen=True)
class Evaluation:
    """Every SLA's timers at ``as_of``, in definition order."""

    as_of: datetime
    snapshot: EventSnapshot
    timers: dict[str, tuple[SlaDefinition, EvaluatedTimers]]


def evaluate(
    client: Client,
    definitions: Sequence[SlaDefinition],
    calendars: CalendarBook,
    as_of: datetime,
) -> Evaluation:
    """Read once, then evaluate every definition at ``as_of``."""
    snapshot = load_snapshot(client, as_of)
    customers = [c for d in definitions for c in d.customers]
    hashes = customer_hashes(client, customers) if customers else {}
    timers = {}
    for definition in definitions:
        found = apply_filters(correlate(snapshot, definition), definition, hashes)
        timers[definition.name] = (definition, evaluate_timers(found, definition, calendars, as_of))
    return Evaluation(as_of, snapshot, timers)
