"""The ``close_items`` rows of a snapshot (pure): every invoice-level item (a billing event whose
``billing.ready`` was attempted) and every attempted revenue posting, with the instants at which it
changes: when its stage events were first attempted and when they took effect. Whether an item is
posted, blocked or waiting at any ``as_of`` is then a comparison (``slas.close_state``).

The items are ``slas.close_items``'s: the same choice of ready and posting events, the same due
period; this module keeps the instants that snapshot arrays reduce to one ``as_of``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from operator import attrgetter
from typing import Any, Final

import numpy as np

from domain import semconv as sc
from domain.instants import utc
from domain.money import from_units
from domain.periods import period_text
from lineage.rules import LineageRules
from slas.blocking import upstream_causes
from slas.business_time import clock_for_span
from slas.calendars import CalendarBook
from slas.close_items import ready_and_posting, refs_of
from slas.snapshot import NO_TIME, EventSnapshot, I64Array, object_type_code
from slas.state_queries import ITEM_COLUMNS
from slas.timer_rows import SnapshotNames, micros_to_datetime

INVOICE: Final = "invoice"
REVENUE: Final = "revenue"


@dataclass(frozen=True)
class ItemRow:
    """One item as ``close_items`` stores it (without its version columns).

    ``stage_*`` describe the event the item waits for first (billing.ready; the revenue posting
    itself for revenue items), ``posting_*`` the posting (invoice.posted; the same revenue
    posting). ``*_first_at``: the first attempt; ``*_effective_at``: the first success.
    """

    item_type: str
    item_id: str
    kind: str
    legal_entity: str
    customer: str
    currency: str
    amount: Decimal | None
    due_period: str
    stage_event_id: str
    stage_first_at: datetime | None
    stage_effective_at: datetime | None
    posting_event_id: str
    posting_type: str
    posting_first_at: datetime | None
    posting_effective_at: datetime | None
    posted_period: str
    stage_seconds: float
    """Business seconds from the stage taking effect to the posting (-1 while not posted)."""
    invoice: str
    """The invoice number the posting names, if any."""
    upstream_event_id: str
    """The root cause upstream, if a failed event upstream stops the item (``slas.blocking``)."""
    upstream_event_type: str
    upstream_first_at: datetime | None
    stage_error_category: str = ""
    """``*_error_*``: the error of the step's latest failed attempt, and since when its failures
    have had that error (``slas.queries``' failure facts; empty when it never failed). At an
    ``as_of`` at which the step holds the item, from ``*_error_since`` on, that is the error of
    its latest attempt so far: the blocked-invoice answer reads it here rather than from
    ``biz_events``."""
    stage_error_code: str = ""
    stage_error_since: datetime | None = None
    posting_error_category: str = ""
    posting_error_code: str = ""
    posting_error_since: datetime | None = None
    upstream_error_category: str = ""
    upstream_error_code: str = ""
    upstream_error_since: datetime | None = None

    @property
    def identity(self) -> tuple[str, str]:
        return (self.item_type, self.item_id)

    @cached_property
    def digest(self) -> int:
        """``values_digest`` of its fields."""
        return values_digest(_ALL_VALUES(self))


_FIELDS = tuple(f.name for f in fields(ItemRow))
_VERSION_COLUMNS = ("ItemType", "ItemId", "KnownAt", "Deleted", "Digest")
_FACT_FIELDS = tuple(name for name in _FIELDS if "_error_" in name)
assert _FIELDS[-len(_FACT_FIELDS) :] == _FACT_FIELDS  # the facts come last
_FACT_COUNT = len(_FACT_FIELDS)
_ALL_VALUES = attrgetter(*_FIELDS)
"""A row's fields as a tuple, in field order (one call, not one ``getattr`` per field)."""
ItemValues = tuple[Any, ...]
"""An item row's fields in ``ItemRow``'s order (``ItemRow(*values)`` is the row): what a
re-derivation compares by digest before it makes a row of the few that moved."""


def values_digest(values: ItemValues) -> int:
    """A hash of every field of a row (``ItemValues``). The failure facts count only when one is
    set: a row whose steps never failed hashes as rows did before migration 20 added them, so
    that the re-derivation after it writes new versions only for the items that failed."""
    facts = values[-_FACT_COUNT:]
    spelled = values if any(f not in ("", None) for f in facts) else values[:-_FACT_COUNT]
    text = repr(spelled).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


_INSTANTS = frozenset(
    ("stage_first_at", "stage_effective_at", "posting_first_at", "posting_effective_at",
     "upstream_first_at", "stage_error_since", "posting_error_since", "upstream_error_since")
)  # fmt: skip


_COLUMNS = ("ItemType", "ItemId", *(c for c in ITEM_COLUMNS if c not in _VERSION_COLUMNS))
"""The ``close_items`` column of each ``ItemRow`` field, in field order: a field without its
column (or a column without its field) fails here, at import."""
if len(_COLUMNS) != len(_FIELDS):
    raise RuntimeError(f"ItemRow's fields {_FIELDS} do not match close_items' columns {_COLUMNS}")


def item_columns(rows: Sequence[ItemRow]) -> dict[str, list[Any]]:
    """The ``close_items`` columns of ``rows`` but the version's (``KnownAt``, ``Deleted``)."""
    values = zip(*map(_ALL_VALUES, rows), strict=True) if rows else [[] for _ in _FIELDS]
    columns: dict[str, list[Any]] = {
        column: list(value) for column, value in zip(_COLUMNS, values, strict=True)
    }
    columns["Digest"] = [row.digest for row in rows]
    return columns


def stored_item_row(values: Sequence[Any]) -> ItemRow:
    """The row a stored version holds, ``values`` in ``ItemRow``'s field order, each spelled as
    a derivation spells it (aware UTC instants, normalised amounts), so that its ``digest`` is
    the one stored with it."""
    spelled: dict[str, Any] = {}
    for name, value in zip(_FIELDS, values, strict=True):
        if name in _INSTANTS and value is not None:
            value = utc(value)
        elif name == "amount" and value is not None:
            value = Decimal(value).normalize()
        elif name == "stage_seconds":
            value = float(value)
        elif value is not None:
            value = str(value)
        spelled[name] = value
    return ItemRow(**spelled)


def _instant(micros: int) -> datetime | None:
    return None if micros < 0 else micros_to_datetime(micros)


def item_rows(
    snapshot: EventSnapshot, calendars: CalendarBook, rules: LineageRules, names: SnapshotNames
) -> list[ItemRow]:
    """Every invoice-level and revenue item of ``snapshot``."""
    return [ItemRow(*values) for values in item_values(snapshot, calendars, rules, names)]


def item_values(
    snapshot: EventSnapshot, calendars: CalendarBook, rules: LineageRules, names: SnapshotNames
) -> list[ItemValues]:
    """``item_rows``' rows as their fields' values, no row made (a re-derivation makes rows only
    of the items whose digest moved)."""
    causes = upstream_causes(snapshot, rules)
    at = _Lists.of(snapshot, causes, names)
    return [
        *_invoice_values(snapshot, calendars, names, at),
        *_revenue_values(snapshot, names, at),
    ]


_NO_FAILURE: Final = ("", "", None)


def _failure(
    snapshot: EventSnapshot, names: SnapshotNames, row: int
) -> tuple[str, str, datetime | None]:
    """The error category, code and since when of the event of row ``row`` (-1: none), as the
    ``{step}_error_*`` fields of an item whose step it is spell them."""
    if row < 0:
        return _NO_FAILURE
    found = names.failures.get(int(snapshot.event[row]))
    return _NO_FAILURE if found is None else (found[0], found[1], _instant(found[2]))


def _upstream(
    snapshot: EventSnapshot, names: SnapshotNames, cause: int
) -> tuple[str, str, datetime | None]:
    """The ``upstream_event_id``, ``_event_type`` and ``_first_at`` fields of an item whose stage
    event's root cause is row ``cause`` (-1: none)."""
    if cause < 0:
        return "", "", None
    code = int(snapshot.event_type[cause])
    return (
        names.events[int(snapshot.event[cause])],
        sc.EVENT_TYPES[code - 1] if code else "",
        _instant(int(snapshot.failing_since_us[cause])),
    )


def failure_facts(
    snapshot: EventSnapshot, names: SnapshotNames, step: str, row: int
) -> dict[str, object]:
    """The ``{step}_error_*`` fields of an item whose ``step`` (stage, posting, upstream) is the
    event of row ``row`` (-1: none)."""
    category, code, since = _failure(snapshot, names, row)
    return {
        f"{step}_error_category": category,
        f"{step}_error_code": code,
        f"{step}_error_since": since,
    }


def upstream_facts(snapshot: EventSnapshot, names: SnapshotNames, cause: int) -> dict[str, object]:
    """The ``upstream_*`` fields of an item whose stage event's root cause is row ``cause`` (-1:
    none)."""
    event_id, event_type, first_at = _upstream(snapshot, names, cause)
    return {
        "upstream_event_id": event_id,
        "upstream_event_type": event_type,
        "upstream_first_at": first_at,
        **failure_facts(snapshot, names, "upstream", cause),
    }


def own_failure_facts(
    snapshot: EventSnapshot, names: SnapshotNames, stage: int, posting: int
) -> dict[str, object]:
    """The ``stage_error_*`` and ``posting_error_*`` fields of an item whose stage and posting
    events are rows ``stage`` and ``posting`` (-1: none)."""
    return {
        **failure_facts(snapshot, names, "stage", stage),
        **failure_facts(snapshot, names, "posting", posting),
    }


def _invoices_of(snapshot: EventSnapshot, names: SnapshotNames) -> dict[int, str]:
    """Event row → the invoice number it names (its first, in id order)."""
    refs = snapshot.ref_object_type == object_type_code(sc.INVOICE)
    found: dict[int, str] = {}
    for row, obj in zip(
        snapshot.ref_row[refs].tolist(), snapshot.ref_object_index[refs].tolist(), strict=True
    ):
        invoice = names.objects[int(snapshot.objects[obj])][1]
        if row not in found or invoice < found[row]:
            found[row] = invoice
    return found


@dataclass(frozen=True)
class _Lists:
    """The snapshot columns an item row reads, as lists, and what every item reads of the
    snapshot once: one conversion per column, not one numpy scalar per field per row."""

    event: list[int]
    first_us: list[int]
    effective_us: list[int]
    first_period: list[int]
    effective_period: list[int]
    took_effect: list[bool]
    currency: list[int]
    entity: list[int]
    customer: list[int]
    objects: list[int]
    causes: list[int]
    amount_units: list[int]
    no_amount: list[bool]
    invoices: dict[int, str]
    """Event row → the invoice number it names (``_invoices_of``)."""
    upstream: dict[int, tuple[Any, ...]]
    """Root cause row → the ``upstream_*`` fields (the event's and its failure's) of the items
    it stops (a few causes stop many items)."""

    def amount(self, row: int) -> Decimal | None:
        """The counted amount of the event of row ``row`` (None when it has none)."""
        return None if self.no_amount[row] else from_units(self.amount_units[row]).normalize()

    @classmethod
    def of(cls, snapshot: EventSnapshot, causes: I64Array, names: SnapshotNames) -> _Lists:
        entity, customer = snapshot.dimensions
        cause_list = causes.tolist()
        return cls(
            snapshot.event.tolist(),
            snapshot.first_us.tolist(),
            snapshot.effective_us.tolist(),
            snapshot.first_period.tolist(),
            snapshot.effective_period.tolist(),
            snapshot.took_effect.tolist(),
            snapshot.currency.tolist(),
            entity.tolist(),
            customer.tolist(),
            snapshot.objects.tolist(),
            cause_list,
            snapshot.amount_units.tolist(),
            np.isnan(snapshot.amount).tolist(),
            _invoices_of(snapshot, names),
            {
                cause: (*_upstream(snapshot, names, cause), *_failure(snapshot, names, cause))
                for cause in set(cause_list)
            },
        )


def _invoice_values(
    snapshot: EventSnapshot, calendars: CalendarBook, names: SnapshotNames, at: _Lists
) -> list[ItemValues]:
    ready, posting = ready_and_posting(snapshot)
    posting_of = dict(zip(posting["objects"].tolist(), posting["rows"].tolist(), strict=True))
    stage_seconds = _stage_seconds(snapshot, calendars, ready, posting_of)
    entities, currencies = ("", *snapshot.legal_entities), ("", *snapshot.currencies)
    rows = []
    for obj, ready_row in zip(ready["objects"].tolist(), ready["rows"].tolist(), strict=True):
        post = posting_of.get(obj, -1)
        own = at.entity[ready_row] or (at.entity[post] if post >= 0 else 0)
        due = at.first_period[ready_row] or (at.first_period[post] if post >= 0 else 0)
        posted = post >= 0 and at.took_effect[post]
        item_type, item_id = names.objects[at.objects[obj]]
        upstream = at.upstream[at.causes[ready_row]]
        rows.append(
            (
                item_type,
                item_id,
                INVOICE,
                entities[own],
                names.customers.get(at.customer[ready_row], ""),
                currencies[at.currency[ready_row]],
                at.amount(ready_row),
                period_text(due),
                names.events[at.event[ready_row]],
                _instant(at.first_us[ready_row]),
                _instant(at.effective_us[ready_row]),
                names.events[at.event[post]] if post >= 0 else "",
                sc.INVOICE_POSTED if post >= 0 else "",
                _instant(at.first_us[post]) if post >= 0 else None,
                _instant(at.effective_us[post]) if post >= 0 else None,
                period_text(at.effective_period[post]) if posted else "",
                stage_seconds.get(obj, -1.0),
                at.invoices.get(post, "") if post >= 0 else "",
                *upstream[:3],
                *_failure(snapshot, names, ready_row),
                *_failure(snapshot, names, post),
                *upstream[3:],
            )
        )
    return rows


def _stage_seconds(
    snapshot: EventSnapshot,
    calendars: CalendarBook,
    ready: dict[str, I64Array],
    posting_of: dict[int, int],
) -> dict[int, float]:
    """Business seconds each posted invoice stage took (billing.ready → invoice.posted)."""
    entity, _ = snapshot.dimensions
    done: dict[int, list[tuple[int, float, float]]] = {}
    for obj, ready_row in zip(ready["objects"].tolist(), ready["rows"].tolist(), strict=True):
        post = posting_of.get(obj, -1)
        started = int(snapshot.effective_us[ready_row])
        if post < 0 or not snapshot.took_effect[post] or started == NO_TIME:
            continue
        code = int(entity[ready_row]) or int(entity[post])
        posted = max(int(snapshot.effective_us[post]), started)
        done.setdefault(code, []).append((obj, started / 1e6, posted / 1e6))
    seconds: dict[int, float] = {}
    for code, stages in done.items():
        calendar = calendars.for_entity(snapshot.legal_entities[code - 1] if code else "")
        starts = np.array([s for _, s, _ in stages])
        stops = np.array([p for _, _, p in stages])
        clock = clock_for_span(calendar, float(starts.min()), float(stops.max()))
        elapsed = clock.elapsed(starts, stops)
        seconds.update(
            {obj: round(float(e), 3) for (obj, _, _), e in zip(stages, elapsed, strict=True)}
        )
    return seconds


def _revenue_values(snapshot: EventSnapshot, names: SnapshotNames, at: _Lists) -> list[ItemValues]:
    journal_refs = refs_of(snapshot, sc.REVENUE_POSTED, sc.JOURNAL)
    event_rows = snapshot.ref_row[journal_refs]
    event_rows, unique = np.unique(event_rows, return_index=True)
    journals = snapshot.ref_object_index[journal_refs][unique]
    entities, currencies = ("", *snapshot.legal_entities), ("", *snapshot.currencies)
    rows = []
    for row, obj in zip(event_rows.tolist(), journals.tolist(), strict=True):
        item_type, item_id = names.objects[at.objects[obj]]
        posted = at.took_effect[row]
        event_id = names.events[at.event[row]]
        first, effective = _instant(at.first_us[row]), _instant(at.effective_us[row])
        failure = _failure(snapshot, names, row)
        upstream = at.upstream[at.causes[row]]
        rows.append(
            (
                item_type,
                item_id,
                REVENUE,
                entities[at.entity[row]],
                names.customers.get(at.customer[row], ""),
                currencies[at.currency[row]],
                at.amount(row),
                period_text(at.first_period[row]),
                event_id,
                first,
                effective,
                event_id,
                sc.REVENUE_POSTED,
                first,
                effective,
                period_text(at.effective_period[row]) if posted else "",
                -1.0,
                at.invoices.get(row, ""),
                *upstream[:3],
                *failure,
                *failure,
                *upstream[3:],
            )
        )
    return rows
