"""The work queue: the open set derived from the business state at read time (the failures that
block invoice-level items, ``slas.impact_answers``; the breached open timers,
``slas.timer_answers``), folded with the history people wrote into ``work_item_events``.
Nothing about an item's business condition is stored: a failure that succeeds, or a timer that
stops, simply leaves the open set and its item reads as resolved automatically.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from domain.instants import utc
from slas.business_time import business_seconds_between
from slas.calendars import CalendarBook
from slas.impact_answers import BlockedInvoiceAnswers
from slas.timer_answers import TimerAnswers
from slas.work_items import (
    BLOCKING_FAILURE,
    BREACHED_TIMER,
    OPEN,
    OPENED,
    SYNCSIGHT,
    Action,
    ActionRequest,
    ItemKey,
    ItemState,
    Listed,
    OpenItem,
    action_at,
    checked_action,
    cursor_after,
    fold,
    sort_key,
)
from warehouse.schema import WORK_ITEM_EVENTS

COLUMNS = (
    "ItemId",
    "Kind",
    "EventId",
    "Sla",
    "KeyType",
    "KeyId",
    "Action",
    "Actor",
    "Assignee",
    "SnoozedUntil",
    "Text",
    "Owner",
    "LegalEntity",
    "At",
)
_SELECT = ", ".join(COLUMNS)

LATEST_ACTIONS = f"""
SELECT {_SELECT}
FROM {WORK_ITEM_EVENTS}
WHERE empty({{items:Array(String)}}) OR ItemId IN {{items:Array(String)}}
ORDER BY ItemId, Action, At DESC
LIMIT 1 BY ItemId, Action
"""
"""Each item's latest action of each kind (every item's when ``items`` is empty): the table's
order read backwards within (item, action), first row kept. ``slas.work_items.fold`` needs no
more than these."""

HISTORY = f"""
SELECT {_SELECT}
FROM {WORK_ITEM_EVENTS}
WHERE ItemId = {{item:String}}
ORDER BY At, Action
"""
"""One item's whole history, oldest first."""


class UnknownItem(LookupError):
    """An item id that is neither in the open set nor in the history: HTTP 404."""


@dataclass(frozen=True)
class OwnerTotal:
    """What one owner's matching items add up to, on every page: how many, the money they hold
    per currency, and the one that has waited longest (the earliest to become work)."""

    owner: str
    items: int
    money: dict[str, Decimal]
    oldest: Listed


@dataclass(frozen=True)
class Page:
    """One page of the queue, how many items matched (by owner too), and where the next page
    starts."""

    items: list[Listed]
    total: int
    next_cursor: str | None
    owners: list[OwnerTotal] = field(default_factory=list)


def owner_totals(matching: Sequence[Listed]) -> list[OwnerTotal]:
    """``matching`` (oldest first) by owner, in the order of their oldest items."""
    counts: Counter[str] = Counter()
    money: dict[str, dict[str, Decimal]] = {}
    oldest: dict[str, Listed] = {}
    for item in matching:
        owner = _owner(item)
        counts[owner] += 1
        oldest.setdefault(owner, item)
        held = money.setdefault(owner, {})
        for currency, amount in (item.open_item.money if item.open_item else {}).items():
            held[currency] = held.get(currency, Decimal(0)) + amount
    return [
        OwnerTotal(owner, counts[owner], dict(sorted(money[owner].items())), first)
        for owner, first in oldest.items()
    ]


