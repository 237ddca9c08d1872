"""The business events an evaluation reads, as numpy arrays: one row per event, one per reference.

Ids travel as 64-bit hashes (``cityHash64`` computed by ClickHouse) and low-cardinality strings as
codes, so that correlation is array arithmetic; ``slas.queries`` turns the hashes of the few rows
a caller shows back into ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from domain import semconv as sc

U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]
U32Array = npt.NDArray[np.uint32]
U16Array = npt.NDArray[np.uint16]
U8Array = npt.NDArray[np.uint8]
F64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.object_]

NO_TIME = -1
"""``stopped_us`` of a timer without a stop, ``effective_us`` of an event that never took effect."""

DIMENSION_ROUNDS = 3
"""Hops through the event-object graph to find an event's legal entity and customer."""

EVENT_COLUMNS = (
    ("event_hash", "<u8"),
    ("event_type", "u1"),
    ("took_effect", "u1"),
    ("failed", "u1"),
    ("effective_us", "<i8"),
    ("effective_period", "<u4"),
    ("first_us", "<i8"),
    ("failing_since_us", "<i8"),
    ("first_period", "<u4"),
    ("legal_entity", "<u2"),
    ("customer", "<u8"),
    ("amount", "<f8"),
    ("amount_units", "<i8"),
    ("currency", "<u2"),
)
REFERENCE_COLUMNS = (("event_hash", "<u8"), ("object_hash", "<u8"), ("object_type", "u1"))


def event_type_code(event_type: str) -> int:
    """The code of ``event_type`` in snapshot arrays (1-based like ClickHouse's ``indexOf``)."""
    return sc.EVENT_TYPES.index(event_type) + 1


def object_type_code(object_type: str) -> int:
    return sc.OBJECT_TYPES.index(object_type) + 1


def object_type_name(code: int) -> str:
    return sc.OBJECT_TYPES[code - 1] if 0 < code <= len(sc.OBJECT_TYPES) else ""


def codes_of(names: tuple[str, ...] | list[str], *, objects: bool = False) -> U8Array:
    convert = object_type_code if objects else event_type_code
    return np.array([convert(name) for name in names], dtype=np.uint8)


def table(rows: list[tuple[Any, ...]], columns: tuple[tuple[str, str], ...]) -> Any:
    """A structured array in the layout ``slas.queries`` returns (for tests and fakes)."""
    return np.array(rows, dtype=list(columns))


