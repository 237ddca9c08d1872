"""Shared read queries over the business tables: each span once, in its first stored version
(warehouse/first_stored.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from domain.business_event import BusinessEvent
from domain.instants import utc
from domain.tokens import token_fields, token_text
from warehouse.first_stored import first_stored_events

EVENT_COLUMNS = """EventId, EventType, EventTime, SourceSystem, TargetSystem, Outcome, Attempt,
    Amount, Currency, Period, LegalEntity, ErrorCategory, ErrorCode, ReplayOf, ServiceName,
    TraceId, SpanId, ObjectRefs"""

OUTLINE_COLUMNS = "EventId, EventType, EventTime, Outcome, Attempt, TraceId, SpanId, ObjectRefs"
"""What a traversal needs of an attempt (``biz_event_objects`` carries it, migration 4)."""

_OBJECT_EVENT_IDS = """EventId IN (
    SELECT EventId FROM biz_event_objects FINAL
    WHERE ObjectType = {object_type:String} AND ObjectId = {object_id:String}
)"""

EVENTS_OF_OBJECT = f"""
SELECT {EVENT_COLUMNS}, toUnixTimestamp64Nano(EventTime)
FROM {first_stored_events(_OBJECT_EVENT_IDS, EVENT_COLUMNS)}
WHERE (toUnixTimestamp64Nano(EventTime), Attempt, TraceId, SpanId, EventId)
    > ({{after_time_ns:Int64}}, {{after_attempt:UInt32}}, {{after_trace_id:String}},
       {{after_span_id:String}}, {{after_event_id:String}})
ORDER BY EventTime, Attempt, TraceId, SpanId, EventId
LIMIT {{limit:UInt32}}
"""
"""A page of an object's attempts in a total order: attempts of different traces may share a time,
an attempt number and a span id, and one span may carry several events."""


def outline_from_row(row: Sequence[Any]) -> BusinessEvent:
    """An attempt from an ``OUTLINE_COLUMNS`` row: identity, time, outcome and objects; its other
    facts are empty until the attempt is read in full by id."""
    event_id, event_type, timestamp, outcome, attempt, trace_id, span_id, refs = row
    return BusinessEvent.from_row(
        (event_id, event_type, timestamp, "", "", outcome, attempt, None, "", "", "", "", "", "",
         "", trace_id, span_id, refs)
    )  # fmt: skip


@dataclass(frozen=True)
class EventCursor:
    """Where a page of an object's events ends: the sort key of its last attempt (time, attempt,
    trace, span, event id), spelt as an opaque URL-safe token."""

    time_ns: int
    attempt: int
    trace_id: str
    span_id: str
    event_id: str

    def text(self) -> str:
        return token_text([self.time_ns, self.attempt, self.trace_id, self.span_id, self.event_id])

    @classmethod
    def parse(cls, text: str) -> EventCursor:
        """The cursor a previous page gave; ``ValueError`` naming the value when it is not one."""
        fields = token_fields(text, (int, int, str, str, str))
        if fields is None:
            raise ValueError(
                f"cursor {text[:80]!r} is not one this API gave: pass the X-Next-Cursor header "
                "of the previous page as it came"
            )
        return cls(*fields)


_BEFORE_ALL = EventCursor(-(1 << 63), 0, "", "", "")


def events_of_object(
    client: Client,
    *,
    object_type: str,
    object_id: str,
    limit: int,
    after: EventCursor | None = None,
) -> tuple[list[BusinessEvent], EventCursor | None]:
    """At most ``limit`` attempts of the business events that reference the object, oldest first,
    from just after ``after``; and the cursor of the next page, None when this one is the last."""
    after = after or _BEFORE_ALL
    rows = client.query(
        EVENTS_OF_OBJECT,
        parameters={
            "object_type": object_type,
            "object_id": object_id,
            "after_time_ns": after.time_ns,
            "after_attempt": after.attempt,
            "after_trace_id": after.trace_id,
            "after_span_id": after.span_id,
            "after_event_id": after.event_id,
            "limit": limit + 1,
        },
    ).result_rows
    events = [BusinessEvent.from_row(row[:-1]) for row in rows[:limit]]
    if len(rows) <= limit:
        return events, None
    last, event = rows[limit - 1], events[-1]
    return events, EventCursor(
        int(last[-1]), event.attempt, event.trace_id, event.span_id, event.event_id
    )


WINDOW_END = """
SELECT IngestedAt FROM biz_events
WHERE IngestedAt > {since:DateTime64(3, 'UTC')} AND IngestedAt <= {until:DateTime64(3, 'UTC')}
ORDER BY IngestedAt
LIMIT 1 OFFSET {rows:UInt64}
"""


def window_cut(client: Client, since: datetime, until: datetime, rows: int) -> datetime | None:
    """Where a knowledge-time window from ``since`` holding about ``rows`` event rows ends: just
    before the event row after the first ``rows`` (rows stored in one millisecond stay together),
    or at it when nothing lies between; None when ``(since, until]`` holds no more than ``rows``.
    The evaluator's tick bounds its window by it, and the evidence spans' copy theirs."""
    found = client.query(
        WINDOW_END, parameters={"since": since, "until": until, "rows": rows}
    ).result_rows
    if not found:
        return None
    end = utc(found[0][0])
    before = end - timedelta(milliseconds=1)
    return before if before > since else end
