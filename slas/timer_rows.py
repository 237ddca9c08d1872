"""The ``sla_timers`` rows of a snapshot (pure): every timer of every SLA with the instants at which
its state changes (warning shares crossed, deadline, stop), so that its state at any ``as_of`` is a
comparison in SQL (``slas.timer_answers``). Which starts and stops pair up is
``slas.timer_pairing``'s, business time ``slas.business_time``'s: the same rules as a full
evaluation, applied to part of the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.instants import EPOCH
from domain.periods import period_text
from slas.business_time import clock_for_span
from slas.calendars import CalendarBook
from slas.definitions import SlaDefinition
from slas.digests import U64Array, row_digests, text_hash, text_hashes
from slas.snapshot import EventSnapshot, F64Array, I64Array, U8Array, object_type_name
from slas.state_columns import amounts, instants, lists
from slas.timer_pairing import TimerSet, correlate
from slas.timers import apply_filters

LATE, WRONG_PERIOD = "late", "wrong_period"
"""Why a stopped timer breached; an open timer past its deadline is ``missing`` (decided at
``as_of``, not stored)."""


@dataclass(frozen=True)
class SnapshotNames:
    """The ids behind a snapshot's hashes: events, objects (type, id) and customers; and the
    failures of the events that ever failed (``slas.queries``' failure facts)."""

    events: Mapping[int, str]
    objects: Mapping[int, tuple[str, str]]
    customers: Mapping[int, str]
    failures: Mapping[int, tuple[str, str, int]] = field(default_factory=dict)
    """Event hash → the error category and code of its latest failed attempt, and since when (in
    epoch microseconds) its failures have had that error."""


def micros_to_datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(micros))


def seconds_to_datetime(seconds: float) -> datetime:
    return EPOCH + timedelta(microseconds=round(seconds * 1_000_000))


_REASONS = ("", LATE, WRONG_PERIOD)


@dataclass(frozen=True, eq=False)
class DerivedTimers:
    """One SLA's timers in columns, with the instants a row stores worked out (vectorised): the
    ``sla_timers`` columns are built only for the timers a caller asks for."""

    definition: SlaDefinition
    timers: TimerSet
    deadline_us: I64Array
    target: F64Array
    elapsed_ms: I64Array
    """Business milliseconds to the stop (0 while open)."""
    warning_us: I64Array
    """One column per warning share."""
    reason: U8Array
    """Index into ``_REASONS``."""

    def __len__(self) -> int:
        return len(self.timers)

    @cached_property
    def identities(self) -> U64Array:
        """One hash per timer of (key object, SLA, start event), as ``timer_identities`` spells
        a stored timer's."""
        return timer_identities(
            self.timers.key, np.full(len(self), text_hash(self.definition.name), np.uint64),
            self.timers.start_event,
        )  # fmt: skip

    @cached_property
    def digests(self) -> U64Array:
        """One hash per timer of everything its row stores."""
        timers, count = self.timers, len(self)
        stopped = timers.stopped_us >= 0
        entity_names = [timers.entity_name(code) for code in range(len(timers.legal_entities) + 1)]
        entities = text_hashes(entity_names)[timers.legal_entity.astype(np.int64)]
        no_amount = np.isnan(timers.amount)
        return row_digests(
            [
                self.identities,
                timers.started_us,
                timers.start_period,
                self.deadline_us,
                self.target,
                text_hash(repr(self.definition.warning_thresholds)),
                *self.warning_us.T,
                np.where(stopped, timers.stop_event, 0),
                timers.stopped_us,
                np.where(stopped, timers.stop_period, 0),
                self.reason,
                self.elapsed_ms,
                entities,
                timers.customer,
                no_amount,
                np.where(no_amount, 0, timers.amount_units),
                text_hashes(pa.array(timers.currency, type=pa.string())),
            ],
            count,
        )

    def columns(self, names: SnapshotNames, indices: I64Array) -> dict[str, Any]:
        """The ``sla_timers`` columns of the timers at ``indices`` but the version's (``KnownAt``,
        ``Deleted``), with ``digests``' values: built from the arrays, no object per timer."""
        timers, definition = self.timers.select(indices), self.definition
        count = len(indices)
        stopped = timers.stopped_us >= 0
        shares = np.asarray(definition.warning_thresholds, dtype=np.float64)
        objects, events = names.objects, names.events
        keys = [
            objects.get(key) or (object_type_name(kind), "")
            for key, kind in zip(timers.key.tolist(), timers.key_type.tolist(), strict=True)
        ]
        no_amount = np.isnan(timers.amount)
        return {
            "KeyType": [key_type for key_type, _ in keys],
            "KeyId": [key_id for _, key_id in keys],
            "Sla": definition.name,
            "StartEventId": [events.get(h, "") for h in timers.start_event.tolist()],
            "Digest": self.digests[indices],
            "StartedAt": instants(timers.started_us),
            "StartPeriod": _texts(timers.start_period, period_text),
            "Deadline": instants(self.deadline_us[indices]),
            "TargetSeconds": self.target[indices],
            "WarningShares": lists(pa.array(np.tile(shares, count)), len(shares), count),
            "WarningAt": lists(instants(self.warning_us[indices].ravel()), len(shares), count),
            "StopEventId": [
                events.get(h, "") if has_stop else ""
                for h, has_stop in zip(timers.stop_event.tolist(), stopped.tolist(), strict=True)
            ],
            "StoppedAt": instants(timers.stopped_us, missing=~stopped),
            "StopPeriod": _texts(np.where(stopped, timers.stop_period, 0), period_text),
            "StopReason": np.array(_REASONS, dtype=object)[self.reason[indices]],
            "ElapsedSeconds": self.elapsed_ms[indices] / 1000,
            "LegalEntity": _texts(timers.legal_entity, timers.entity_name),
            "Customer": [names.customers.get(h, "") for h in timers.customer.tolist()],
            "Amount": amounts(timers.amount_units, missing=no_amount),
            "Currency": [str(currency) for currency in timers.currency],
        }


