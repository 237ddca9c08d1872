"""The ``close_items`` rows of a snapshot (pure): every invoice-level item (a billing event whose
``billing.ready`` was attempted) and every attempted revenue posting, with the instants at which it
changes: when its stage events were first attempted and when they took effect. Whether an item is
posted, blocked or waiting at any ``as_of`` is then a comparison (``slas.close_state``).

The items are ``slas.close_items``'s: the same choice of ready and posting events, the same due
period; this module keeps the instants that snapshot arrays reduce to one ``as_of``.

Items are derived, digested and compared in columns (``DerivedItems``): the ids behind the
snapshot's hashes are spelled only for the items a tick writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain import semconv as sc
from domain.money import SCALE
from domain.periods import period_text
from lineage.rules import LineageRules
from slas.blocking import upstream_causes
from slas.business_time import clock_for_span
from slas.calendars import CalendarBook
from slas.close_items import ready_and_posting, refs_of
from slas.digests import U64Array, row_digests, text_hashes
from slas.snapshot import NO_TIME, EventSnapshot, F64Array, I64Array, U8Array, object_type_code
from slas.state_columns import amounts, instants
from slas.state_queries import HASHED_ITEM_COLUMNS, ITEM_COLUMNS
from slas.timer_rows import SnapshotNames

INVOICE: Final = "invoice"
REVENUE: Final = "revenue"
KINDS: Final = (INVOICE, REVENUE)
"""An item's ``Kind`` by its code (``DerivedItems.kind``)."""

DIGEST_SPELLING: Final = "columns: hashed ids, hashed texts, instants in microseconds"
"""How ``item_digests`` spells an item: part of the evaluator's configuration fingerprint, so that
versions digested another way (before it, the BLAKE2 of the ``repr`` of a row's Python values) are
re-derived once, each item getting one new version then."""

DIGESTED: Final = tuple(
    c for c in ITEM_COLUMNS if c not in ("ItemType", "KnownAt", "Deleted", "Digest")
)
"""The columns an item's digest covers, in table order (``ItemType`` through ``ItemId``'s hash)."""
VALUE_COLUMNS: Final = tuple(c for c in DIGESTED if c not in HASHED_ITEM_COLUMNS)
"""The columns digested by their values; the others name an event, an object or a customer and
are digested by the engine's hash of it (``HASHED_ITEM_COLUMNS``)."""


def item_digests(
    values: Mapping[str, Any], hashes: Mapping[str, npt.ArrayLike], count: int
) -> U64Array:
    """One digest per item of ``count``: ``values`` holds the ``VALUE_COLUMNS`` as Arrow columns,
    as a derivation builds them or as the table gives them back; ``hashes`` the
    ``HASHED_ITEM_COLUMNS`` as the engine hashes them (``slas.state_queries``' ``ITEM_HASHES``; a
    derivation has them from its snapshot)."""
    words: list[npt.ArrayLike] = []
    for name in DIGESTED:
        words += [hashes[name]] if name in HASHED_ITEM_COLUMNS else _words(values[name])
    return row_digests(words, count)


def _words(column: pa.Array | pa.ChunkedArray) -> list[npt.NDArray[Any]]:
    """A column's values as ``row_digests`` words, the same whether a derivation built the column
    or the table gave it back: texts by their hash, instants by their microseconds (-1 for none),
    amounts by whether they are missing and their units, numbers as they are."""
    if pa.types.is_dictionary(column.type):  # a LowCardinality column, as the engine may give it
        column = column.cast(column.type.value_type)
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_string(kind):
        return [text_hashes(array.cast(pa.string()).fill_null(""))]
    if pa.types.is_timestamp(kind):
        micros = array.cast(pa.timestamp("us", tz=kind.tz), safe=False).cast(pa.int64())
        return [np.asarray(micros.fill_null(NO_TIME).to_numpy(), dtype=np.int64)]
    if pa.types.is_decimal(kind):
        missing = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return [missing, np.where(missing, 0, _units(array))]
    return [np.asarray(array.to_numpy(zero_copy_only=False))]


def _units(array: pa.Array) -> I64Array:
    """A decimal column's values in ``domain.money``'s units (its unscaled values at ``SCALE``;
    anything where null)."""
    if not len(array):
        return np.zeros(0, dtype=np.int64)
    scaled = array.cast(pa.decimal128(38, SCALE))
    words = np.frombuffer(scaled.buffers()[1], dtype=np.int64)  # 128-bit little-endian
    first = 2 * scaled.offset
    return words[first : first + 2 * len(scaled) : 2].copy()


