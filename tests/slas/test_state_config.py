"""A changed configuration re-derives the business state, except a calendar of a legal entity no
state row belongs to yet (a new subsidiary's, set before its traffic), which changes nothing
(``slas.state_config``); on the tiny quarter, against a derivation from scratch."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from domain.instants import EPOCH
from slas import timer_changes
from slas.business_state import BusinessState
from slas.calendars import CalendarBook, EntityCalendar
from slas.definitions import DEFAULT_SLAS
from slas.state_config import CALENDARS_KEY, CONFIG_KEY, moved_entities
from tests.slas.test_business_state import current, current_items
from tests.slas.tiny_quarter import SETTLE, Streamed
from warehouse.schema_state import read_state

EARLY_HOURS = EntityCalendar(working_hours=(6.0, 14.0))


def keeper(client: Client, calendars: CalendarBook) -> BusinessState:
    return BusinessState(lambda: client, DEFAULT_SLAS, calendars, settle=SETTLE)


def stored_fingerprint(client: Client) -> str:
    return read_state(client, CONFIG_KEY)[CONFIG_KEY][0]


class TestCalendarChanges:
    def test_a_calendar_of_an_entity_without_state_re_derives_nothing(
        self, streamed_quarter: Streamed
    ) -> None:
        """A calendar for LE-NEW (no timer, item or event of it): the tick reads no component and
        writes no version, and the state keeps the new configuration's fingerprint; removing the
        calendar again is the same. Before, every timer was re-derived from the epoch."""
        client, before = streamed_quarter.client, streamed_quarter.keeper
        timers, items = current(client), current_items(client)
        watermark = before.watermark()
        added = keeper(client, CalendarBook({"LE-NEW": EARLY_HOURS}))
        report = added.tick(datetime.now(UTC))
        assert report.since == watermark
        assert (report.touched, report.versions, report.path) == (0, 0, "")
        assert stored_fingerprint(client) == added._fingerprint != before._fingerprint
        removed = before.tick(datetime.now(UTC))
        assert removed.since == report.until
        assert (removed.touched, removed.versions) == (0, 0)
        assert stored_fingerprint(client) == before._fingerprint
        assert (current(client), current_items(client)) == (timers, items)

    def test_a_calendar_of_an_entity_with_state_re_derives_every_timer(
        self, streamed_quarter: Streamed
    ) -> None:
        """A calendar for an entity that has timers: every timer re-derived from the epoch, and
        the rows are those a derivation from scratch under that calendar writes."""
        client = streamed_quarter.client
        (entity,) = client.query(
            "SELECT LegalEntity FROM sla_timers WHERE LegalEntity != '' "
            "GROUP BY LegalEntity ORDER BY count() DESC LIMIT 1"
        ).result_rows[0]
        calendars = CalendarBook({str(entity): EARLY_HOURS})
        changed = keeper(client, calendars)
        report = changed.tick(datetime.now(UTC))
        assert report.since == EPOCH
        assert report.versions > 0
        timers, items = current(client), current_items(client)
        client.command("TRUNCATE TABLE sla_timers")
        client.command("TRUNCATE TABLE close_items")
        timer_changes.reset(client, at=datetime.now(UTC))
        scratch = keeper(client, calendars)
        scratch.reset(datetime.now(UTC))
        scratch.tick(datetime.now(UTC))
        assert (current(client), current_items(client)) == (timers, items)

    def test_state_derived_before_the_record_was_kept_re_derives_once(
        self, streamed_quarter: Streamed
    ) -> None:
        """No calendars record stored (state derived by an earlier version): a changed
        configuration re-derives everything, and the record is kept from then on."""
        client = streamed_quarter.client
        client.command(
            "ALTER TABLE syncsight_schema_state DELETE WHERE Key = {key:String}",
            parameters={"key": CALENDARS_KEY},
            settings={"mutations_sync": 2},
        )
        added = keeper(client, CalendarBook({"LE-NEW": EARLY_HOURS}))
        assert added.tick(datetime.now(UTC)).since == EPOCH
        assert CALENDARS_KEY in read_state(client, CALENDARS_KEY)


class TestMovedEntities:
    RECORD = json.dumps({"config": "c1", "shared": "s1", "entities": {"LE-A": "a1", "LE-B": "b1"}})

    def test_the_entities_added_removed_or_changed(self) -> None:
        now = json.dumps({"config": "c2", "shared": "s1", "entities": {"LE-A": "a2", "LE-C": "c1"}})
        assert moved_entities(self.RECORD, "c1", now) == {"LE-A", "LE-B", "LE-C"}

    def test_anything_else_changed_or_unknown_is_none(self) -> None:
        """Another definition, rule or default calendar; no entity calendar changed (the
        fingerprint moved for a reason the record does not hold); a record of another
        fingerprint than the stored one; no record; a record not ours."""
        other = json.dumps(
            {"config": "c2", "shared": "s2", "entities": {"LE-A": "a1", "LE-B": "b1"}}
        )
        assert moved_entities(self.RECORD, "c1", other) is None
        assert moved_entities(self.RECORD, "c1", self.RECORD) is None
        assert moved_entities(self.RECORD, "before migration 20", other) is None
        assert moved_entities(None, "c1", self.RECORD) is None
        assert moved_entities("not json", "c1", self.RECORD) is None
        assert moved_entities("[1, 2]", "c1", self.RECORD) is None
