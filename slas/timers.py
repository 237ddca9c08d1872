"""Timer states in business time, and the per-SLA summary (pure, vectorised per calendar).

``met``: stopped by its deadline (and, for ``same_period`` SLAs, posted into the start's period);
``breached``: stopped late, in another period, or still open past its deadline (a missing event
is a breach); ``at_risk``: open past the first warning threshold; ``on_track``: the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np

from slas.business_time import clock_for_span, epoch_seconds
from slas.calendars import CalendarBook
from slas.definitions import SlaDefinition
from slas.snapshot import BoolArray, F64Array, U8Array
from slas.timer_pairing import TimerSet

STATES: Final = ("met", "breached", "at_risk", "on_track")
MET, BREACHED, AT_RISK, ON_TRACK = range(4)
BREACH_REASONS: Final = ("", "late", "wrong_period", "missing")
NO_REASON, LATE, WRONG_PERIOD, MISSING = range(4)


@dataclass(frozen=True, eq=False)
class EvaluatedTimers:
    """``timers`` with, per row, everything business time says about it at ``as_of``.

    Instants are UTC epoch seconds. ``threshold`` is the highest warning share an open timer has
    passed (0: none) and ``crossed_at`` when it passed it; for a breached timer ``crossed_at``
    is its deadline.
    """

    timers: TimerSet
    as_of: float
    deadline: F64Array
    target_seconds: F64Array
    elapsed_seconds: F64Array
    state: U8Array
    reason: U8Array
    threshold: F64Array
    crossed_at: F64Array

    def __len__(self) -> int:
        return len(self.state)

    @property
    def is_open(self) -> BoolArray:
        return self.timers.stopped_us < 0

    def select(self, rows: BoolArray) -> EvaluatedTimers:
        return EvaluatedTimers(
            timers=self.timers.select(rows),
            as_of=self.as_of,
            deadline=self.deadline[rows],
            target_seconds=self.target_seconds[rows],
            elapsed_seconds=self.elapsed_seconds[rows],
            state=self.state[rows],
            reason=self.reason[rows],
            threshold=self.threshold[rows],
            crossed_at=self.crossed_at[rows],
        )


def evaluate_timers(
    timers: TimerSet, definition: SlaDefinition, calendars: CalendarBook, as_of: datetime
) -> EvaluatedTimers:
    """The state of every timer of ``definition`` at ``as_of`` (stops after it do not count)."""
    now = epoch_seconds(as_of)
    count = len(timers)
    started = timers.started_us / 1e6
    stopped_us = timers.stopped_us
    stopped = (stopped_us >= 0) & (stopped_us / 1e6 <= now)
    stop = np.where(stopped, stopped_us / 1e6, now)
    deadline = np.zeros(count)
    target = np.zeros(count)
    elapsed = np.zeros(count)
    threshold = np.zeros(count)
    crossed_at = np.full(count, np.nan)
    for code in np.unique(timers.legal_entity) if count else []:
        rows = np.flatnonzero(timers.legal_entity == code)
        calendar = calendars.for_entity(timers.entity_name(int(code)))
        target_seconds = definition.target.seconds(calendar)
        clock = clock_for_span(
            calendar, float(started[rows].min()), max(now, float(stop[rows].max())), target_seconds
        )
        target[rows] = target_seconds
        deadline[rows] = clock.advance(started[rows], np.full(len(rows), target_seconds))
        elapsed[rows] = clock.elapsed(started[rows], stop[rows])
        for share in definition.warning_thresholds:
            passed = elapsed[rows] >= share * target_seconds
            threshold[rows] = np.where(passed, share, threshold[rows])
            at = clock.advance(started[rows], np.full(len(rows), share * target_seconds))
            crossed_at[rows] = np.where(passed, at, crossed_at[rows])

    late = stopped & (stop > deadline)
    wrong_period = np.zeros(count, dtype=bool)
    if definition.same_period:
        known = (timers.start_period > 0) & (timers.stop_period > 0)
        wrong_period = stopped & ~late & known & (timers.stop_period != timers.start_period)
    missing = ~stopped & (deadline < now)
    reason = np.select([late, wrong_period, missing], [LATE, WRONG_PERIOD, MISSING], NO_REASON)
    at_risk = ~stopped & ~missing & (threshold > 0)
    state = np.select(
        [stopped & (reason == NO_REASON), reason != NO_REASON, at_risk],
        [MET, BREACHED, AT_RISK],
        ON_TRACK,
    )
    crossed_at = np.where(state == BREACHED, np.where(stopped, stop, deadline), crossed_at)
    return EvaluatedTimers(
        timers=timers,
        as_of=now,
        deadline=deadline,
        target_seconds=target,
        elapsed_seconds=elapsed,
        state=state.astype(np.uint8),
        reason=reason.astype(np.uint8),
        threshold=np.where(stopped, 0.0, threshold),
        crossed_at=crossed_at,
    )


@dataclass(frozen=True)
class SlaSummary:
    """What ``GET /api/v1/slas`` says about one SLA."""

    name: str
    target: str
    counts: dict[str, int]
    attainment: float | None
    p50_business_hours: float | None
    p95_business_hours: float | None


def summarize(definition: SlaDefinition, evaluated: EvaluatedTimers) -> SlaSummary:
    """Counts by state; attainment = met / (met + breached); percentiles of completed timers."""
    counts = np.bincount(evaluated.state, minlength=len(STATES))
    decided = int(counts[MET] + counts[BREACHED])
    completed = evaluated.elapsed_seconds[~evaluated.is_open] / 3600.0
    p50, p95 = (
        (
            round(float(np.percentile(completed, 50)), 2),
            round(float(np.percentile(completed, 95)), 2),
        )
        if len(completed)
        else (None, None)
    )
    return SlaSummary(
        name=definition.name,
        target=str(definition.target),
        counts={state: int(counts[code]) for code, state in enumerate(STATES)},
        attainment=round(int(counts[MET]) / decided, 4) if decided else None,
        p50_business_hours=p50,
        p95_business_hours=p95,
    )


def apply_filters(
    timers: TimerSet, definition: SlaDefinition, customer_hashes: dict[str, int]
) -> TimerSet:
    """Only the timers of the definition's legal entities and customers (when it names any)."""
    keep = np.ones(len(timers), dtype=bool)
    if definition.legal_entities:
        codes = [timers.entity_code(name) for name in definition.legal_entities]
        keep &= np.isin(timers.legal_entity, codes)
    if definition.customers:
        wanted = [customer_hashes[c] for c in definition.customers if c in customer_hashes]
        keep &= np.isin(timers.customer, np.array(wanted, dtype=np.uint64))
    return timers if keep.all() else timers.select(keep)