@dataclass(frozen=True, eq=False)
class DerivedItems:
    """Every item of a snapshot in columns: the snapshot rows each is made of. Its ``close_items``
    columns are built for every item in Arrow (``values``, from codes and arrays), but for the ids,
    which are digested by their hashes and spelled only for the items a caller writes
    (``columns``)."""

    snapshot: EventSnapshot
    names: SnapshotNames
    kind: U8Array
    """Index into ``KINDS``."""
    item: I64Array
    """The item's object (its billing event, the journal of its revenue posting): an index into
    the snapshot's objects."""
    stage: I64Array
    """The row of the event the item waits for first (billing.ready; the revenue posting)."""
    posting: I64Array
    """The row of its posting (invoice.posted; the revenue posting), -1 for none."""
    legal_entity: I64Array
    """1-based code into the snapshot's legal entities (0: none)."""
    due_period: I64Array
    stage_seconds: F64Array
    """Business seconds from the stage taking effect to the posting (-1 while not posted)."""
    invoice: I64Array
    """The invoice the posting names (its first in id order), an index into the snapshot's
    objects; -1 for none."""
    cause: I64Array
    """The row of the root cause upstream of the stage event (``slas.blocking``), -1 for none."""

    def __len__(self) -> int:
        return len(self.kind)

    @cached_property
    def identities(self) -> U64Array:
        """Each item's ``cityHash64(ItemType, ItemId)``: its object's hash."""
        return np.asarray(self.snapshot.objects[self.item], dtype=np.uint64)

    @cached_property
    def _facts(self) -> tuple[dict[str, pa.Array], dict[str, U64Array]]:
        return fact_columns(self.snapshot, self.names, self.stage, self.posting, self.cause)

    @cached_property
    def hashes(self) -> dict[str, U64Array]:
        """The ``HASHED_ITEM_COLUMNS`` of every item, from the snapshot's hashes."""
        snapshot = self.snapshot
        _, customer = snapshot.dimensions
        return {
            "ItemId": self.identities,
            "Customer": customer[self.stage],
            "StageEventId": snapshot.event[self.stage],
            "PostingEventId": _at(snapshot.event, self.posting, 0),
            "Invoice": _at(snapshot.objects, self.invoice, 0),
            **self._facts[1],
        }

    @cached_property
    def values(self) -> dict[str, pa.Array]:
        """The ``VALUE_COLUMNS`` of every item."""
        snapshot, posting = self.snapshot, self.posting
        posted = (posting >= 0) & _at(snapshot.took_effect, posting, False)
        stage = self.stage
        return {
            "Kind": pa.array(KINDS, pa.string()).take(pa.array(self.kind)),
            "LegalEntity": _spelled(snapshot.legal_entities, self.legal_entity),
            "Currency": _spelled(snapshot.currencies, snapshot.currency[stage]),
            "Amount": amounts(
                snapshot.amount_units[stage], missing=np.isnan(snapshot.amount[stage])
            ),
            "DuePeriod": _periods(self.due_period),
            "StageFirstAt": _instants(snapshot.first_us[stage]),
            "StageEffectiveAt": _instants(snapshot.effective_us[stage]),
            "PostingType": _spelled(
                (sc.INVOICE_POSTED, sc.REVENUE_POSTED), np.where(posting >= 0, self.kind + 1, 0)
            ),
            "PostingFirstAt": _instants(_at(snapshot.first_us, posting, NO_TIME)),
            "PostingEffectiveAt": _instants(_at(snapshot.effective_us, posting, NO_TIME)),
            "PostedPeriod": _periods(
                np.where(posted, _at(snapshot.effective_period, posting, 0), 0)
            ),
            "StageSeconds": pa.array(self.stage_seconds, pa.float64()),
            **self._facts[0],
        }

    @cached_property
    def digests(self) -> U64Array:
        """One ``item_digests`` digest per item."""
        return item_digests(self.values, self.hashes, len(self))

    def columns(self, indices: I64Array) -> dict[str, Any]:
        """The ``close_items`` columns of the items at ``indices`` but the version's
        (``KnownAt``, ``Deleted``), with ``digests``' values."""
        chosen = pa.array(np.asarray(indices, dtype=np.int64))
        hashes = {name: column[indices] for name, column in self.hashes.items()}
        return {
            **spelled_ids(hashes, self.names),
            **{name: column.take(chosen) for name, column in self.values.items()},
            "Digest": self.digests[indices],
        }


