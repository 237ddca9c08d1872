"""REST API of the work queue under ``/api/v1/work-items``: the list (filters, pages), one item
with its history, and the actions. Reads need a viewer token, actions an operator (or admin)
token (``syncsight/access.py``), whose name the history records as the actor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Request

from slas.work_item_models import (
    AssignIn,
    CommentIn,
    NoteIn,
    OwnerTotalOut,
    ResolveIn,
    SnoozeIn,
    WorkItemActionOut,
    WorkItemDetailOut,
    WorkItemOut,
    WorkItemPageOut,
)
from slas.work_items import (
    ACKNOWLEDGED,
    ACTIVE_STATES,
    ASSIGNED,
    COMMENTED,
    KINDS,
    REOPENED,
    RESOLVED,
    SNOOZED,
    STATES,
    ActionConflict,
    ActionInvalid,
    ActionRequest,
    Listed,
    parse_cursor,
)
from slas.work_queue import UnknownItem, WorkQueue

OPERATOR_SCOPE = "operator"
"""The scope (``request.auth.scopes``, set by the access control) of tokens that may act."""

StateFilter = Annotated[
    list[str] | None,
    Query(
        description="Repeat for several: open, acknowledged, assigned, snoozed, resolved. "
        "Default: every state but resolved."
    ),
]


def work_items_router(queue: WorkQueue, clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(tags=["work queue"])

    def item_out(item: Listed, now: datetime) -> WorkItemOut:
        open_item = item.open_item
        key = open_item.key if open_item else item.history[0].key
        latest = item.history[-1] if item.history else None
        return WorkItemOut(
            id=item.item_id,
            kind=key.kind,
            event_id=key.event_id,
            sla=key.sla,
            key_type=key.key_type,
            key_id=key.key_id,
            title=open_item.title if open_item else (key.sla or key.event_id),
            detail=open_item.detail if open_item else "",
            owner=open_item.owner if open_item else (latest.owner if latest else ""),
            legal_entities=list(open_item.legal_entities)
            if open_item
            else sorted({a.legal_entity for a in item.history if a.legal_entity}),
            money_blocked=dict(open_item.money) if open_item else {},
            blocked_items=open_item.blocked_items if open_item else 0,
            since=item.since,
            age_business_hours=round(queue.business_age_seconds(item, now) / 3600, 2),
            state=item.state.state,
            resolution=item.state.resolution,
            assignee=item.state.assignee,
            snoozed_until=item.state.snoozed_until,
            last_comment=item.state.last_comment,
            updated_at=item.state.updated_at,
        )

    def detail_out(item: Listed, now: datetime) -> WorkItemDetailOut:
        return WorkItemDetailOut(
            **item_out(item, now).model_dump(),
            history=[
                WorkItemActionOut(
                    action=a.action,
                    actor=a.actor,
                    at=a.at,
                    assignee=a.assignee,
                    snoozed_until=a.snoozed_until,
                    text=a.text,
                )
                for a in item.history
            ],
        )

    @router.get(
        "/work-items",
        response_model=WorkItemPageOut,
        summary="The work queue: failures that block items and breached timers, oldest first",
    )
    def list_work_items(
        request: Request,
        state: StateFilter = None,
        owner: str | None = None,
        kind: Annotated[str | None, Query(description="blocking_failure or breached_timer")] = None,
        legal_entity: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
        cursor: Annotated[
            str | None, Query(max_length=100, description="next_cursor of the previous page.")
        ] = None,
    ) -> WorkItemPageOut:
        states = state or list(ACTIVE_STATES)
        unknown = [s for s in states if s not in STATES]
        if unknown:
            raise HTTPException(422, f"state={unknown[0]!r}: expected one of {', '.join(STATES)}")
        if kind is not None and kind not in KINDS:
            raise HTTPException(422, f"kind={kind!r}: expected one of {', '.join(KINDS)}")
        try:
            after = parse_cursor(cursor) if cursor is not None else None
        except ActionInvalid as error:
            raise HTTPException(400, str(error)) from None
        now = clock()
        page = queue.page(
            now,
            states=states,
            owner=owner,
            kind=kind,
            legal_entity=legal_entity,
            after=after,
            limit=limit,
        )
        return WorkItemPageOut(
            as_of=now,
            total=page.total,
            owners=[
                OwnerTotalOut(
                    owner=total.owner,
                    items=total.items,
                    money_blocked=total.money,
                    oldest_since=total.oldest.since,
                    oldest_business_hours=round(
                        queue.business_age_seconds(total.oldest, now) / 3600, 2
                    ),
                )
                for total in page.owners
            ],
            items=[item_out(i, now) for i in page.items],
            next_cursor=page.next_cursor,
            may_act=OPERATOR_SCOPE in getattr(request.scope.get("auth"), "scopes", ()),
        )

    @router.get(
        "/work-items/{item_id}",
        response_model=WorkItemDetailOut,
        summary="One work item with its whole history",
    )
    def get_work_item(item_id: str) -> WorkItemDetailOut:
        now = clock()
        try:
            return detail_out(queue.get(item_id, now), now)
        except UnknownItem as error:
            raise HTTPException(404, str(error)) from None

    def act(request: Request, item_id: str, wanted: ActionRequest) -> WorkItemDetailOut:
        user = request.scope.get("user")
        if user is None:
            raise HTTPException(401, "an action on a work item needs an operator or admin token")
        now = clock()
        try:
            changed = queue.act(
                item_id,
                ActionRequest(
                    wanted.action,
                    str(user.display_name),
                    wanted.assignee,
                    wanted.snoozed_until,
                    wanted.text,
                ),
                now,
            )
        except UnknownItem as error:
            raise HTTPException(404, str(error)) from None
        except ActionInvalid as error:
            raise HTTPException(400, str(error)) from None
        except ActionConflict as error:
            raise HTTPException(409, str(error)) from None
        return detail_out(changed, now)

    summary = "needs role operator or admin"

    @router.post(
        "/work-items/{item_id}/acknowledge",
        response_model=WorkItemDetailOut,
        summary=f"Acknowledge: someone is on it ({summary})",
    )
    def acknowledge(
        request: Request, item_id: str, body: Annotated[NoteIn | None, Body()] = None
    ) -> WorkItemDetailOut:
        text = body.text if body else ""
        return act(request, item_id, ActionRequest(ACKNOWLEDGED, "", text=text))

    @router.post(
        "/work-items/{item_id}/assign",
        response_model=WorkItemDetailOut,
        summary=f"Assign to a team or person ({summary})",
    )
    def assign(request: Request, item_id: str, body: AssignIn) -> WorkItemDetailOut:
        return act(request, item_id, ActionRequest(ASSIGNED, "", assignee=body.assignee))

    @router.post(
        "/work-items/{item_id}/snooze",
        response_model=WorkItemDetailOut,
        summary=f"Snooze until an instant in the future ({summary})",
    )
    def snooze(request: Request, item_id: str, body: SnoozeIn) -> WorkItemDetailOut:
        wanted = ActionRequest(SNOOZED, "", snoozed_until=body.until, text=body.text)
        return act(request, item_id, wanted)

    @router.post(
        "/work-items/{item_id}/comment",
        response_model=WorkItemDetailOut,
        summary=f"Comment ({summary})",
    )
    def comment(request: Request, item_id: str, body: CommentIn) -> WorkItemDetailOut:
        return act(request, item_id, ActionRequest(COMMENTED, "", text=body.text))

    @router.post(
        "/work-items/{item_id}/resolve",
        response_model=WorkItemDetailOut,
        summary=f"Resolve by hand, with a reason ({summary})",
    )
    def resolve(request: Request, item_id: str, body: ResolveIn) -> WorkItemDetailOut:
        return act(request, item_id, ActionRequest(RESOLVED, "", text=body.reason))

    @router.post(
        "/work-items/{item_id}/reopen",
        response_model=WorkItemDetailOut,
        summary=f"Reopen an item resolved by hand ({summary})",
    )
    def reopen(
        request: Request, item_id: str, body: Annotated[NoteIn | None, Body()] = None
    ) -> WorkItemDetailOut:
        text = body.text if body else ""
        return act(request, item_id, ActionRequest(REOPENED, "", text=text))

    return router
