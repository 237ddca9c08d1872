"""The business event: one attempt (span) of a ``biz.event.id``, as the business tables store it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any


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
        """An attempt from its facts in field order, then its object references (named tuples
        ``{"type": …, "id": …}``): the row ``warehouse.queries.EVENT_COLUMNS`` selects."""
        *facts, refs = row
        objects: dict[str, list[str]] = {}
        for ref in refs:
            objects.setdefault(ref["type"], []).append(ref["id"])
        return cls(**dict(zip(_FACT_NAMES, facts, strict=True)), objects=objects)


_FACT_NAMES = tuple(f.name for f in fields(BusinessEvent))[:-1]
"""The fields a row carries before its object references, in column order."""