def spelled_ids(hashes: Mapping[str, U64Array], names: SnapshotNames) -> dict[str, list[str]]:
    """The ids behind ``hashes`` (some of the ``HASHED_ITEM_COLUMNS``; ``ItemId`` gives
    ``ItemType`` too) as a derivation writes them: the names of the snapshot's hashes, empty for
    none (0)."""
    spelled: dict[str, list[str]] = {}
    for name, column in hashes.items():
        found = column.tolist()
        if name == "ItemId":
            keys = [names.objects[h] for h in found]
            spelled["ItemType"] = [item_type for item_type, _ in keys]
            spelled["ItemId"] = [item_id for _, item_id in keys]
        elif name == "Invoice":
            spelled[name] = [names.objects[h][1] if h else "" for h in found]
        elif name == "Customer":
            spelled[name] = [names.customers.get(h, "") for h in found]
        else:
            spelled[name] = [names.events[h] if h else "" for h in found]
    return spelled


def fact_columns(
    snapshot: EventSnapshot,
    names: SnapshotNames,
    stage: I64Array,
    posting: I64Array,
    cause: I64Array,
) -> tuple[dict[str, pa.Array], dict[str, U64Array]]:
    """The columns that how attempts stand moves, of items whose stage, posting and root cause are
    the events of rows ``stage``, ``posting`` and ``cause`` (-1: none): the root cause's type and
    since when it fails, and each step's failure facts (``*Error*``: the error of its latest
    failed attempt, and since when its failures have had it; ``slas.queries``' failure facts); and
    the root cause's hash (``UpstreamEventId``). One spelling for a derivation and for a refresh
    of stored items (``slas.cause_refresh``)."""
    facts = list(names.failures.values())
    failed = snapshot.rows_of(np.fromiter(names.failures, dtype=np.uint64, count=len(facts)))
    failure_of = np.full(len(snapshot.event), -1, dtype=np.int64)
    failure_of[failed[failed >= 0]] = np.flatnonzero(failed >= 0)
    categories, codes = [f[0] for f in facts], [f[1] for f in facts]
    since = np.array([f[2] for f in facts], dtype=np.int64)
    values = {
        "UpstreamEventType": _spelled(sc.EVENT_TYPES, _at(snapshot.event_type, cause, 0)),
        "UpstreamFirstAt": _instants(_at(snapshot.failing_since_us, cause, NO_TIME)),
    }
    for step, rows in (("Stage", stage), ("Posting", posting), ("Upstream", cause)):
        failure = _at(failure_of, rows, -1)
        values[f"{step}ErrorCategory"] = _spelled(categories, failure + 1)
        values[f"{step}ErrorCode"] = _spelled(codes, failure + 1)
        values[f"{step}ErrorSince"] = _instants(_at(since, failure, NO_TIME))
    return values, {"UpstreamEventId": _at(snapshot.event, cause, 0)}


def _at(column: npt.NDArray[Any], rows: I64Array, missing: Any) -> npt.NDArray[Any]:
    """``column`` at ``rows``, ``missing`` where a row is -1."""
    if not len(column):
        return np.full(len(rows), missing, dtype=column.dtype)
    return np.where(rows >= 0, column[rows], missing).astype(column.dtype, copy=False)


def _spelled(texts: tuple[str, ...] | list[str], codes: npt.ArrayLike) -> pa.Array:
    """1-based ``codes`` into ``texts`` spelled, empty for 0."""
    return pa.array(("", *texts), pa.string()).take(pa.array(np.asarray(codes, dtype=np.int64)))


def _periods(periods: npt.ArrayLike) -> pa.Array:
    """Periods (``YYYYMM``, 0 for none) as written (``period_text``), each spelled once."""
    distinct, inverse = np.unique(np.asarray(periods, dtype=np.int64), return_inverse=True)
    spelled = pa.array([period_text(int(period)) for period in distinct.tolist()], pa.string())
    return spelled.take(pa.array(inverse.reshape(-1).astype(np.int64)))


def _instants(micros: npt.NDArray[Any]) -> pa.Array:
    """Microseconds since the epoch as instants, none where negative (``NO_TIME``)."""
    micros = np.asarray(micros, dtype=np.int64)
    return instants(micros, missing=micros < 0)


