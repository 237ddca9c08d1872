"""``GET /api/v1/objects/{type}/{id}/events``: the business events that reference an object, a page
at a time (a legal entity or a customer may have millions)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from domain import semconv
from domain.business_event import BusinessEvent
from domain.money import Money
from warehouse.pool import ClientPool
from warehouse.queries import EventCursor, events_of_object

DEFAULT_PAGE_SIZE: Final = 1000
MAX_PAGE_SIZE: Final = 10_000


class ObjectEvent(BaseModel):
    """One attempt of a business event that references the object."""

    event_id: str
    event_type: str
    timestamp: datetime = Field(
        description="When the sync step happened (span start), RFC 3339 UTC."
    )
    source_system: str
    target_system: str
    outcome: str
    attempt: int
    amount: Money | None
    currency: str
    period: str
    legal_entity: str
    error_category: str
    error_code: str
    replay_of: str
    service_name: str
    trace_id: str
    span_id: str
    objects: dict[str, list[str]] = Field(description="Object type → the ids the event references.")


def unknown_object_type(object_type: str) -> HTTPException:
    return HTTPException(
        status_code=404,
        detail=f"unknown object type {object_type!r}; known types: "
        + ", ".join(semconv.OBJECT_TYPES),
    )


def object_event(event: BusinessEvent) -> ObjectEvent:
    """The API shape of one stored attempt: UTC-aware time, money exact (a string in JSON)."""
    fields = asdict(event)
    fields["timestamp"] = event.timestamp.replace(tzinfo=UTC)
    return ObjectEvent(**fields)


def objects_router(pool: ClientPool) -> APIRouter:
    router = APIRouter(tags=["objects"])

    @router.get(
        "/objects/{object_type}/{object_id}/events",
        response_model=list[ObjectEvent],
        summary="Business events of one object, oldest first, a page at a time",
        description="When more events follow, the answer carries their cursor in the "
        '`X-Next-Cursor` header and a `Link: <…>; rel="next"` header; pass it as `cursor`.',
    )
    def object_events(
        object_type: str,
        object_id: str,
        request: Request,
        response: Response,
        limit: Annotated[
            int, Query(ge=1, le=MAX_PAGE_SIZE, description="Most attempts in this page.")
        ] = DEFAULT_PAGE_SIZE,
        cursor: Annotated[
            str | None, Query(description="`X-Next-Cursor` of the previous page.")
        ] = None,
    ) -> list[ObjectEvent]:
        if object_type not in semconv.OBJECT_TYPES:
            raise unknown_object_type(object_type)
        try:
            after = EventCursor.parse(cursor) if cursor is not None else None
        except ValueError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        events, next_cursor = events_of_object(
            pool.client(), object_type=object_type, object_id=object_id, limit=limit, after=after
        )
        if not events and after is None:
            raise HTTPException(
                status_code=404, detail=f"no business event references {object_type} {object_id!r}"
            )
        if next_cursor is not None:
            query = urlencode({"limit": limit, "cursor": next_cursor.text()})
            response.headers["X-Next-Cursor"] = next_cursor.text()
            response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
        return [object_event(e) for e in events]

    return router
