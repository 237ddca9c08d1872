"""The items that must post in a period, from an ``EventSnapshot`` (pure, vectorised).

An invoice-level item is a billing event whose ``billing.ready`` was attempted: it is due in the
period of that event and posts with its ``invoice.posted``. A revenue item is an attempted
``revenue.posted``: due in the period of its first attempt. An item posts in time when its
successful attempt posted into the due period by the close deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from domain import semconv as sc
from slas.snapshot import (
    NO_TIME,
    BoolArray,
    EventSnapshot,
    F64Array,
    I64Array,
    U8Array,
    U16Array,
    U32Array,
    U64Array,
    event_type_code,
    object_type_code,
)

INVOICE_ITEM: Final = 0
REVENUE_ITEM: Final = 1
ITEM_OBJECT_TYPES: Final = (sc.BILLING_EVENT, sc.JOURNAL)


@dataclass(frozen=True, eq=False)
class CloseItems:
    """One row per item. ``stage_started_us``: when the stage the item waits for became possible
    (its ``billing.ready`` took effect), -1 if none; ``blocking_event``: the failed event holding
    it (0 if none); posting columns describe the successful posting, if any."""

    kind: U8Array
    item: U64Array
    """Hash of the item's object: its billing event or the journal of the revenue posting."""
    legal_entity: U16Array
    currency: U16Array
    amount: F64Array
    """For the projection's arithmetic only (NaN: no amount); sums use ``amount_units``."""
    amount_units: I64Array
    """The exact amount in ten-thousandths (``domain.money.from_units``), 0 without one."""
    due_period: U32Array
    posted_us: I64Array
    posted_period: U32Array
    blocking_event: U64Array
    blocking_type: U8Array
    stage_started_us: I64Array

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def posted(self) -> BoolArray:
        posted: BoolArray = self.posted_us >= 0
        return posted

    @property
    def blocked(self) -> BoolArray:
        blocked: BoolArray = ~self.posted & (self.blocking_event != 0)
        return blocked


def close_items(snapshot: EventSnapshot) -> CloseItems:
    """Every invoice-level and revenue item of the snapshot."""
    invoices = _invoice_items(snapshot)
    revenue = _revenue_items(snapshot)
    return CloseItems(
        **{
            name: np.concatenate((getattr(invoices, name), getattr(revenue, name)))
            for name in CloseItems.__dataclass_fields__
        }
    )


def last_row_per_object(objects: I64Array, rows: I64Array, rank: I64Array) -> dict[str, I64Array]:
    """For each object, the row with the highest ``rank``."""
    order = np.lexsort((rank, objects))
    objects, rows = objects[order], rows[order]
    last = np.flatnonzero(np.r_[objects[1:] != objects[:-1], True]) if len(objects) else objects
    return {"objects": objects[last], "rows": rows[last]}


def refs_of(snapshot: EventSnapshot, event_type: str, object_type: str) -> BoolArray:
    """Which references are an ``event_type`` event's to an ``object_type`` object."""
    refs: BoolArray = (snapshot.ref_event_type == event_type_code(event_type)) & (
        snapshot.ref_object_type == object_type_code(object_type)
    )
    return refs


def ready_and_posting(
    snapshot: EventSnapshot,
) -> tuple[dict[str, I64Array], dict[str, I64Array]]:
    """Per billing event, the row of its ``billing.ready`` (the latest first attempted) and of its
    ``invoice.posted`` (the successful one if there is one, else the latest attempted): which
    events make an invoice-level item, the one definition."""
    ready_refs = refs_of(snapshot, sc.BILLING_READY, sc.BILLING_EVENT)
    ready = last_row_per_object(
        snapshot.ref_object_index[ready_refs],
        snapshot.ref_row[ready_refs],
        snapshot.first_us[snapshot.ref_row[ready_refs]],
    )
    posting_refs = refs_of(snapshot, sc.INVOICE_POSTED, sc.BILLING_EVENT)
    posting_rows = snapshot.ref_row[posting_refs]
    rank = snapshot.took_effect[posting_rows] * (1 << 62) + snapshot.first_us[posting_rows]
    posting = last_row_per_object(snapshot.ref_object_index[posting_refs], posting_rows, rank)
    return ready, posting