@dataclass(frozen=True, eq=False)
class EventSnapshot:
    """Business events up to ``as_of_us``.

    Event rows are sorted by ``event``. ``took_effect``: some attempt succeeded;
    ``effective_us`` / ``effective_period``: that attempt's start and period (-1 / 0 otherwise);
    ``first_us`` / ``first_period``: the first attempt's (the period an item is due in);
    ``failed``: its latest attempt is not a success (docs/semantic-conventions.md's failed event). ``legal_entity``
    and ``currency`` are 1-based codes into the name tuples (0: none); ``customer`` is a hash (0:
    none). References are (event, object) pairs without the dimension types, one per attempt;
    ``ref_row`` is the referencing event's row and ``ref_object_index`` the object's index into
    ``objects``.
    """

    as_of_us: int
    legal_entities: tuple[str, ...]
    currencies: tuple[str, ...]
    event: U64Array
    event_type: U8Array
    took_effect: BoolArray
    failed: BoolArray
    effective_us: I64Array
    effective_period: U32Array
    first_us: I64Array
    failing_since_us: I64Array
    """Start of the current run of failed attempts (-1 while the latest attempt succeeded)."""
    first_period: U32Array
    legal_entity: U16Array
    customer: U64Array
    amount: F64Array
    amount_units: I64Array
    """The counted attempt's amount in ten-thousandths (exact, as ``Decimal(18, 4)`` stores it)."""
    currency: U16Array
    objects: U64Array
    ref_row: I64Array
    ref_object_index: I64Array
    ref_object_type: U8Array

    @classmethod
    def from_arrays(
        cls,
        as_of_us: int,
        events: Any,
        references: Any,
        *,
        legal_entities: tuple[str, ...],
        currencies: tuple[str, ...],
    ) -> EventSnapshot:
        """Build from the structured arrays of ``slas.queries`` (any row order).

        References may repeat (one per attempt of an event); consumers that count them dedupe.
        """
        order = np.argsort(events["event_hash"], kind="stable")

        def column(name: str, dtype: Any) -> Any:
            return np.asarray(events[name])[order].astype(dtype, copy=False)

        event = column("event_hash", np.uint64)
        ref_row = _rows_in(event, np.asarray(references["event_hash"], dtype=np.uint64))
        known = ref_row >= 0
        objects, ref_object_index = np.unique(
            np.asarray(references["object_hash"], dtype=np.uint64)[known], return_inverse=True
        )
        took_effect = column("took_effect", bool)
        return cls(
            as_of_us=as_of_us,
            legal_entities=legal_entities,
            currencies=currencies,
            event=event,
            event_type=column("event_type", np.uint8),
            took_effect=took_effect,
            failed=column("failed", bool),
            effective_us=np.where(took_effect, column("effective_us", np.int64), NO_TIME),
            effective_period=np.where(took_effect, column("effective_period", np.uint32), 0).astype(
                np.uint32
            ),
            first_us=column("first_us", np.int64),
            failing_since_us=column("failing_since_us", np.int64),
            first_period=column("first_period", np.uint32),
            legal_entity=column("legal_entity", np.uint16),
            customer=column("customer", np.uint64),
            amount=column("amount", np.float64),
            amount_units=column("amount_units", np.int64),
            currency=column("currency", np.uint16),
            objects=objects,
            ref_row=ref_row[known],
            ref_object_index=ref_object_index.astype(np.int64, copy=False),
            ref_object_type=np.asarray(references["object_type"], dtype=np.uint8)[known],
        )

    def rows_of(self, events: U64Array) -> I64Array:
        """Row index of each event hash in the event arrays, -1 where it is unknown."""
        return _rows_in(self.event, events)

    @cached_property
    def ref_event_type(self) -> U8Array:
        """The event type of each reference's event (what every SLA's correlation reads)."""
        types: U8Array = self.event_type[self.ref_row]
        return types

    @cached_property
    def ref_took_effect(self) -> BoolArray:
        """Whether each reference's event took effect."""
        effective: BoolArray = self.took_effect[self.ref_row]
        return effective

    @cached_property
    def dimensions(self) -> tuple[U16Array, U64Array]:
        """Legal entity code and customer hash of every event: its own, else an object's.

        Only some events carry the dimensions (contract.signed, project.activated,
        invoice.posted); a time entry's approval inherits them through its project, a change
        order's revenue through the amendment that names its contract (two rounds).
        """
        entity = self.legal_entity.copy()
        customer = self.customer.copy()
        rows, objects = self.ref_row, self.ref_object_index
        for own in (entity, customer):
            for _round in range(DIMENSION_ROUNDS):
                own_by_ref = own[rows]
                carrier = own_by_ref != 0
                by_object = np.zeros(len(self.objects), dtype=own.dtype)
                by_object[objects[carrier]] = own_by_ref[carrier]
                inherited = by_object[objects]
                missing = ~carrier & (inherited != 0)
                if not missing.any():
                    break
                own[rows[missing]] = inherited[missing]
        return entity, customer

    @cached_property
    def periods(self) -> U32Array:
        """The period (``YYYYMM``) every event belongs to: the one it posted into (its first
        successful attempt's ``biz.period``), else its first attempt's, else the UTC month of its
        first attempt (most events carry no period of their own)."""
        months = self.first_us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
        by_time = (months // 12 + 1970) * 100 + months % 12 + 1
        own = np.where(self.effective_period != 0, self.effective_period, self.first_period)
        return np.where(own != 0, own, by_time).astype(np.uint32)

    def currency_names(self, codes: U16Array) -> StrArray:
        return np.array(("", *self.currencies), dtype=object)[codes]


def _rows_in(sorted_hashes: U64Array, wanted: U64Array) -> I64Array:
    if not len(sorted_hashes):
        return np.full(len(wanted), -1, dtype=np.int64)
    index = np.clip(np.searchsorted(sorted_hashes, wanted), 0, len(sorted_hashes) - 1)
    return np.where(sorted_hashes[index] == wanted, index, -1).astype(np.int64)


def empty_snapshot(as_of_us: int) -> EventSnapshot:
    """A snapshot of nothing (a fresh database)."""
    return EventSnapshot.from_arrays(
        as_of_us,
        table([], EVENT_COLUMNS),
        table([], REFERENCE_COLUMNS),
        legal_entities=(),
        currencies=(),
    )