class WorkQueue:
    """Reads the open set and the history, and records actions."""

    def __init__(
        self,
        client: Callable[[], Client],
        blocked: BlockedInvoiceAnswers,
        timers: TimerAnswers,
        calendars: CalendarBook,
        *,
        sla_owners: Mapping[str, str],
        default_owner: str,
    ) -> None:
        self._client = client
        self._blocked = blocked
        self._timers = timers
        self._calendars = calendars
        self._sla_owners = dict(sla_owners)
        self._default_owner = default_owner

    def open_items(self, now: datetime) -> dict[str, OpenItem]:
        """Every item the business state holds at ``now``, by id."""
        items = self._blocking_failures(now)
        for timer in self._timers.alerting(now):
            if not timer.breached:
                continue
            key = ItemKey(
                BREACHED_TIMER, timer.start_event_id, timer.sla, timer.key_type, timer.key_id
            )
            items[key.item_id] = OpenItem(
                key=key,
                owner=self._sla_owners.get(timer.sla) or self._default_owner,
                legal_entities=(timer.legal_entity,) if timer.legal_entity else (),
                money={timer.currency: Decimal(timer.amount)} if timer.amount is not None else {},
                since=timer.deadline,
                title=timer.sla,
                detail=f"{timer.key_type} {timer.key_id}",
            )
        return items

    def counts(self, now: datetime) -> Counter[tuple[str, str]]:
        """How many items ``listed`` gives in each (state, kind), without listing the open timers:
        an item nobody acted on is open while the business state holds it, so only the items with
        a history are folded, the breached timers are counted in the engine, and the blocking
        failures are read as failures, not item by item (``BlockedInvoiceAnswers.blocking_events``:
        the items they hold grow with every failure never retried)."""
        failures = {
            ItemKey(BLOCKING_FAILURE, event_id).item_id
            for event_id in self._blocked.blocking_events(now)
        }
        history = self._latest_actions([])
        timer_events = [
            actions[0].key.event_id
            for actions in history.values()
            if actions[0].key.kind == BREACHED_TIMER
        ]
        breached, acted_on = self._timers.breached_open(now, timer_events)
        open_timers = {ItemKey(BREACHED_TIMER, e, s, t, k).item_id for s, t, k, e in acted_on}
        counts: Counter[tuple[str, str]] = Counter()
        for item_id, actions in history.items():
            kind = actions[0].key.kind
            still_open = item_id in (failures if kind == BLOCKING_FAILURE else open_timers)
            counts[(fold(actions, still_open=still_open, now=now).state, kind)] += 1
        unseen_failures = len(failures - history.keys())
        unseen_timers = breached - len(open_timers & history.keys())
        for kind, count in ((BLOCKING_FAILURE, unseen_failures), (BREACHED_TIMER, unseen_timers)):
            if count:
                counts[(OPEN, kind)] += count
        return counts

    def _blocking_failures(self, now: datetime) -> dict[str, OpenItem]:
        """The failures that block invoice-level items at ``now``, by item id."""
        _, blocked = self._blocked.report(period=None, legal_entity=None, as_of=now, known_at=None)
        grouped: dict[str, dict[str, Any]] = {}
        for blocked_item in blocked.items:
            for blocker in blocked_item.blocked_by:
                group = grouped.setdefault(
                    blocker.event_id,
                    {"blocker": blocker, "entities": set(), "money": {}, "count": 0},
                )
                group["count"] += 1
                group["entities"].add(blocked_item.legal_entity)
                if blocked_item.amount is not None:
                    money = group["money"]
                    money[blocked_item.currency] = (
                        money.get(blocked_item.currency, Decimal(0)) + blocked_item.amount
                    )
        items: dict[str, OpenItem] = {}
        for event_id, group in grouped.items():
            blocker = group["blocker"]
            error = ": ".join(filter(None, (blocker.error_category, blocker.error_code)))
            item = OpenItem(
                key=ItemKey(BLOCKING_FAILURE, event_id),
                owner=blocker.owner,
                legal_entities=tuple(sorted(e for e in group["entities"] if e)),
                money=dict(sorted(group["money"].items())),
                since=blocker.failed_since or now,
                title=blocker.event_type,
                detail=error or "failed",
                blocked_items=group["count"],
            )
            items[item.key.item_id] = item
        return items

    def business_age_seconds(self, item: Listed, now: datetime) -> float:
        """Business seconds since the item became work, in its (first) legal entity's calendar."""
        entities = item.open_item.legal_entities if item.open_item else ()
        entity = entities[0] if entities else _history_entity(item.history)
        calendar = self._calendars.for_entity(entity)
        return business_seconds_between(calendar, min(item.since, now), now)

    def listed(self, now: datetime) -> list[Listed]:
        """Every item, open now or known from its history, oldest first."""
        open_now = self.open_items(now)
        history = self._latest_actions([])
        ids = set(open_now) | set(history)
        found = [self._listed(i, open_now.get(i), history.get(i, []), now) for i in ids]
        return sorted(found, key=sort_key)

    def page(
        self,
        now: datetime,
        *,
        states: Sequence[str],
        owner: str | None = None,
        kind: str | None = None,
        legal_entity: str | None = None,
        after: tuple[int, str] | None = None,
        limit: int = 100,
    ) -> Page:
        """The items matching every filter, oldest first, ``limit`` of them after ``after``."""
        matching = [
            item
            for item in self.listed(now)
            if item.state.state in states
            and (owner is None or _owner(item) == owner)
            and (kind is None or _key(item).kind == kind)
            and (legal_entity is None or legal_entity in _entities(item))
        ]
        start = [i for i in matching if after is None or sort_key(i) > after]
        shown = start[:limit]
        more = len(start) > limit
        following = cursor_after(shown[-1]) if more and shown else None
        return Page(shown, len(matching), following, owner_totals(matching))

    def get(self, item_id: str, now: datetime) -> Listed:
        """One item with its whole history, or ``UnknownItem``."""
        open_item = self.open_items(now).get(item_id)
        history = self.history(item_id)
        if open_item is None and not history:
            raise UnknownItem(
                f"work item {item_id!r}: no failure blocks anything and no timer is breached "
                "under this id now, and it has no history"
            )
        listed = self._listed(item_id, open_item, history, now)
        return Listed(listed.item_id, listed.since, listed.state, open_item, history)

    def act(self, item_id: str, request: ActionRequest, now: datetime) -> Listed:
        """Check ``request`` against the item's state now and record it (with the item's opening
        first, when it is the first action on it); the item afterwards."""
        current = self.get(item_id, now)
        still_open = current.open_item is not None
        accepted = checked_action(request, item_id, current.state, still_open=still_open, now=now)
        key = _key(current)
        owner = _owner(current)
        entity = (_entities(current) or ("",))[0]
        rows = []
        if not current.history:
            opening = Action(
                key, OPENED, SYNCSIGHT, current.since, owner=owner, legal_entity=entity
            )
            rows.append(opening)
        at = action_at(now, current.state)
        rows.append(
            Action(
                key,
                accepted.action,
                accepted.actor,
                at,
                assignee=accepted.assignee,
                snoozed_until=accepted.snoozed_until,
                text=accepted.text,
                owner=owner,
                legal_entity=entity,
            )
        )
        self._client().insert(
            WORK_ITEM_EVENTS, [_row(item_id, a) for a in rows], column_names=list(COLUMNS)
        )
        return self.get(item_id, now)

    def history(self, item_id: str) -> list[Action]:
        rows = self._client().query(HISTORY, parameters={"item": item_id}).result_rows
        return [_action(row) for row in rows]

    def _latest_actions(self, item_ids: list[str]) -> dict[str, list[Action]]:
        rows = self._client().query(LATEST_ACTIONS, parameters={"items": item_ids}).result_rows
        found: dict[str, list[Action]] = {}
        for row in rows:
            found.setdefault(str(row[0]), []).append(_action(row))
        return found

    def _listed(
        self, item_id: str, open_item: OpenItem | None, actions: Sequence[Action], now: datetime
    ) -> Listed:
        actions = sorted(actions, key=lambda a: a.at)
        state: ItemState = fold(actions, still_open=open_item is not None, now=now)
        opened = [a.at for a in actions if a.action == OPENED]
        since = open_item.since if open_item else min(opened or [a.at for a in actions])
        return Listed(item_id, since, state, open_item, tuple(actions))


