"""What the business state knows of events and objects, for the OCEL 2.0 period export
(``lineage.ocel_log``): the legal entity and customer the evaluator resolved for the events that
start a timer or stage or post a close item (``slas.snapshot``'s dimensions, stored in
``sla_timers`` and ``close_items``), and the amount, currency, dimensions and status of the
objects that are close items (with their invoice) or SLA keys, as known at ``known_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.instants import utc
from lineage.ocel_log import Pair, State, over
from lineage.ocel_queries import (
    JSON_TEXT_QUERY_SETTINGS,
    json_pairs,
    json_parameter,
    json_strings,
    pairs_parameter,
)
from slas.close_state import item_blocking_step, reached
from slas.item_rows import INVOICE
from warehouse.schema import CLOSE_ITEMS, SLA_TIMERS

POSTED: Final = "posted"
BLOCKED: Final = "blocked"
OPEN: Final = "open"
"""A close item's status at ``known_at``: posted, held by a failed event (``blocking_step``), or
waiting."""

_KNOWN_AT = "{known_at:DateTime64(3, 'UTC')}"

EVENT_DIMENSIONS = f"""
SELECT EventId, argMax(LegalEntity, KnownAt) AS EventLegalEntity,
    argMax(Customer, KnownAt) AS EventCustomer