def _texts(codes: npt.NDArray[Any], spelled: Callable[[int], str]) -> npt.NDArray[np.object_]:
    """Each code spelled, once per distinct code."""
    distinct, inverse = np.unique(codes, return_inverse=True)
    return np.array([spelled(int(code)) for code in distinct], dtype=object)[inverse]


def timer_identities(
    key_hashes: U64Array, sla_hashes: U64Array, event_hashes: U64Array
) -> U64Array:
    """The identity hash of timers given the ``cityHash64`` of their key object (type, id) and
    start event id, and the ``text_hash`` of their SLA's name."""
    return row_digests([key_hashes, sla_hashes, event_hashes], len(key_hashes))


def derive_timers(
    snapshot: EventSnapshot,
    definitions: Sequence[SlaDefinition],
    calendars: CalendarBook,
    names: SnapshotNames,
) -> list[DerivedTimers]:
    """Every timer of ``definitions`` in ``snapshot``, keyed and dated, one SLA each."""
    customer_hashes = {name: code for code, name in names.customers.items()}
    return [
        _derive(apply_filters(correlate(snapshot, definition), definition, customer_hashes),
                definition, calendars)
        for definition in definitions
    ]  # fmt: skip


def _derive(timers: TimerSet, definition: SlaDefinition, calendars: CalendarBook) -> DerivedTimers:
    count = len(timers)
    started = timers.started_us / 1e6
    stopped = timers.stopped_us >= 0
    stop = np.where(stopped, timers.stopped_us / 1e6, started)
    deadline = np.zeros(count)
    target = np.zeros(count)
    elapsed = np.zeros(count)
    shares = definition.warning_thresholds
    warning_at = np.zeros((count, len(shares)))
    for code in np.unique(timers.legal_entity).tolist():
        rows = np.flatnonzero(timers.legal_entity == code)
        calendar = calendars.for_entity(timers.entity_name(int(code)))
        target_seconds = definition.target.seconds(calendar)
        clock = clock_for_span(
            calendar,
            float(started[rows].min()),
            float(max(started[rows].max(), stop[rows].max())),
            target_seconds,
        )
        target[rows] = target_seconds
        deadline[rows] = clock.advance(started[rows], np.full(len(rows), target_seconds))
        elapsed[rows] = clock.elapsed(started[rows], stop[rows])
        for column, share in enumerate(shares):
            warning_at[rows, column] = clock.advance(
                started[rows], np.full(len(rows), share * target_seconds)
            )
    late = stopped & (stop > deadline)
    wrong_period = np.zeros(count, dtype=bool)
    if definition.same_period:
        known = (timers.start_period > 0) & (timers.stop_period > 0)
        wrong_period = stopped & ~late & known & (timers.stop_period != timers.start_period)
    return DerivedTimers(
        definition,
        timers,
        deadline_us=np.round(deadline * 1_000_000).astype(np.int64),
        target=target,
        elapsed_ms=np.where(stopped, np.round(elapsed * 1000), 0).astype(np.int64),
        warning_us=np.round(warning_at * 1_000_000).astype(np.int64).reshape(count, len(shares)),
        reason=np.where(late, 1, np.where(wrong_period, 2, 0)).astype(np.uint8),
    )
