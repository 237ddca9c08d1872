"""What the business state knows of events and objects, for the OCEL 2.0 period export
(``lineage.ocel_log``): the legal entity and customer the evaluator resolved for the events that
start a timer or stage or post a close item (``slas.snapshot``'s dimensions, stored in
``sla_timers`` and ``close_items``), and the amount, currency, dimensions and status of the
objects that are close items (with their invoice) or SLA keys, as known at ``known_at``.
"""

from __future__ import annotations

from typing import Final

from domain import semconv as sc
from slas.close_sums import item_state_sql
from warehouse.schema import CLOSE_ITEMS, SLA_TIMERS

POSTED: Final = "posted"
BLOCKED: Final = "blocked"
OPEN: Final = "open"
"""A close item's status at ``known_at``: posted, held by a failed event
(``slas.close_sums.item_state_sql``, ``slas.close_state.item_blocking_step``'s rule), or
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

def object_states_sql(objects: str) -> str:
    """A subquery of what the business state says of the objects ``objects`` (a subquery of
    ``ObjectType``, ``ObjectId``) at ``{as_of:DateTime64(6, 'UTC')}`` as known at ``known_at``:
    ``ObjectType``, ``ObjectId`` and its ``states``, every SLA key's and close item's answer as
    (rank, amount, currency, legal entity, customer, status), ordered so that each later one's
    known values count over the earlier ones': the SLA key's (the latest known version of each
    of its values) first, then the close items naming it (itself, or as their invoice) by type
    and id, each its latest version known at ``known_at`` among those naming it, left out when
    deleted, with its status at ``as_of`` (``slas.close_sums.item_state_sql``)."""
    state = item_state_sql("{as_of:DateTime64(6, 'UTC')}")
    status = f"multiIf({state.posted}, '{POSTED}', {state.blocked}, '{BLOCKED}', '{OPEN}')"
    return f"""(
    SELECT ObjectType, ObjectId, arraySort(s -> s.1, groupArray(answer)) AS states
    FROM (
        SELECT KeyType AS ObjectType, KeyId AS ObjectId,
            ((0, '', ''), argMax(Amount, KnownAt), toString(argMax(Currency, KnownAt)),
             toString(argMax(LegalEntity, KnownAt)), argMax(Customer, KnownAt), '') AS answer
        FROM {SLA_TIMERS}
        WHERE KnownAt <= {_KNOWN_AT} AND Deleted = 0
          AND (KeyType, KeyId) IN (SELECT ObjectType, ObjectId FROM {objects})
        GROUP BY KeyType, KeyId
        UNION ALL
        SELECT ref.1 AS ObjectType, ref.2 AS ObjectId,
            ((1, toString(ItemType), ItemId), Amount, toString(Currency), toString(LegalEntity),
             Customer, {status}) AS answer
        FROM (
            SELECT ItemType, ItemId, Invoice, Deleted, Kind, LegalEntity, Customer, Amount,
                Currency, StageEventId, StageFirstAt, StageEffectiveAt, PostingEventId,
                PostingFirstAt, PostingEffectiveAt, UpstreamEventId, UpstreamFirstAt
            FROM {CLOSE_ITEMS}
            WHERE KnownAt <= {_KNOWN_AT}
              AND ((ItemType, ItemId) IN (SELECT ObjectType, ObjectId FROM {objects})
                   OR (Invoice != '' AND Invoice IN (SELECT ObjectId FROM {objects}
                                                     WHERE ObjectType = '{sc.INVOICE}')))
            ORDER BY ItemType, ItemId, KnownAt DESC
            LIMIT 1 BY ItemType, ItemId
        )
        ARRAY JOIN [(toString(ItemType), ItemId), ('{sc.INVOICE}', Invoice)] AS ref
        WHERE Deleted = 0 AND (ref.1, ref.2) IN (SELECT ObjectType, ObjectId FROM {objects})
    )
    GROUP BY ObjectType, ObjectId
)"""


class BusinessStateFacts:
    """The business state's answers for ``lineage.ocel_log`` (its ``StateFacts``)."""

    @property
    def event_dimensions_sql(self) -> str:
        return EVENT_DIMENSIONS

    def object_states_sql(self, objects: str) -> str:
        return object_states_sql(objects)