def derive_items(
    snapshot: EventSnapshot, calendars: CalendarBook, rules: LineageRules, names: SnapshotNames
) -> DerivedItems:
    """Every invoice-level and revenue item of ``snapshot``: invoice-level items first, in the
    order of their billing events' hashes, then revenue items in the order of their events'."""
    ready, posting = ready_and_posting(snapshot)
    ready_rows = ready["rows"]
    post = _posting_rows(posting, ready["objects"])
    revenue_rows, journals = _revenue(snapshot)
    entity, _ = snapshot.dimensions
    entity, first_period = entity.astype(np.int64), snapshot.first_period.astype(np.int64)
    own = np.where(entity[ready_rows] != 0, entity[ready_rows], _at(entity, post, 0))
    due = np.where(
        first_period[ready_rows] != 0, first_period[ready_rows], _at(first_period, post, 0)
    )
    invoice_of = _invoice_objects(snapshot, names)
    stage = np.concatenate((ready_rows, revenue_rows)).astype(np.int64)
    return DerivedItems(
        snapshot,
        names,
        kind=np.repeat(np.array([0, 1], dtype=np.uint8), [len(ready_rows), len(revenue_rows)]),
        item=np.concatenate((ready["objects"], journals)).astype(np.int64),
        stage=stage,
        posting=np.concatenate((post, revenue_rows)).astype(np.int64),
        legal_entity=np.concatenate((own, entity[revenue_rows])),
        due_period=np.concatenate((due, first_period[revenue_rows])),
        stage_seconds=np.concatenate(
            (
                _stage_seconds(snapshot, calendars, ready_rows, post),
                np.full(len(revenue_rows), -1.0),
            )
        ),
        invoice=np.concatenate((_at(invoice_of, post, -1), invoice_of[revenue_rows])),
        cause=upstream_causes(snapshot, rules)[stage],
    )


def _posting_rows(posting: dict[str, I64Array], objects: I64Array) -> I64Array:
    """The row of the posting of each of ``objects`` (billing events), -1 for none."""
    known, rows = posting["objects"], posting["rows"]  # ordered by object
    if not len(known):
        return np.full(len(objects), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(known, objects), len(known) - 1)
    return np.where(known[at] == objects, rows[at], -1).astype(np.int64)


def _revenue(snapshot: EventSnapshot) -> tuple[I64Array, I64Array]:
    """The row of every revenue posting that names a journal, and its journal (the first it
    names): the revenue items."""
    journal_refs = refs_of(snapshot, sc.REVENUE_POSTED, sc.JOURNAL)
    rows, first = np.unique(snapshot.ref_row[journal_refs], return_index=True)
    return rows.astype(np.int64), snapshot.ref_object_index[journal_refs][first].astype(np.int64)


def _invoice_objects(snapshot: EventSnapshot, names: SnapshotNames) -> I64Array:
    """Event row → the invoice it names (its first in id order), as an index into the snapshot's
    objects; -1 for none."""
    refs = snapshot.ref_object_type == object_type_code(sc.INVOICE)
    found = np.full(len(snapshot.event), -1, dtype=np.int64)
    width = max(len(snapshot.objects), 1)
    pairs = np.unique(snapshot.ref_row[refs] * width + snapshot.ref_object_index[refs])
    if not len(pairs):
        return found
    rows, objects = pairs // width, pairs % width
    starts = np.r_[True, rows[1:] != rows[:-1]]
    alone = starts & np.r_[starts[1:], True]
    found[rows[alone]] = objects[alone]
    for row in np.unique(rows[~alone]).tolist():  # an event naming several invoices: rare
        named = objects[rows == row].tolist()
        found[row] = min(named, key=lambda obj: names.objects[int(snapshot.objects[obj])][1])
    return found


def _stage_seconds(
    snapshot: EventSnapshot, calendars: CalendarBook, ready: I64Array, post: I64Array
) -> F64Array:
    """Business seconds each invoice stage took (billing.ready taking effect → invoice.posted
    taking effect), -1 while not posted."""
    entity, _ = snapshot.dimensions
    started = snapshot.effective_us[ready]
    done = (post >= 0) & _at(snapshot.took_effect, post, False) & (started != NO_TIME)
    code = np.where(entity[ready] != 0, entity[ready], _at(entity, post, 0)).astype(np.int64)
    seconds = np.full(len(ready), -1.0)
    for entity_code in np.unique(code[done]).tolist():
        items = np.flatnonzero(done & (code == entity_code))
        name = snapshot.legal_entities[entity_code - 1] if entity_code else ""
        starts = started[items] / 1e6
        stops = np.maximum(snapshot.effective_us[post[items]], started[items]) / 1e6
        clock = clock_for_span(calendars.for_entity(name), float(starts.min()), float(stops.max()))
        elapsed = clock.elapsed(starts, stops)
        seconds[items] = [round(float(e), 3) for e in elapsed]
    return seconds
