"""Work items as values: what the business state says needs someone (a failure that blocks items,
a breached open timer), the actions people take on it, and the fold of an item's actions into its
state now. Pure: the store (``slas.work_queue``) reads and writes, this decides.

An item's state is the latest of its state-changing actions (a comment changes none); an expired
snooze falls back to the state before it; an item the business state no longer holds reads as
resolved automatically, whatever was done to it, unless a person resolved it first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

BLOCKING_FAILURE: Final = "blocking_failure"
BREACHED_TIMER: Final = "breached_timer"
KINDS: Final = (BLOCKING_FAILURE, BREACHED_TIMER)

OPENED: Final = "opened"
ACKNOWLEDGED: Final = "acknowledged"
ASSIGNED: Final = "assigned"
SNOOZED: Final = "snoozed"
COMMENTED: Final = "commented"
RESOLVED: Final = "resolved"
REOPENED: Final = "reopened"
ACTIONS: Final = (OPENED, ACKNOWLEDGED, ASSIGNED, SNOOZED, COMMENTED, RESOLVED, REOPENED)

OPEN: Final = "open"
STATES: Final = (OPEN, ACKNOWLEDGED, ASSIGNED, SNOOZED, RESOLVED)
ACTIVE_STATES: Final = (OPEN, ACKNOWLEDGED, ASSIGNED, SNOOZED)
"""What the queue lists unless asked for resolved items."""

STATE_OF_ACTION: Final = {
    OPENED: OPEN,
    ACKNOWLEDGED: ACKNOWLEDGED,
    ASSIGNED: ASSIGNED,
    SNOOZED: SNOOZED,
    RESOLVED: RESOLVED,
    REOPENED: OPEN,
}
"""The state each action leaves an item in (a comment leaves it as it was)."""

MANUAL: Final = "manual"
AUTOMATIC: Final = "automatic"
SYNCSIGHT: Final = "syncsight"
"""The actor of what syncsight records itself (an item's opening)."""

MAX_TEXT: Final = 2000
"""Longest comment or reason, in characters."""
MAX_ASSIGNEE: Final = 200
MAX_SNOOZE: Final = timedelta(days=366)
_ONE_MICROSECOND = timedelta(microseconds=1)


class ActionInvalid(ValueError):
    """An action whose input cannot be used (an empty reason, a snooze in the past): HTTP 400."""


class ActionConflict(ValueError):
    """An action the item's state does not allow (acknowledging a resolved item): HTTP 409."""


@dataclass(frozen=True)
class ItemKey:
    """What a work item is about: a failed event (``blocking_failure``), or one timer
    (``breached_timer``: its SLA, key object and start event)."""

    kind: str
    event_id: str
    sla: str = ""
    key_type: str = ""
    key_id: str = ""

    @property
    def item_id(self) -> str:
        """A stable, URL-safe id: the same failure or timer always has the same id."""
        text = "\0".join((self.kind, self.event_id, self.sla, self.key_type, self.key_id))
        return "wi-" + hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class OpenItem:
    """A work item the business state holds now, with what the queue shows about it."""

    key: ItemKey
    owner: str
    legal_entities: tuple[str, ...]
    money: Mapping[str, Decimal]
    since: datetime
    """When it became work: the failure's current run of failed attempts began, the deadline
    passed."""
    title: str
    detail: str
    blocked_items: int = 0


@dataclass(frozen=True)
class Action:
    """One row of an item's history."""

    key: ItemKey
    action: str
    actor: str
    at: datetime
    assignee: str = ""
    snoozed_until: datetime | None = None
    text: str = ""
    owner: str = ""
    legal_entity: str = ""


@dataclass(frozen=True)
class ItemState:
    """An item's state now, from its actions and whether the business state still holds it."""

    state: str
    resolution: str = ""
    """``manual`` or ``automatic`` when resolved, else empty."""
    assignee: str = ""
    snoozed_until: datetime | None = None
    last_comment: str = ""
    updated_at: datetime | None = None


def fold(actions: Iterable[Action], *, still_open: bool, now: datetime) -> ItemState:
    """The state of an item from its actions (the whole history, or only the latest action of
    each kind: both give the same answer) at ``now``."""
    latest: dict[str, Action] = {}
    for action in actions:
        if action.action not in latest or action.at > latest[action.action].at:
            latest[action.action] = action
    changes = sorted(
        (a for a in latest.values() if a.action in STATE_OF_ACTION), key=lambda a: a.at
    )
    state = STATE_OF_ACTION[changes[-1].action] if changes else OPEN
    snooze = latest.get(SNOOZED)
    if state == SNOOZED and snooze is not None and not _later(snooze.snoozed_until, now):
        earlier = changes[-2].action if len(changes) > 1 else OPENED
        state = STATE_OF_ACTION[earlier]  # the snooze ran out: back to what it was before
    resolution = MANUAL if state == RESOLVED else ""
    if not still_open and state != RESOLVED:
        state, resolution = RESOLVED, AUTOMATIC
    assigned = latest.get(ASSIGNED)
    comment = latest.get(COMMENTED)
    return ItemState(
        state=state,
        resolution=resolution,
        assignee=assigned.assignee if assigned else "",
        snoozed_until=snooze.snoozed_until if state == SNOOZED and snooze else None,
        last_comment=comment.text if comment else "",
        updated_at=max((a.at for a in latest.values()), default=None),
    )


def _later(instant: datetime | None, now: datetime) -> bool:
    return instant is not None and instant > now


@dataclass(frozen=True)
class ActionRequest:
    """An action someone asks for, before it is checked."""

    action: str
    actor: str
    assignee: str = ""
    snoozed_until: datetime | None = None
    text: str = ""


def checked_action(
    request: ActionRequest, item_id: str, current: ItemState, *, still_open: bool, now: datetime
) -> ActionRequest:
    """``request`` cleaned (text stripped, instants in UTC), or ``ActionInvalid`` /
    ``ActionConflict`` naming the item, the value and what was expected."""
    action = request.action
    text = request.text.strip()
    if action in (COMMENTED, RESOLVED) and not text:
        what = "comment text" if action == COMMENTED else "reason"
        raise ActionInvalid(f"{action} {item_id}: the {what} is empty; expected some text")
    if len(text) > MAX_TEXT:
        raise ActionInvalid(
            f"{action} {item_id}: the text has {len(text)} characters; expected at most {MAX_TEXT}"
        )
    assignee = request.assignee.strip()
    if (action == ASSIGNED and not assignee) or len(assignee) > MAX_ASSIGNEE:
        raise ActionInvalid(
            f"assign {item_id}: assignee={request.assignee!r}; expected a team or person, 1 to "
            f"{MAX_ASSIGNEE} characters"
        )
    until = request.snoozed_until
    if action == SNOOZED:
        if until is None:
            raise ActionInvalid(f"snooze {item_id}: expected an instant to snooze until")
        try:
            until = until.replace(tzinfo=UTC) if until.tzinfo is None else until.astimezone(UTC)
        except OverflowError:
            raise ActionInvalid(
                f"snooze {item_id}: until={until.isoformat()} is outside the instants UTC can "
                "hold; expected an instant in the coming year"
            ) from None
        if until <= now:
            raise ActionInvalid(
                f"snooze {item_id}: until={until.isoformat()} is not in the future (now is "
                f"{now.isoformat()}); expected a later instant"
            )
        if until > now + MAX_SNOOZE:
            raise ActionInvalid(
                f"snooze {item_id}: until={until.isoformat()} is more than {MAX_SNOOZE.days} "
                "days ahead; expected a nearer instant"
            )
    if action == REOPENED:
        if current.state != RESOLVED:
            raise ActionConflict(f"reopen {item_id}: the item is {current.state}, not resolved")
        if not still_open:
            raise ActionConflict(
                f"reopen {item_id}: the item was resolved automatically (its failure or breach "
                "is over); there is nothing to reopen"
            )
    elif action != COMMENTED and current.state == RESOLVED:
        raise ActionConflict(
            f"{action} {item_id}: the item is resolved ({current.resolution}); reopen it first"
        )
    return ActionRequest(action, request.actor, assignee, until, text)


def action_at(now: datetime, current: ItemState) -> datetime:
    """When a new action is recorded: now, or just after the item's latest action when the
    clock has not moved past it, so that the history keeps its order."""
    if current.updated_at is not None and current.updated_at >= now:
        return current.updated_at + _ONE_MICROSECOND
    return now


_CURSOR = re.compile(r"^(\d{1,20})-(wi-[0-9a-f]{24})$")


@dataclass(frozen=True)
class Listed:
    """An item as the queue lists it: its id, when it became work, and its state."""

    item_id: str
    since: datetime
    state: ItemState
    open_item: OpenItem | None
    """None when the business state no longer holds it (known from its history only)."""
    history: Sequence[Action] = field(default=())


def sort_key(item: Listed) -> tuple[int, str]:
    """Oldest first; the id breaks ties (and is what a cursor points after)."""
    return round(item.since.timestamp() * 1_000_000), item.item_id


def cursor_after(item: Listed) -> str:
    micros, item_id = sort_key(item)
    return f"{micros}-{item_id}"


def parse_cursor(text: str) -> tuple[int, str]:
    """A ``next_cursor`` back into the sort key it points after, or ``ActionInvalid``."""
    found = _CURSOR.match(text)
    if found is None:
        raise ActionInvalid(
            f"cursor={text[:60]!r}: expected the next_cursor of a previous page of this list"
        )
    return int(found.group(1)), found.group(2)
