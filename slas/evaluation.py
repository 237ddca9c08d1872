"""One evaluation of every SLA at an instant: read the snapshot, correlate, apply business time.

The shared shell of the API, the evaluator and the benchmark; ids are looked up only for the
timers a caller shows (``timer_views``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from clickhouse_connect.driver.client import Client

from slas.business_time import from_epoch_seconds
from slas.calendars import CalendarBook
from slas.correlation import correlate
from slas.definitions import SlaDefinition
from slas.queries import customer_hashes, event_ids, load_snapshot, object_ids
from slas.snapshot import EventSnapshot, object_type_name
from slas.timers import (
    BREACH_REASONS,
    STATES,
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


@dataclass(frozen=True)
class TimerView:
    """One timer as the API shows it."""

    key_type: str
    key_id: str
    state: str
    breach_reason: str
    started_at: datetime
    stopped_at: datetime | None
    deadline: datetime
    business_elapsed_hours: float
    percent_elapsed: float
    legal_entity: str
    amount: float | None
    currency: str
    start_event_id: str
    stop_event_id: str


def timer_views(client: Client, evaluated: EvaluatedTimers, rows: np.ndarray) -> list[TimerView]:
    """The timers at ``rows`` with their ids looked up."""
    timers = evaluated.timers
    keys = object_ids(
        client,
        timers.key[rows].tolist(),
        [object_type_name(int(code)) for code in set(timers.key_type[rows].tolist())],
    )
    events = event_ids(
        client, [*timers.start_event[rows].tolist(), *timers.stop_event[rows].tolist()]
    )
    views = []
    for row in rows.tolist():
        key_type = object_type_name(int(timers.key_type[row]))
        stopped_us = int(timers.stopped_us[row])
        amount = float(timers.amount[row])
        target = float(evaluated.target_seconds[row])
        elapsed = float(evaluated.elapsed_seconds[row])
        views.append(
            TimerView(
                key_type=key_type,
                key_id=keys.get(int(timers.key[row]), (key_type, ""))[1],
                state=STATES[int(evaluated.state[row])],
                breach_reason=BREACH_REASONS[int(evaluated.reason[row])],
                started_at=datetime.fromtimestamp(int(timers.started_us[row]) / 1e6, tz=UTC),
                stopped_at=datetime.fromtimestamp(stopped_us / 1e6, tz=UTC)
                if stopped_us >= 0
                else None,
                deadline=from_epoch_seconds(float(evaluated.deadline[row])),
                business_elapsed_hours=round(elapsed / 3600, 4),
                percent_elapsed=round(100 * elapsed / target, 1) if target else 0.0,
                legal_entity=timers.entity_name(int(timers.legal_entity[row])),
                amount=None if np.isnan(amount) else round(amount, 2),
                currency=str(timers.currency[row]),
                start_event_id=events.get(int(timers.start_event[row]), ""),
                stop_event_id=events.get(int(timers.stop_event[row]), ""),
            )
        )
    return views


class EvaluationCache:
    """Recent evaluations by ``as_of``, kept for a few seconds, so a page that asks for the summary
    and then the timers at the same instant reads ClickHouse once."""

    def __init__(self, *, ttl_seconds: float = 10.0, size: int = 4) -> None:
        self._ttl = ttl_seconds
        self._size = size
        self._entries: dict[datetime, tuple[float, Evaluation]] = {}
        self._lock = threading.Lock()

    def get(self, as_of: datetime) -> Evaluation | None:
        with self._lock:
            entry = self._entries.get(as_of)
            if entry is None or time.monotonic() - entry[0] > self._ttl:
                return None
            return entry[1]

    def put(self, evaluation: Evaluation) -> None:
        with self._lock:
            self._entries[evaluation.as_of] = (time.monotonic(), evaluation)
            while len(self._entries) > self._size:
                oldest = min(self._entries, key=lambda k: self._entries[k][0])
                del self._entries[oldest]
