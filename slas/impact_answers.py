"""Blocked-invoice impact from ``close_items``: the invoice-level items not posted at ``as_of`` that
a failure holds (``slas.close_state.blocking_step``, the rule close risk uses too), with their money
and who owns each fix, as known at ``known_at``. A failed posting also names the failed set-up of
its customer (``[lineage]`` prerequisites): not a hop, but it explains why the ERP refused it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.instants import utc
from domain.objects import ObjectRef
from lineage.impact import (
    AMOUNT_LIMIT,
    BlockedInvoices,
    BlockedItem,
    Blocker,
    blocked_order,
    totals,
)
from lineage.owners import OwnerRouting
from lineage.queries import POINT_READ
from lineage.rules import LineageRules
from slas.business_state import BusinessState
from slas.close_state import (
    BLOCKED_INVOICE_ITEMS_AT,
    BLOCKING_STEPS_AT,
    OPEN_INVOICE_ITEMS_AT,
    blocking_step,
    reached,
)
from slas.setup_candidates import CANDIDATES_KEPT, SETUP_FAILURE_ROWS, SetupCandidates
from warehouse.counted_attempt import ATTEMPT_ORDER, FAILING_SINCE, LATEST_ERROR
from warehouse.first_stored import NAMED_EVENTS_KNOWN_AT, first_stored_events
from warehouse.pool import ReadsBeside
from warehouse.python_heap import collection_paused

_FACTS = f"EventId, argMax(EventType, {ATTEMPT_ORDER}), {LATEST_ERROR}, {FAILING_SINCE}"
"""A blocking event's id and facts (an aggregate over its attempts, grouped by event id): its type,
the error of its latest attempt and when its current run of failed attempts began (``_blocker``)."""

BLOCKERS = f"""
SELECT {_FACTS}
FROM {NAMED_EVENTS_KNOWN_AT}
WHERE EventTime <= {{as_of:DateTime64(6, 'UTC')}}
GROUP BY EventId
{POINT_READ}
"""
"""Each blocking event's type, the error of its latest attempt and when its current run of failed
attempts began, from the first stored version of every attempt known at ``known_at``. A lookup by
event id: without the skip indexes (``POINT_READ``), 6-7 ms of CPU instead of 8-10 at 10M."""

_SETUPS_THAT_FAILED = f"""
SELECT EventId FROM biz_event_objects WHERE ObjectId IN {{ids:Array(String)}} AND {SETUP_FAILURE_ROWS}
"""
"""The set-ups naming the customers with a stored row that did not succeed: only those can stand
failed, whichever version of each attempt was stored first (``SetupCandidates`` keeps them)."""


def _failed_setups(candidates: str) -> str:
    """``FAILED_SETUPS`` of the set-up events ``candidates`` selects (a condition on
    ``EventId``): lookups by the tables' sort keys, so without the skip indexes (``POINT_READ``:
    12 ms of CPU instead of 15 for 25 set-ups at 10M)."""
    attempts = first_stored_events(
        f"{candidates} AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}",
        "EventId, EventType, EventTime, Attempt, SpanId, Outcome, ErrorCategory, ErrorCode, "
        "ObjectRefs",
    )
    return f"""
