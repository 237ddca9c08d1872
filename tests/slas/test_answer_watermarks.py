"""Answers take the watermarks another answer read within ``ANSWER_WATERMARKS_SECONDS``
(``BusinessState.known_at``, ``known_at_recorded``); this process's writes of the schema state
(its ticks, a reset, a migration) drop them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from domain import semconv as sc
from slas import item_versions, timer_changes
from slas.business_state import WATERMARK_KEY, BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from tests.service import table_away
from tests.slas.events import at, event, span_rows
from tests.slas.tiny_quarter import SETTLE
from warehouse.schema import SCHEMA_STATE
from warehouse.spans import OTEL_TRACES_COLUMNS


class _StateReads:
    """A client that counts its reads of the schema state."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.reads = 0

    def query(self, statement: str, *args: Any, **kwargs: Any) -> Any:
        if f"FROM {SCHEMA_STATE}" in statement:
            self.reads += 1
        return self._client.query(statement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _keeper(client: Any, seconds: float) -> BusinessState:
    return BusinessState(
        lambda: client,
        DEFAULT_SLAS,
        CalendarBook(),
        settle=SETTLE,
        answer_watermarks_seconds=seconds,
    )


def _stored(client: Client, event_id: str) -> None:
    spans = span_rows([event(sc.TIME_APPROVED, event_id, {sc.PROJECT: "PRJ-1"}, at(0))])
    client.insert("otel_traces", spans, column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.002)


def test_answers_within_the_window_share_one_reading(migrated: Client) -> None:
    """Answers in a row read the watermarks once, recorders' included; a recorder not yet asked
    is read (with the others) when first asked."""
    counting = _StateReads(migrated)
    state = _keeper(counting, 60)
    _stored(migrated, "TE-1")
    state.tick(datetime.now(UTC))
    counting.reads = 0

    first = state.known_at(None)
    assert state.known_at(None) == first
    assert state.items_known_at(None) == (first, True)
    assert state.items_known_at(None) == (first, True)
    assert counting.reads == 2  # the keeper's; then the item recorder's with it
    state.known_at_recorded(None, timer_changes.CHANGES_WATERMARK_KEY)
    state.known_at_recorded(None, item_versions.WATERMARK_KEY)
    assert counting.reads == 3


def test_this_process_tick_is_seen_at_once(migrated: Client) -> None:
    """After its own tick an answer describes the new watermark, whatever was read before."""
    state = _keeper(migrated, 60)
    _stored(migrated, "TE-1")
    state.tick(datetime.now(UTC))
    before = state.known_at(None)
    _stored(migrated, "TE-2")
    state.tick(datetime.now(UTC))
    assert state.known_at(None) == state.watermark() > before


def test_another_process_tick_is_seen_after_the_window(migrated: Client) -> None:
    """A watermark another process wrote (an insert this process did not make) is seen once the
    window has passed, not before: the earlier known_at is what the answers meanwhile say they
    describe."""
    state = _keeper(migrated, 0.5)
    _stored(migrated, "TE-1")
    state.tick(datetime.now(UTC))
    before = state.known_at(None)
    later = before + timedelta(seconds=1)
    migrated.insert(
        SCHEMA_STATE,
        [[WATERMARK_KEY, later.isoformat(), datetime.now(UTC)]],
        column_names=["Key", "Value", "UpdatedAt"],
    )
    assert state.watermark() == later
    assert state.known_at(None) == before
    time.sleep(0.6)
    assert state.known_at(None) == later


def test_a_write_of_this_process_is_seen_at_once(migrated: Client) -> None:
    """Any schema-state write of this process drops the reading: a recorder reset (as a
    migration's) leaves the next answer reading the versions, not the emptied changes."""
    state = _keeper(migrated, 60)
    _stored(migrated, "TE-1")
    state.tick(datetime.now(UTC))
    assert state.known_at_recorded(None, timer_changes.CHANGES_WATERMARK_KEY)[1]
    timer_changes.reset(migrated, at=datetime.now(UTC))
    assert not state.known_at_recorded(None, timer_changes.CHANGES_WATERMARK_KEY)[1]


def test_a_failed_read_is_not_kept_and_the_next_reads_again(migrated: Client) -> None:
    """With the schema state unreadable, an answer past the window fails with the engine's error
    (no earlier reading stands in for ever, none is kept from the failure), and once it is back
    the next answer reads it."""
    state = _keeper(migrated, 0.3)
    _stored(migrated, "TE-1")
    state.tick(datetime.now(UTC))
    before = state.known_at(None)
    with table_away(migrated, SCHEMA_STATE):
        assert state.known_at(None) == before  # within the window: the reading stands
        time.sleep(0.4)
        with pytest.raises(DatabaseError, match=SCHEMA_STATE):
            state.known_at(None)
        with pytest.raises(DatabaseError, match=SCHEMA_STATE):
            state.known_at(None)
    assert state.known_at(None) == state.watermark() == before
