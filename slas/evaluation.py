"""One evaluation of every SLA at an instant: read the snapshot, correlate, apply business time.

The shared shell of the API, the evaluator and the benchmark; ids are looked up only for the
timers a caller shows (``timer_views``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from clickhouse_connect.driver.client import Client

from slas.business_time import from_epoch_seconds
from slas.calendars import CalendarBook
from slas.correlation import correlate
from slas.definitions import SlaDefinition
from slas.id_cache import IdCache
from slas.queries import customer_hashes, load_snapshot
from slas.snapshot import EventSnapshot, object_type_name
from slas.timers import (
    BREACH_REASONS,
    STATES,
    EvaluatedTimers,
    apply_filters,
    evaluate_timers,
)
from warehouse.freshness import FreshCache


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


def timer_views(
    client: Client, evaluated: EvaluatedTimers, rows: np.ndarray, ids: IdCache
) -> list[TimerView]:
    """The timers at ``rows`` with their ids looked up."""
    timers = evaluated.timers
    keys = ids.object_ids(
        client,
        timers.key[rows].tolist(),
        [object_type_name(int(code)) for code in set(timers.key_type[rows].tolist())],
    )
    events = ids.event_ids(
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


LIVE = "live"
"""The key of the evaluation at "now" that the service's evaluator refreshes every interval."""


class Evaluations:
    """The evaluations the API and the evaluator share.

    The live one (no ``as_of``) is evaluated at "now" by the service's evaluator every
    ``live_max_age`` seconds and served in between; one at a given ``as_of`` is computed on first
    request and kept until the data changes. Both obey the cache's staleness bound.
    """

    def __init__(
        self,
        client: Callable[[], Client],
        definitions: Sequence[SlaDefinition],
        calendars: CalendarBook,
        cache: FreshCache[Evaluation],
        *,
        live_max_age: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.definitions = tuple(definitions)
        self.calendars = calendars
        self.ids = IdCache()
        self._client = client
        self._cache = cache
        self._live_max_age = live_max_age
        self._clock = clock
        self.last_live_seconds = 0.0
        """How long the latest live evaluation took (the evaluator paces itself by it)."""

    def at(self, as_of: datetime | None) -> Evaluation:
        """The evaluation at ``as_of``, or the live one."""
        if as_of is None:
            # the evaluator publishes one every interval plus the time an evaluation takes
            max_age = self._live_max_age + 2 * self.last_live_seconds
            return self._cache.get(LIVE, self._evaluate_now, max_age=max_age).value
        return self._cache.get(as_of, lambda: self.evaluate(as_of)).value

    def refresh_live(self, now: datetime) -> Evaluation:
        """Evaluate at ``now`` and make it the live evaluation (the evaluator's tick)."""
        return self._cache.refresh(LIVE, lambda: self._evaluate_live(now), force=True).value

    def evaluate(self, as_of: datetime) -> Evaluation:
        return evaluate(self._client(), self.definitions, self.calendars, as_of)

    def _evaluate_now(self) -> Evaluation:
        return self._evaluate_live(self._clock().replace(microsecond=0))

    def _evaluate_live(self, now: datetime) -> Evaluation:
        started = time.monotonic()
        evaluation = self.evaluate(now)
        self.last_live_seconds = time.monotonic() - started
        return evaluation