@dataclass(frozen=True)
class AttainmentPoint:
    """Met and breached timers of one SLA as they stood at ``instant`` (epoch seconds)."""

    instant: float
    met: int
    breached: int

    @property
    def attainment(self) -> float | None:
        decided = self.met + self.breached
        return round(self.met / decided, 4) if decided else None


def attainment_history(evaluated: EvaluatedTimers, instants: F64Array) -> list[AttainmentPoint]:
    """What evaluations at each of ``instants`` (none after ``evaluated.as_of``) would count as
    met and breached, from this one evaluation: a met timer counts from its stop, one breached
    in the wrong period from its stop, any other breach from the moment its deadline passed."""
    state, reason = evaluated.state, evaluated.reason
    stop = evaluated.timers.stopped_us / 1e6
    met_at = np.sort(stop[state == MET])
    wrong_period_at = np.sort(stop[(state == BREACHED) & (reason == WRONG_PERIOD)])
    overdue_at = np.sort(evaluated.deadline[(state == BREACHED) & (reason != WRONG_PERIOD)])
    met = np.searchsorted(met_at, instants, side="right")
    breached = np.searchsorted(wrong_period_at, instants, side="right") + np.searchsorted(
        overdue_at, instants, side="left"
    )
    return [
        AttainmentPoint(float(instant), int(m), int(b))
        for instant, m, b in zip(instants.tolist(), met.tolist(), breached.tolist(), strict=True)
    ]