SELECT ref.id, untuple(facts)
FROM (
    SELECT tuple({_FACTS}) AS facts, argMax(Outcome, {ATTEMPT_ORDER}) AS outcome,
        groupUniqArrayArray(ObjectRefs) AS refs
    FROM {attempts}
    WHERE EventTime <= {{as_of:DateTime64(6, 'UTC')}} AND EventType IN {{event_types:Array(String)}}
    GROUP BY EventId
    HAVING outcome != 'success'
)
ARRAY JOIN refs AS ref
WHERE ref.type IN {{dimensions:Array(String)}} AND ref.id IN {{ids:Array(String)}}
{POINT_READ}
"""


FAILED_SETUPS = _failed_setups(f"EventId IN ({_SETUPS_THAT_FAILED})")
"""The set-ups of the given customers (dimension objects) whose latest attempt by ``as_of`` did
not succeed, as (customer, then the set-up's id and facts as ``BLOCKERS`` reads them): from the
first stored version of every attempt known at ``known_at``, so a set-up re-sent under the same
ids with another outcome is a conflicting version, not its outcome. Their facts come with them:
the blockers' read need not wait for the set-ups to know which events to read."""

FAILED_SETUPS_OF = _failed_setups("EventId IN {setups:Array(String)}")
"""``FAILED_SETUPS`` of the customers' candidate set-ups as ``SetupCandidates`` keeps them
(``setups``: exactly the events ``_SETUPS_THAT_FAILED`` selects), not found again."""


_STORED_STEPS = ((34, 7, 0, 8, 20), (35, 10, 11, 12, 23), (36, 15, 16, 17, 26))
"""Where ``BLOCKED_INVOICE_ITEMS_AT``'s row tells each step that may hold its item (stage,
posting, the failure upstream): whether it holds it, its event id, its type (0: the stage's,
billing.ready), its first attempt, and the first of its three stored failure facts (category,
code, since: ``BLOCKER_FACT_COLUMNS``)."""

NO_LIMIT = 2**63 - 1
"""``BLOCKED_INVOICE_ITEMS_AT``'s ``limit`` when every item is listed."""
_FROM_THE_START = (-(AMOUNT_LIMIT - Decimal("0.0001")), "", "")
"""A ``blocked_order`` key before every item's: the first page's cursor."""


@dataclass(frozen=True, slots=True)
class _Held:
    """A blocked item as read, before its blockers' facts are known (the answer's
    ``BlockedItem`` is built once they are: ``_item``)."""

    stage: str
    """Where it waits: billing.ready while its stage event holds it, else invoice.posted."""
    own: list[str]
    """Its own steps (stage event, posting) attempted and not in effect."""
    upstream: list[str]
    """The failure upstream of it, when attempted by as_of."""
    customer: str
    posting_failed: bool
    row: Sequence[Any]
    """The row read (``ITEM_COLUMNS``, then the failure facts when narrowed)."""


def _item(held: _Held, blocked_by: tuple[Blocker, ...] = ()) -> BlockedItem:
    """The blocked item of a held item's ``ITEM_COLUMNS`` row, held by ``blocked_by``."""
    row = held.row
    amount = row[5]
    return BlockedItem(
        object=ObjectRef(str(row[0]), str(row[1])),
        invoice=str(row[18]) or None,
        stage=held.stage,
        amount=None if amount is None else Decimal(amount),
        currency=str(row[4]),
        legal_entity=str(row[3]),
        period=str(row[6]),
        blocked_by=blocked_by,
    )


def _held_at(row: Sequence[Any], as_of: datetime) -> _Held | None:
    """An ``ITEM_COLUMNS`` row's item as held at ``as_of`` by ``blocking_step`` (None when not)."""
    (stage_event, stage_first, stage_effective, posting_event, posting_type, posting_first,
     posting_effective, _, upstream_event, upstream_type, upstream_first, _, customer) = row[7:20]  # fmt: skip
    stage = (stage_event, sc.BILLING_READY, stage_first, stage_effective)
    posting = (posting_event, posting_type, posting_first, posting_effective)
    upstream = (upstream_event, upstream_type, upstream_first)
    blocker, _ = blocking_step(as_of, stage=stage, posting=posting, upstream=upstream)
    if not blocker:
        return None
    own = [
        event_id
        for event_id, _, first, effective in (stage, posting)
        if event_id and reached(first, as_of) and not reached(effective, as_of)
    ]
    return _Held(
        stage=sc.BILLING_READY if stage_event in own else sc.INVOICE_POSTED,
        own=own,
        upstream=[str(upstream_event)] if upstream_event and reached(upstream_first, as_of) else [],
        customer=str(customer),
        posting_failed=posting_event in own,
        row=row,
    )


def _held_in_sql(
    rows: Sequence[Sequence[Any]], limit: int
) -> tuple[list[_Held], int, dict[str, Decimal]]:
    """``BLOCKED_INVOICE_ITEMS_AT``'s rows as held items (the page's first ``limit``, in their
    order), how many items are held in all and their money per currency: what ``_held_at``
    finds, as the SQL found it."""
    sums: dict[str, tuple[int, int, Decimal]] = {}
    held = []
    for row in rows:
        if row[33] == 1:  # each row carries its currency's sums: taken from the first place
            sums[str(row[4])] = (row[29], row[30], row[31])
        if not 1 <= row[32] <= limit:
            continue
        stage_held, posting_held, upstream_held = row[34:37]
        own = [str(row[7])] if stage_held else []
        if posting_held:
            own.append(str(row[10]))
        held.append(
            _Held(
                stage=sc.BILLING_READY if stage_held else sc.INVOICE_POSTED,
                own=own,
                upstream=[str(row[15])] if upstream_held else [],
                customer=str(row[19]),
                posting_failed=bool(posting_held),
                row=row,
            )
        )
    count = sum(items for items, _, _ in sums.values())
    total = {c: Decimal(s) for c, (_, amounts, s) in sorted(sums.items()) if amounts}
    return held, count, total


class BlockedInvoiceAnswers:
    """``GET /api/v1/impact/blocked-invoices`` from ``close_items``."""

    def __init__(
        self,
        client: Callable[[], Client],
        rules: LineageRules,
        owners: OwnerRouting,
        state: BusinessState,
        *,
        narrowed: bool = True,
        setups_kept: int = CANDIDATES_KEPT,
    ) -> None:
        """``narrowed``: the items a failure holds found in SQL (``BLOCKED_INVOICE_ITEMS_AT``)
        once ``slas.item_versions`` has recorded every version known at the answer's known_at;
        else (the oracle without) every item in flight read and ``blocking_step`` run over each.
        ``setups_kept``: the most candidate set-ups the answers keep (``SetupCandidates``)."""
        self._client = client
        self._rules = rules
        self._owners = owners
        self._state = state
        self._narrowed = narrowed
        self._beside = ReadsBeside(client)
        self._setup_types = sorted({t for types in rules.prerequisites.values() for t in types})
        self._setups = SetupCandidates(sorted(rules.prerequisites), self._setup_types, setups_kept)

    def report(
        self,
        *,
        period: str | None,
        legal_entity: str | None,
        as_of: datetime,
        known_at: datetime | None,
        limit: int | None = None,
        after: tuple[Decimal, str, str] | None = None,
    ) -> tuple[datetime, BlockedInvoices]:
        """The known_at the answer describes, and a page of its blocked items in
        ``blocked_order`` (the largest first): every one, or the first ``limit`` after the item
        whose ``blocked_order`` is ``after`` (the totals and count still cover every item)."""
        with collection_paused():
            return self._report(period, legal_entity, as_of, known_at, limit, after)

    def _report(
        self,
        period: str | None,
        legal_entity: str | None,
        as_of: datetime,
        known_at: datetime | None,
        limit: int | None,
        after: tuple[Decimal, str, str] | None,
    ) -> tuple[datetime, BlockedInvoices]:
        client = self._client()
        known, recorded = self._state.items_known_at(known_at)
        as_of = utc(as_of)
        listing = NO_LIMIT if limit is None else limit
        start = after or _FROM_THE_START
        parameters = {
            "as_of": as_of,
            "known_at": known,
            "periods": [period] if period else [],
            "legal_entity": legal_entity or "",
            "limit": listing + 1,  # one more: whether a page follows
            "after_amount": -start[0],
            "after_type": start[1],
            "after_id": start[2],
        }
        narrowed = self._narrowed and recorded
        statement = BLOCKED_INVOICE_ITEMS_AT if narrowed else OPEN_INVOICE_ITEMS_AT
        rows = client.query(statement, parameters=parameters).result_rows
        if narrowed:
            held, count, total = _held_in_sql(rows, listing + 1)
        else:
            held = [item for row in rows if (item := _held_at(row, as_of)) is not None]
            read = sorted(((_item(h), h) for h in held), key=lambda pair: blocked_order(pair[0]))
            held = [h for item, h in read if blocked_order(item) > start]
            count, total = len(read), totals(item for item, _ in read)
        more = len(held) > listing
        listed = held[:listing]
        customers = sorted({i.customer for i in listed if i.posting_failed and i.customer})
        with self._setups_ahead(client, customers, as_of, known) as read_setups:
            stored = self._stored_facts(listed, as_of) if narrowed else {}
            steps = {e for item in listed for e in (*item.own, *item.upstream)}
            apart = self._blockers(client, sorted(steps - stored.keys()), as_of, known)
            setups = read_setups()
        facts = {b.event_id: b for found in setups.values() for b in found}
        facts.update(apart)
        facts.update(stored)
        items = []
        for item in listed:
            ids = [*item.own, *item.upstream]
            if item.posting_failed:
                ids += [b.event_id for b in setups.get(item.customer, ())]
            blockers = tuple(facts[e] for e in dict.fromkeys(ids) if e in facts)
            items.append(_item(item, blockers))
        return known, BlockedInvoices(total, tuple(items), count, more)

    def blocking_events(self, as_of: datetime) -> set[str]:
        """The event ids of the failures that hold some invoice-level item at ``as_of``, as known
        at the watermark: every ``blocked_by`` of ``report``'s items (every period and legal
        entity), read as the steps that hold them (``BLOCKING_STEPS_AT``), not item by item."""
        known, recorded = self._state.items_known_at(None)
        if not (self._narrowed and recorded):
            _, found = self.report(period=None, legal_entity=None, as_of=as_of, known_at=None)
            return {blocker.event_id for item in found.items for blocker in item.blocked_by}
        as_of = utc(as_of)
        client = self._client()
        parameters = {"as_of": as_of, "known_at": known, "periods": []}
        steps = client.query(BLOCKING_STEPS_AT, parameters=parameters).result_rows
        stored = {str(event_id) for event_id, facts, _ in steps if facts}
        customers = sorted({str(c) for _, _, of in steps for c in of if c})
        events = {str(event_id) for event_id, _, _ in steps}
        with self._setups_ahead(client, customers, as_of, known) as read_setups:
            # as in ``report``: a step without stored facts counts when ``BLOCKERS`` finds it
            apart = self._blockers(client, sorted(events - stored), as_of, known)
            setups = read_setups()
        return stored | apart.keys() | {b.event_id for found in setups.values() for b in found}

    def _setups_ahead(
        self, client: Client, customers: list[str], as_of: datetime, known: datetime
    ) -> AbstractContextManager[Callable[[], dict[str, list[Blocker]]]]:
        """``_setups_of(customers)``, to be asked for inside the block: read beside the caller
        (``ReadsBeside``) when there are customers, so that its work meanwhile (the stored facts,
        the blockers' read) runs beside it."""
        return self._beside.ahead(
            client, lambda c: self._setups_of(c, customers, as_of, known), start=bool(customers)
        )

    def _setups_of(
        self, client: Client, customers: list[str], as_of: datetime, known: datetime
    ) -> dict[str, list[Blocker]]:
        """Customer id → its failed set-ups, in event id order, for ``customers``: of their
        candidate set-ups as kept (``SetupCandidates``; none read when they have none), else of
        those ``FAILED_SETUPS`` finds."""
        if not customers or not self._setup_types:
            return {}
        parameters = {
            "dimensions": sorted(self._rules.prerequisites),
            "ids": customers,
            "event_types": self._setup_types,
            "as_of": as_of,
            "known_at": known,
        }
        candidates = self._setups.of(
            client, customers, known, lambda: self._state.known_at(None), self._state.rebuild_record
        )
        if candidates is None:  # more than a process keeps: found by the read
            rows = client.query(FAILED_SETUPS, parameters=parameters).result_rows
        elif candidates:
            parameters["setups"] = candidates
            rows = client.query(FAILED_SETUPS_OF, parameters=parameters).result_rows
        else:
            return {}
        found: dict[str, list[Blocker]] = {}
        for customer, *facts in sorted(rows, key=lambda row: (str(row[0]), str(row[1]))):
            found.setdefault(str(customer), []).append(self._blocker(facts))
        return found

    def _stored_facts(self, held: list[_Held], as_of: datetime) -> dict[str, Blocker]:
        """What ``BLOCKERS`` reads of the steps that hold the ``held`` items at ``as_of``, from
        the items' rows: each step as event id, type, when its failures began (an own step's
        first attempt, the root cause's current run of failures) and the failure facts migration
        20 stores. Only for a step whose latest error began by ``as_of``: before that, and in
        rows written before migration 20, the row does not tell, and ``BLOCKERS`` reads the
        step."""
        found: dict[str, Blocker] = {}
        for item in held:
            row = item.row
            for holds, event, kind, first, facts in _STORED_STEPS:
                if not row[holds] or (event_id := str(row[event])) in found:
                    continue
                if reached(row[facts + 2], as_of):
                    event_type = row[kind] if kind else sc.BILLING_READY
                    fact = (event_id, event_type, row[facts], row[facts + 1], row[first])
                    found[event_id] = self._blocker(fact)
        return found

    def _blockers(
        self, client: Client, event_ids: list[str], as_of: datetime, known: datetime
    ) -> dict[str, Blocker]:
        if not event_ids:
            return {}
        rows = client.query(
            BLOCKERS, parameters={"event_ids": event_ids, "as_of": as_of, "known_at": known}
        ).result_rows
        return {str(row[0]): self._blocker(row) for row in rows}

    def _blocker(self, facts: Sequence[Any]) -> Blocker:
        """The blocker of a ``_FACTS`` row (event id, type, error category and code, since)."""
        event_id, event_type, category, code, since = facts
        return Blocker(
            event_id=str(event_id),
            event_type=str(event_type),
            error_category=str(category),
            error_code=str(code),
            owner=self._owners.owner_of(str(category)),
            failed_since=utc(since) if since is not None else None,
        )
