"""Shared read queries over the business tables; every read de-duplicates with ``FINAL``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

EVENT_COLUMNS = """EventId, EventType, EventTime, SourceSystem, TargetSystem, Outcome, Attempt,
    Amount, Currency, Period, LegalEntity, ErrorCategory, ErrorCode, ReplayOf, ServiceName,
    TraceId, SpanId, ObjectRefs"""

OUTLINE_COLUMNS = "EventId, EventType, EventTime, Outcome, Attempt, TraceId, SpanId, ObjectRefs"
"""What a traversal needs of an attempt (``biz_event_objects`` carries it, migration 4)."""

EVENTS_OF_OBJECT = f"""
SELECT {EVENT_COLUMNS}
FROM biz_events FINAL
WHERE EventId IN (
    SELECT EventId FROM biz_event_objects FINAL
    WHERE ObjectType = {{object_type:String}} AND ObjectId = {{object_id:String}}
)
ORDER BY EventTime, Attempt, SpanId
"""


@dataclass(frozen=True)
class BusinessEvent:
    """One attempt (span) of a business event, as stored in ``biz_events``."""

    event_id: str
    event_type: str
    timestamp: datetime
    source_system: str
    target_system: str
    outcome: str
    attempt: int
    amount: Decimal | None
    currency: str
    period: str
    legal_entity: str
    error_category: str
    error_code: str
    replay_of: str
    service_name: str
    trace_id: str
    span_id: str
    objects: dict[str, list[str]]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> BusinessEvent:
        *facts, refs = row
        objects: dict[str, list[str]] = {}
        for ref in refs:  # named tuples arrive as {"type": …, "id": …}
            objects.setdefault(ref["type"], []).append(ref["id"])
        return cls(**dict(zip(_FACT_NAMES, facts, strict=True)), objects=objects)


_FACT_NAMES = tuple(f.name for f in fields(BusinessEvent))[:-1]
"""The fields a row carries before its object references, in column order."""


def outline_from_row(row: Sequence[Any]) -> BusinessEvent:
    """An attempt from an ``OUTLINE_COLUMNS`` row: identity, time, outcome and objects; its other
    facts are empty until the attempt is read in full by id."""
    event_id, event_type, timestamp, outcome, attempt, trace_id, span_id, refs = row
    return BusinessEvent.from_row(
        (event_id, event_type, timestamp, "", "", outcome, attempt, None, "", "", "", "", "", "",
         "", trace_id, span_id, refs)
    )  # fmt: skip


def events_of_object(client: Client, *, object_type: str, object_id: str) -> list[BusinessEvent]:
    """Every attempt of every business event that references the object, oldest first."""
    rows = client.query(
        EVENTS_OF_OBJECT, parameters={"object_type": object_type, "object_id": object_id}
    ).result_rows
    return [BusinessEvent.from_row(row) for row in rows]