def _invoice_items(snapshot: EventSnapshot) -> CloseItems:
    entity, _ = snapshot.dimensions
    ready, posting = ready_and_posting(snapshot)
    position = np.searchsorted(posting["objects"], ready["objects"])
    safe = np.clip(position, 0, max(len(posting["objects"]) - 1, 0))
    has_posting = (
        (posting["objects"][safe] == ready["objects"])
        if len(posting["objects"])
        else np.zeros(len(ready["objects"]), dtype=bool)
    )
    ready_rows = ready["rows"]
    post_rows = np.where(has_posting, posting["rows"][safe] if len(posting["rows"]) else 0, -1)
    post_safe = np.clip(post_rows, 0, None)
    posted = has_posting & snapshot.took_effect[post_safe]
    ready_failed = snapshot.failed[ready_rows] & ~snapshot.took_effect[ready_rows]
    posting_failed = has_posting & ~posted & snapshot.failed[post_safe]
    blocking_row = np.where(ready_failed, ready_rows, np.where(posting_failed, post_rows, -1))
    due = snapshot.first_period[ready_rows]
    due = np.where(due > 0, due, np.where(has_posting, snapshot.first_period[post_safe], 0))
    ready_entity = entity[ready_rows]
    return CloseItems(
        kind=np.full(len(ready_rows), INVOICE_ITEM, dtype=np.uint8),
        item=snapshot.objects[ready["objects"]],
        legal_entity=np.where(
            (ready_entity == 0) & has_posting, entity[post_safe], ready_entity
        ).astype(np.uint16),
        currency=snapshot.currency[ready_rows],
        amount=snapshot.amount[ready_rows],
        amount_units=snapshot.amount_units[ready_rows],
        due_period=due.astype(np.uint32),
        posted_us=np.where(posted, snapshot.effective_us[post_safe], NO_TIME).astype(np.int64),
        posted_period=np.where(posted, snapshot.effective_period[post_safe], 0).astype(np.uint32),
        blocking_event=np.where(
            blocking_row >= 0, snapshot.event[np.clip(blocking_row, 0, None)], 0
        ).astype(np.uint64),
        blocking_type=np.where(
            blocking_row >= 0, snapshot.event_type[np.clip(blocking_row, 0, None)], 0
        ).astype(np.uint8),
        stage_started_us=snapshot.effective_us[ready_rows],
    )


def _revenue_items(snapshot: EventSnapshot) -> CloseItems:
    entity, _ = snapshot.dimensions
    journal_refs = refs_of(snapshot, sc.REVENUE_POSTED, sc.JOURNAL)
    rows = snapshot.ref_row[journal_refs]
    rows, unique = np.unique(rows, return_index=True)
    journals = snapshot.objects[snapshot.ref_object_index[journal_refs][unique]]
    posted = snapshot.took_effect[rows]
    failed = ~posted & snapshot.failed[rows]
    return CloseItems(
        kind=np.full(len(rows), REVENUE_ITEM, dtype=np.uint8),
        item=journals,
        legal_entity=entity[rows],
        currency=snapshot.currency[rows],
        amount=snapshot.amount[rows],
        amount_units=snapshot.amount_units[rows],
        due_period=snapshot.first_period[rows],
        posted_us=np.where(posted, snapshot.effective_us[rows], NO_TIME).astype(np.int64),
        posted_period=np.where(posted, snapshot.effective_period[rows], 0).astype(np.uint32),
        blocking_event=np.where(failed, snapshot.event[rows], 0).astype(np.uint64),
        blocking_type=np.where(failed, snapshot.event_type[rows], 0).astype(np.uint8),
        # An attempted revenue posting has either posted or failed: nothing left to project.
        stage_started_us=np.full(len(rows), NO_TIME, dtype=np.int64),
    )
