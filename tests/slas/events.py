"""Business-event builders for the SLA tests: one ``Event`` list feeds both the pure core (as an
``EventSnapshot``) and the real engine (as exporter-shaped ``otel_traces`` rows)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain import semconv as sc
from domain.periods import period_number
from slas.snapshot import (
    EVENT_COLUMNS,
    REFERENCE_COLUMNS,
    EventSnapshot,
    event_type_code,
    object_type_code,
    table,
)
from tests.warehouse.spans import span_row

MONDAY = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)
"""A Monday (UTC) with no public holiday in the US, England or Germany."""


def at(days: float = 0, hours: float = 0) -> datetime:
    return MONDAY + timedelta(days=days, hours=hours)


@dataclass
class Event:
    """A business event and its attempts: (time, outcome, period) each."""

    event_type: str
    event_id: str
    objects: dict[str, str | list[str]]
    attempts: list[tuple[datetime, str, str]]
    amount: float | None = None
    currency: str = "EUR"
    legal_entity: str = ""
    customer: str = ""
    error: tuple[str, str] = ("", "")
    extra: dict[str, str] = field(default_factory=dict)

    def refs(self) -> list[tuple[str, str]]:
        pairs = [
            (kind, value)
            for kind, ids in self.objects.items()
            for value in ([ids] if isinstance(ids, str) else ids)
        ]
        if self.legal_entity:
            pairs.append((sc.LEGAL_ENTITY, self.legal_entity))
        if self.customer:
            pairs.append((sc.CUSTOMER, self.customer))
        return pairs


def event(
    event_type: str,
    subject: str,
    objects: dict[str, str | list[str]],
    when: datetime,
    *,
    outcome: str = sc.SUCCESS,
    period: str = "2026-09",
    amount: float | None = None,
    legal_entity: str = "",
    customer: str = "",
) -> Event:
    """One event with one attempt; ``subject`` makes its id ``<type>:<subject>``."""
    return Event(
        event_type,
        f"{event_type}:{subject}",
        objects,
        [(when, outcome, period)],
        amount=amount,
        legal_entity=legal_entity,
        customer=customer,
    )


def retried(base: Event, *attempts: tuple[datetime, str, str]) -> Event:
    """``base`` with more attempts after its first."""
    return Event(**{**base.__dict__, "attempts": [*base.attempts, *attempts]})


def stable_hash(text: str) -> int:
    """A deterministic 64-bit stand-in for ClickHouse's cityHash64 in pure tests."""
    return (zlib.crc32(text.encode()) << 32) | zlib.crc32(text[::-1].encode() + b"#")


def micros(instant: datetime) -> int:
    return round(instant.timestamp() * 1_000_000)


def snapshot_of(events: Iterable[Event], as_of: datetime) -> EventSnapshot:
    """The snapshot ``slas.queries.load_snapshot`` would read for ``events`` at ``as_of``."""
    events = list(events)
    entities = tuple(sorted({e.legal_entity for e in events if e.legal_entity}))
    currencies = tuple(sorted({e.currency for e in events if e.amount is not None}))
    event_rows: list[tuple[Any, ...]] = []
    reference_rows: list[tuple[Any, ...]] = []
    for e in events:
        attempts = sorted(a for a in e.attempts if a[0] <= as_of)
        if not attempts:
            continue
        successes = [a for a in attempts if a[1] == sc.SUCCESS]
        first_success = successes[0] if successes else None
        event_rows.append(
            (
                stable_hash(e.event_id),
                event_type_code(e.event_type),
                int(first_success is not None),
                int(attempts[-1][1] != sc.SUCCESS),
                micros(first_success[0]) if first_success else 0,
                period_number(first_success[2]) if first_success else 0,
                micros(attempts[0][0]),
                failing_since(attempts),
                period_number(attempts[0][2]),
                entities.index(e.legal_entity) + 1 if e.legal_entity else 0,
                stable_hash(e.customer) if e.customer else 0,
                float("nan") if e.amount is None else e.amount,
                0 if e.amount is None else round(e.amount * 10_000),
                currencies.index(e.currency) + 1 if e.amount is not None else 0,
            )
        )
        for kind, value in e.refs():
            if kind in sc.DIMENSION_OBJECT_TYPES:
                continue
            for _ in attempts:  # one reference row per attempt, as biz_event_objects stores them
                reference_rows.append(
                    (
                        stable_hash(e.event_id),
                        stable_hash(f"{kind}\0{value}"),
                        object_type_code(kind),
                    )
                )
    return EventSnapshot.from_arrays(
        micros(as_of),
        table(event_rows, EVENT_COLUMNS),
        table(reference_rows, REFERENCE_COLUMNS),
        legal_entities=entities,
        currencies=currencies,
    )


def failing_since(attempts: list[Any]) -> int:
    """Start of the run of failed attempts at the end (-1 when the latest one succeeded)."""
    if attempts[-1][1] == sc.SUCCESS:
        return -1
    since = attempts[-1][0]
    for attempt in reversed(attempts):
        if attempt[1] == sc.SUCCESS:
            break
        since = attempt[0]
    return micros(since)


def object_hash(kind: str, value: str) -> int:
    return stable_hash(f"{kind}\0{value}")


def span_rows(events: Iterable[Event]) -> list[tuple[Any, ...]]:
    """Exporter rows of every attempt (the derived tables turn them back into events)."""
    rows = []
    for number, e in enumerate(events):
        for attempt, (when, outcome, period) in enumerate(e.attempts, start=1):
            attributes = {
                sc.EVENT_TYPE: e.event_type,
                sc.EVENT_ID: e.event_id,
                sc.OUTCOME: outcome,
                sc.ATTEMPT: str(attempt),
                sc.PERIOD: period,
                **e.extra,
            }
            if e.amount is not None:
                attributes[sc.AMOUNT] = str(e.amount)
                attributes[sc.CURRENCY] = e.currency
            if outcome != sc.SUCCESS and e.error[0]:
                attributes[sc.ERROR_CATEGORY], attributes[sc.ERROR_CODE] = e.error
            ids: dict[str, list[str]] = {}
            for kind, value in e.refs():
                ids.setdefault(kind, []).append(value)
            for kind, values in ids.items():
                attributes[sc.object_id_key(kind)] = (
                    values[0] if len(values) == 1 else json.dumps(values)
                )
            rows.append(
                span_row(
                    attributes,
                    trace_id=f"{number + 1:016x}{attempt:016x}",
                    span_id=f"{number + 1:08x}{attempt:08x}",
                    start_ns=micros(when) * 1000,
                )
            )
    return rows


def reference_triples(snapshot: EventSnapshot) -> list[tuple[int, int, int]]:
    """A snapshot's references in their order as (event row, object index, object type code),
    for rules written as loops."""
    return list(
        zip(
            snapshot.ref_row.tolist(),
            snapshot.ref_object_index.tolist(),
            snapshot.ref_object_type.tolist(),
            strict=True,
        )
    )
