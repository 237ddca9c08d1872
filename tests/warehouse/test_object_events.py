"""Paging an object's events: every attempt once, whatever the attempts have in common."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from tests.warehouse.spans import span_row
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.queries import EventCursor, events_of_object
from warehouse.spans import OTEL_TRACES_COLUMNS


def invoice_posted(event_id: str) -> dict[str, str]:
    return {
        sc.EVENT_TYPE: sc.INVOICE_POSTED,
        sc.EVENT_ID: event_id,
        sc.object_id_key(sc.INVOICE): f"INV-{event_id}",
        sc.object_id_key(sc.LEGAL_ENTITY): "LE-PAGED",
    }


@pytest.fixture
def migrated(client: Client) -> Client:
    migrate(client, CorrelationRules.from_mapping({}))
    return client


def all_pages(client: Client, limit: int) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    after: EventCursor | None = None
    while True:
        events, after = events_of_object(
            client, object_type=sc.LEGAL_ENTITY, object_id="LE-PAGED", limit=limit, after=after
        )
        seen += [event.event_id for event in events]
        pages += 1
        if after is None:
            return seen, pages
        after = EventCursor.parse(after.text())  # as a client passes it back


def test_attempts_sharing_time_attempt_and_span_id_are_each_read_once(migrated: Client) -> None:
    """Spans of different traces may carry the same span id and start time (ids are random per
    trace, clocks coarse): a cursor on (time, attempt, span) alone skipped all but the first."""
    rows = [
        span_row(
            invoice_posted(f"EV-{number}"), trace_id=f"{number:032x}", span_id="00f067aa0ba902b7"
        )
        for number in range(1, 6)
    ]
    migrated.insert("otel_traces", rows, column_names=OTEL_TRACES_COLUMNS)
    seen, pages = all_pages(migrated, limit=2)
    assert sorted(seen) == [f"EV-{number}" for number in range(1, 6)]
    assert len(seen) == 5
    assert pages == 3


def test_a_cursor_this_api_did_not_give_is_refused_by_name() -> None:
    for text in ("1-2-abc", "not base64!", EventCursor(1, 1, "t", "s", "e").text()[:-3] + "AAA"):
        with pytest.raises(ValueError, match="is not one this API gave"):
            EventCursor.parse(text)