def _row(item_id: str, action: Action) -> list[Any]:
    key = action.key
    return [
        item_id,
        key.kind,
        key.event_id,
        key.sla,
        key.key_type,
        key.key_id,
        action.action,
        action.actor,
        action.assignee,
        action.snoozed_until,
        action.text,
        action.owner,
        action.legal_entity,
        action.at,
    ]


def _action(row: Sequence[Any]) -> Action:
    (_, kind, event_id, sla, key_type, key_id, action, actor, assignee, until, text, owner,
     entity, at) = row  # fmt: skip
    return Action(
        key=ItemKey(str(kind), str(event_id), str(sla), str(key_type), str(key_id)),
        action=str(action),
        actor=str(actor),
        at=utc(at),
        assignee=str(assignee),
        snoozed_until=utc(until) if until is not None else None,
        text=str(text),
        owner=str(owner),
        legal_entity=str(entity),
    )


def _key(item: Listed) -> ItemKey:
    if item.open_item is not None:
        return item.open_item.key
    return item.history[0].key


def _owner(item: Listed) -> str:
    if item.open_item is not None:
        return item.open_item.owner
    return next((a.owner for a in reversed(item.history) if a.owner), "")


def _entities(item: Listed) -> tuple[str, ...]:
    if item.open_item is not None:
        return item.open_item.legal_entities
    entity = _history_entity(item.history)
    return (entity,) if entity else ()


def _history_entity(history: Sequence[Action]) -> str:
    return next((a.legal_entity for a in reversed(history) if a.legal_entity), "")