FROM (
    SELECT StartEventId AS EventId, LegalEntity, Customer, KnownAt FROM {SLA_TIMERS}
    WHERE StartEventId > {{after:String}} AND StartEventId <= {{last:String}} AND KnownAt <= {_KNOWN_AT} AND Deleted = 0
    UNION ALL
    SELECT StageEventId AS EventId, LegalEntity, Customer, KnownAt FROM {CLOSE_ITEMS}
    WHERE StageEventId > {{after:String}} AND StageEventId <= {{last:String}} AND KnownAt <= {_KNOWN_AT} AND Deleted = 0
    UNION ALL
    SELECT PostingEventId AS EventId, LegalEntity, Customer, KnownAt FROM {CLOSE_ITEMS}
    WHERE PostingEventId > {{after:String}} AND PostingEventId <= {{last:String}} AND KnownAt <= {_KNOWN_AT} AND Deleted = 0
)
GROUP BY EventId"""
"""The dimensions of the events (ids after ``after`` up to ``last``) that start a timer or stage
or post an item: what the latest version known at ``known_at`` says (a subquery of the period
log's page query, ``lineage.ocel_queries.page_events``)."""


def _items(naming_invoices: bool) -> str:
    """The latest version known at ``known_at`` of the items that are one of ``refs`` or, when
    ``naming_invoices``, name one of ``invoices``: without them the read is one range of the
    key per item, with them every version is read (``Invoice`` is no part of the key)."""
    naming = f" OR (Invoice != '' AND Invoice IN {json_strings('invoices')})"
    return f"""
SELECT ItemType, ItemId, Invoice, Deleted, Kind, LegalEntity, Customer, Amount, Currency,
    StageEventId, PostingType, StageFirstAt, StageEffectiveAt, PostingEventId, PostingFirstAt,
    PostingEffectiveAt, UpstreamEventId, UpstreamEventType, UpstreamFirstAt
FROM {CLOSE_ITEMS}
WHERE KnownAt <= {_KNOWN_AT}
  AND ((ItemType, ItemId) IN {json_pairs("refs")}{naming if naming_invoices else ""})
ORDER BY ItemType, ItemId, KnownAt DESC
LIMIT 1 BY ItemType, ItemId
"""


ITEMS: Final = _items(naming_invoices=True)
ITEMS_BY_KEY: Final = _items(naming_invoices=False)
"""``ITEMS`` for a batch that holds no invoice (most: objects are described a type at a time)."""

TIMER_KEYS = f"""
SELECT KeyType, KeyId, LegalEntity, Customer, Amount, Currency
FROM {SLA_TIMERS}
WHERE KnownAt <= {_KNOWN_AT} AND Deleted = 0
  AND (KeyType, KeyId) IN {json_pairs("refs")}
ORDER BY KeyType, KeyId, KnownAt DESC, StartedAt DESC, Sla DESC, StartEventId DESC
LIMIT 1 BY KeyType, KeyId
"""
"""Each key's facts from one of its timers: the latest known and, among those known at one
instant (one SLA started by each of an obligation's invoices, stored by one tick), the latest
started, then by SLA and start event, so that the answer does not depend on which row the engine
meets first."""


def _naive(instant: datetime) -> datetime:
    return utc(instant).replace(tzinfo=None)


def _item_status(row: Sequence[Any], as_of: datetime) -> str:
    (_, _, _, _, kind, _, _, _, _, stage_event, posting_type, stage_first, stage_effective,
     posting_event, posting_first, posting_effective, *upstream) = row  # fmt: skip
    if reached(posting_effective, as_of):
        return POSTED
    blocker, _ = item_blocking_step(
        as_of,
        invoice=kind == INVOICE,
        stage=(stage_event, posting_type, stage_first, stage_effective),
        posting=(posting_event, posting_type, posting_first, posting_effective),
        upstream=(upstream[0], upstream[1], upstream[2]),
    )
    return BLOCKED if blocker else OPEN


def object_states(client: Client, refs: Sequence[Pair], known_at: datetime) -> dict[Pair, State]:
    """What the business state says of each object (type, id) at ``known_at``: a close item (and
    the invoice it names) its amount, currency, dimensions and status; an SLA key its amount,
    currency and dimensions."""
    if not refs:
        return {}
    # each once, in the caller's order (sorting a batch's 10,000 pairs again cost more than
    # its read of the timers: the engine takes them as a set)
    wanted = dict.fromkeys(refs)
    parameters = {**pairs_parameter("refs", wanted), "known_at": _naive(known_at)}
    invoices = sorted({object_id for t, object_id in wanted if t == sc.INVOICE})
    # read as columns (Arrow's conversion, not the client's row by row): most objects of a
    # period are SLA keys (time entries)
    timers = client.query_arrow(
        TIMER_KEYS, parameters=parameters, settings=JSON_TEXT_QUERY_SETTINGS, use_strings=True
    )
    key_types, key_ids, entities, customers, amounts, currencies = (
        column.to_pylist() for column in timers.columns
    )
    states: dict[Pair, State] = {
        (key_type, key_id): (
            None if amount is None else amount.normalize(),
            currency,
            entity,
            customer,
            "",
        )
        for key_type, key_id, entity, customer, amount, currency in zip(
            key_types, key_ids, entities, customers, amounts, currencies, strict=True
        )
    }
    as_of = utc(known_at)
    items, naming = (
        (ITEMS, json_parameter("invoices", invoices)) if invoices else (ITEMS_BY_KEY, {})
    )
    for row in client.query(
        items, parameters={**parameters, **naming}, settings=JSON_TEXT_QUERY_SETTINGS
    ).result_rows:
        item_type, item_id, invoice, deleted, _, entity, customer, amount, currency = row[:9]
        if deleted:
            continue
        state: State = (
            _amount(amount),
            str(currency),
            str(entity),
            str(customer),
            _item_status(row, as_of),
        )
        for ref in ((str(item_type), str(item_id)), (sc.INVOICE, str(invoice))):
            if ref in wanted:
                known = states.get(ref)
                states[ref] = state if known is None else over(state, known)
    return states


def _amount(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).normalize()


class BusinessStateFacts:
    """The business state's answers for ``lineage.ocel_log`` (its ``StateFacts``)."""

    @property
    def event_dimensions_sql(self) -> str:
        return EVENT_DIMENSIONS

    def object_states(
        self, client: Client, refs: Sequence[Pair], known_at: datetime
    ) -> dict[Pair, State]:
        return object_states(client, refs, known_at)
