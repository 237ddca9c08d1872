"""The ``sla_timers`` rows of a snapshot (pure): every timer of every SLA with the instants at which
its state changes (warning shares crossed, deadline, stop), so that its state at any ``as_of`` is a
comparison in SQL (``slas.timer_answers``). Correlation is ``slas.correlation``'s, business time
``slas.business_time``'s: the same rules as a full evaluation, applied to part of the graph.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property

import numpy as np

from slas.business_time import clock_for_span
from slas.calendars import CalendarBook
from slas.correlation import TimerSet, correlate
from slas.definitions import SlaDefinition
from slas.snapshot import EventSnapshot, object_type_name, period_text
from slas.timers import apply_filters

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATE, WRONG_PERIOD = "late", "wrong_period"
"""Why a stopped timer breached; an open timer past its deadline is ``missing`` (decided at
``as_of``, not stored)."""


@dataclass(frozen=True)
class SnapshotNames:
    """The ids behind a snapshot's hashes: events, objects (type, id) and customers."""

    events: Mapping[int, str]
    objects: Mapping[int, tuple[str, str]]
    customers: Mapping[int, str]


@dataclass(frozen=True)
class TimerRow:
    """One timer as ``sla_timers`` stores it (without its version columns)."""

    key_type: str
    key_id: str
    sla: str
    start_event_id: str
    started_at: datetime
    start_period: str
    deadline: datetime
    target_seconds: float
    warning_shares: tuple[float, ...]
    warning_at: tuple[datetime, ...]
    stop_event_id: str
    stopped_at: datetime | None
    stop_period: str
    stop_reason: str
    elapsed_seconds: float
    legal_entity: str
    customer: str
    amount: Decimal | None
    currency: str

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.key_type, self.key_id, self.sla, self.start_event_id)

    @cached_property
    def digest(self) -> int:
        """A 64-bit digest of the content: a re-derivation writes a version only when it moved."""
        text = repr(tuple(getattr(self, name) for name in _FIELDS)).encode()
        return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


_FIELDS = tuple(f.name for f in fields(TimerRow))


def micros_to_datetime(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(micros))


def seconds_to_datetime(seconds: float) -> datetime:
    return _EPOCH + timedelta(microseconds=round(seconds * 1_000_000))


def timer_rows(
    snapshot: EventSnapshot,
    definitions: Sequence[SlaDefinition],
    calendars: CalendarBook,
    names: SnapshotNames,
) -> list[TimerRow]:
    """Every timer of ``definitions`` in ``snapshot``, keyed and dated."""
    customer_hashes = {name: code for code, name in names.customers.items()}
    rows: list[TimerRow] = []
    for definition in definitions:
        timers = apply_filters(correlate(snapshot, definition), definition, customer_hashes)
        rows += _rows_of(timers, definition, calendars, names)
    return rows


def _rows_of(
    timers: TimerSet, definition: SlaDefinition, calendars: CalendarBook, names: SnapshotNames
) -> list[TimerRow]:
    count = len(timers)
    if not count:
        return []
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
    result = []
    for row in range(count):
        key_type, key_id = names.objects.get(
            int(timers.key[row]), (object_type_name(int(timers.key_type[row])), "")
        )
        has_stop = bool(stopped[row])
        units = int(timers.amount_units[row])
        result.append(
            TimerRow(
                key_type=key_type,
                key_id=key_id,
                sla=definition.name,
                start_event_id=names.events.get(int(timers.start_event[row]), ""),
                started_at=micros_to_datetime(int(timers.started_us[row])),
                start_period=period_text(int(timers.start_period[row])),
                deadline=seconds_to_datetime(float(deadline[row])),
                target_seconds=float(target[row]),
                warning_shares=tuple(shares),
                warning_at=tuple(seconds_to_datetime(float(at)) for at in warning_at[row]),
                stop_event_id=names.events.get(int(timers.stop_event[row]), "") if has_stop else "",
                stopped_at=micros_to_datetime(int(timers.stopped_us[row])) if has_stop else None,
                stop_period=period_text(int(timers.stop_period[row])) if has_stop else "",
                stop_reason=LATE if late[row] else WRONG_PERIOD if wrong_period[row] else "",
                elapsed_seconds=round(float(elapsed[row]), 3) if has_stop else 0.0,
                legal_entity=timers.entity_name(int(timers.legal_entity[row])),
                customer=names.customers.get(int(timers.customer[row]), ""),
                amount=None
                if np.isnan(timers.amount[row])
                else Decimal(units).scaleb(-4).normalize(),
                currency=str(timers.currency[row]),
            )
        )
    return result
