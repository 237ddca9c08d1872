"""Request and response models of the work queue API (``/api/v1/work-items``); the REST client
and the dashboard validate answers with the same models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.money import Money
from slas.work_items import MAX_ASSIGNEE, MAX_TEXT


class WorkItemOut(BaseModel):
    id: str = Field(description="Stable id of the item: the same failure or timer, the same id.")
    kind: str = Field(description="blocking_failure or breached_timer.")
    event_id: str = Field(description="The failed event, or the breached timer's start event.")
    sla: str = Field(description="The breached timer's SLA (empty for a failure).")
    key_type: str = Field(description="The breached timer's key object type.")
    key_id: str = Field(description="The breached timer's key object id.")
    title: str = Field(description="The failed event's type, or the SLA's name.")
    detail: str = Field(description="The error (category: code), or the timer's key.")
    owner: str = Field(description="The team that owns the fix ([owners], the SLA's owner).")
    legal_entities: list[str]
    money_blocked: dict[str, Money] = Field(
        description="Per currency, the money of the invoice-level items the failure holds, or "
        "the breached timer's amount; exact decimals as strings. Empty once resolved."
    )
    blocked_items: int = Field(description="Invoice-level items the failure holds.")
    since: datetime = Field(
        description="When it became work: the failure's current run of failed attempts began, "
        "or the timer's deadline passed."
    )
    age_business_hours: float = Field(
        description="Business hours since then, in the (first) legal entity's calendar."
    )
    state: str = Field(description="open, acknowledged, assigned, snoozed or resolved.")
    resolution: str = Field(
        description="manual (resolved by hand with a reason) or automatic (the failure "
        "succeeded or the breach is over); empty while not resolved."
    )
    assignee: str
    snoozed_until: datetime | None
    last_comment: str
    updated_at: datetime | None = Field(description="The latest action on it, if any.")


class WorkItemActionOut(BaseModel):
    action: str = Field(
        description="opened, acknowledged, assigned, snoozed, commented, resolved or reopened."
    )
    actor: str = Field(description="The API token's name, or syncsight for what it records.")
    at: datetime
    assignee: str
    snoozed_until: datetime | None
    text: str = Field(description="The comment, or the reason of a resolve or reopen.")


class WorkItemDetailOut(WorkItemOut):
    history: list[WorkItemActionOut] = Field(description="Every action, oldest first.")


class OwnerTotalOut(BaseModel):
    owner: str = Field(description="The team that owns the fix (empty: no owner).")
    items: int = Field(description="This owner's items matching the filters, on every page.")
    money_blocked: dict[str, Money] = Field(
        description="Per currency, the sum of those items' money_blocked (an invoice held by "
        "two failures counts in both)."
    )
    oldest_since: datetime = Field(description="When the owner's longest-waiting item became work.")
    oldest_business_hours: float = Field(description="That item's age_business_hours.")


class WorkItemPageOut(BaseModel):
    as_of: datetime = Field(description="The instant the open set was derived at (now).")
    total: int = Field(description="Items matching the filters, on every page.")
    owners: list[OwnerTotalOut] = Field(
        default_factory=list,
        description="Per owner, the items matching the filters (every page's, not this "
        "page's), in the order their oldest items became work.",
    )
    items: list[WorkItemOut]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null on the last page."
    )
    may_act: bool = Field(
        default=False,
        description="Whether this request's token may act on items (role operator or admin).",
    )


class NoteIn(BaseModel):
    """An optional note with an action (acknowledge, reopen)."""

    text: str = Field(default="", max_length=MAX_TEXT)


class AssignIn(BaseModel):
    assignee: str = Field(max_length=MAX_ASSIGNEE, description="A team or a person.")


class SnoozeIn(BaseModel):
    until: datetime = Field(description="RFC 3339; naive means UTC. Must be in the future.")
    text: str = Field(default="", max_length=MAX_TEXT)


class CommentIn(BaseModel):
    text: str = Field(max_length=MAX_TEXT)


class ResolveIn(BaseModel):
    reason: str = Field(max_length=MAX_TEXT, description="Why it is resolved; required.")
