"""The alerting's read of the timers whose alerting can have changed (``slas.timer_answers.CHANGED``)
on the real engine: the same timers as the one condition it replaced, and only the granules of
timers with an instant after the last read (migration 31's index), not every version stored."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from slas.timer_answers import CHANGED, NEXT_CHANGE, TIMERS_AHEAD
from warehouse.schema import TIMER_INSTANTS

OLD_TIMERS = 30_000
"""Timers whose every instant passed in January: several granules of the default 8,192 rows."""

ONE_CONDITION = f"""
SELECT DISTINCT KeyType, KeyId, Sla, StartEventId
FROM sla_timers
WHERE KnownAt <= {{known_at:DateTime64(3, 'UTC')}} AND Sla IN {{slas:Array(String)}}
  AND (KnownAt > {{known_since:DateTime64(3, 'UTC')}}
       OR arrayExists(t -> t > {{at_since:DateTime64(6, 'UTC')}}
                           AND t <= {{as_of:DateTime64(6, 'UTC')}}, {TIMER_INSTANTS}))
"""
"""The read before migration 31: the timers of a version stored since, or of an instant passed."""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def store_timers(client: Client) -> None:
    """Old timers, all decided in January and stored on 2 January; five open ones started in
    June, stored on 1 June, one stored again on 20 June."""
    client.command(
        f"""INSERT INTO sla_timers (KeyType, KeyId, Sla, StartEventId, KnownAt, StartedAt,
            Deadline, WarningShares, WarningAt, StoppedAt)
        SELECT 'contract', concat('CTR-', leftPad(toString(number), 6, '0')), 'time_to_x',
            concat('signed:', toString(number)), toDateTime64('2026-01-02 00:00:00', 3, 'UTC'),
            toDateTime64('2026-01-01 00:00:00', 6, 'UTC') + number,
            toDateTime64('2026-01-05 00:00:00', 6, 'UTC') + number, [0.5],
            [toDateTime64('2026-01-03 00:00:00', 6, 'UTC') + number],
            if(number % 2 = 0, toDateTime64('2026-01-04 00:00:00', 6, 'UTC') + number, NULL)
        FROM numbers({OLD_TIMERS})"""
    )
    client.command(
        """INSERT INTO sla_timers (KeyType, KeyId, Sla, StartEventId, KnownAt, StartedAt,
            Deadline, WarningShares, WarningAt)
        SELECT 'contract', concat('CTR-9', toString(number)), 'time_to_x',
            concat('signed:9', toString(number)),
            if(number = 4, toDateTime64('2026-06-20 00:00:00', 3, 'UTC'),
               toDateTime64('2026-06-01 00:00:00', 3, 'UTC')),
            toDateTime64('2026-06-01 00:00:00', 6, 'UTC') + toIntervalDay(number),
            toDateTime64('2026-06-10 00:00:00', 6, 'UTC') + toIntervalDay(number), [0.5, 0.75],
            [toDateTime64('2026-06-05 00:00:00', 6, 'UTC') + toIntervalDay(number),
             toDateTime64('2026-06-07 00:00:00', 6, 'UTC') + toIntervalDay(number)]
        FROM numbers(5)"""
    )
    client.command("OPTIMIZE TABLE sla_timers FINAL")


def ask(at_since: str, as_of: str, known_since: str) -> dict[str, object]:
    return {
        "known_at": at("2026-12-31T00:00:00"),
        "slas": ["time_to_x"],
        "known_since": at(known_since),
        "at_since": at(at_since),
        "as_of": at(as_of),
    }


@pytest.mark.parametrize(
    ("at_since", "as_of", "known_since", "expected"),
    [
        # June: the open timers' first warnings, and one's second share (started 2 June)
        ("2026-06-06T00:00:00", "2026-06-08T00:00:00", "2026-06-25T00:00:00", 4),
        # a version stored since counts whatever its instants
        ("2026-11-01T00:00:00", "2026-11-02T00:00:00", "2026-06-10T00:00:00", 1),
        # January: the old timers' warnings of the hour after midnight (one a second)
        ("2026-01-03T00:00:00", "2026-01-03T01:00:00", "2026-06-25T00:00:00", 3_600),
        ("2026-11-01T00:00:00", "2026-11-02T00:00:00", "2026-06-25T00:00:00", 0),
    ],
)
def test_the_same_timers_as_the_one_condition(
    migrated: Client, at_since: str, as_of: str, known_since: str, expected: int
) -> None:
    store_timers(migrated)
    parameters = ask(at_since, as_of, known_since)
    found = sorted(tuple(r) for r in migrated.query(CHANGED, parameters=parameters).result_rows)
    oracle = ONE_CONDITION
    assert found == sorted(
        tuple(r) for r in migrated.query(oracle, parameters=parameters).result_rows
    )
    assert len(found) == expected


def test_timers_whose_instants_all_passed_are_not_read(migrated: Client) -> None:
    """Asked just after the open timers' instants, the read skips every granule of the old
    timers by the last instant's index: it reads fewer granules than the table holds."""
    store_timers(migrated)
    parameters = ask("2026-06-06T00:00:00", "2026-06-08T00:00:00", "2026-06-25T00:00:00")
    plan = "\n".join(
        str(row[0])
        for row in migrated.query(
            f"EXPLAIN indexes = 1 {CHANGED}", parameters=parameters
        ).result_rows
    )
    skipped = re.search(r"Name: idx_last_instant.*?Granules: (\d+)/(\d+)", plan, re.DOTALL)
    assert skipped is not None, plan
    selected, total = map(int, skipped.groups())
    assert total >= OLD_TIMERS // 8192
    assert selected <= 1, plan


def store_moved_deadline(client: Client) -> None:
    """A timer whose deadline moved earlier in its second version (stored 20 June) and which
    stopped then: its first version's instants reach 30 June, its latest's end on 12 June."""
    client.command(
        """INSERT INTO sla_timers (KeyType, KeyId, Sla, StartEventId, KnownAt, StartedAt,
            Deadline, WarningShares, WarningAt, StoppedAt) VALUES
        ('contract', 'CTR-MOVED', 'time_to_x', 'signed:moved', '2026-06-01 00:00:00',
         '2026-06-01 00:00:00', '2026-06-30 00:00:00', [0.5], ['2026-06-15 00:00:00'], NULL),
        ('contract', 'CTR-MOVED', 'time_to_x', 'signed:moved', '2026-06-20 00:00:00',
         '2026-06-01 00:00:00', '2026-06-12 00:00:00', [0.5], ['2026-06-06 00:00:00'],
         '2026-06-11 00:00:00')"""
    )


def next_change_by_hand(client: Client, as_of: datetime, known_at: datetime) -> datetime | None:
    """Every timer's latest version known at ``known_at``, those open at ``as_of`` with their
    deadline after it, and the first of their instants after it: in Python over every row."""
    rows = client.query(
        f"""SELECT KeyType, KeyId, Sla, StartEventId, KnownAt, Deleted, StoppedAt, Deadline,
            {TIMER_INSTANTS} FROM sla_timers WHERE KnownAt <= {{known_at:DateTime64(3, 'UTC')}}""",
        parameters={"known_at": known_at},
    ).result_rows
    latest: dict[tuple[str, ...], Sequence[Any]] = {}
    for row in rows:
        key = tuple(str(part) for part in row[:4])
        if key not in latest or row[4] > latest[key][4]:
            latest[key] = row
    naive = as_of.replace(tzinfo=None)
    ahead = [
        instant
        for _, _, _, _, _, deleted, stopped, deadline, instants in latest.values()
        if not deleted and (stopped is None or stopped > naive) and deadline > naive
        for instant in instants
        if instant > naive
    ]
    return min(ahead).replace(tzinfo=UTC) if ahead else None


@pytest.mark.parametrize(
    "as_of",
    [
        "2026-01-02T12:00:00",  # the old timers open: their first warning next
        "2026-01-03T00:00:30",
        "2026-06-08T00:00:00",  # the open timers' instants ahead
        "2026-06-13T00:00:00",  # the moved timer's first version still ahead, its latest not
        "2026-06-14T12:00:00",
        "2026-12-01T00:00:00",  # nothing ahead
    ],
)
def test_the_next_change_is_the_first_instant_ahead_of_the_latest_versions(
    migrated: Client, as_of: str
) -> None:
    """``NEXT_CHANGE`` (the read of the timers with an instant ahead only) gives what every
    timer's latest version gives, also for a timer whose earlier version had instants ahead
    that its latest has not."""
    store_timers(migrated)
    store_moved_deadline(migrated)
    known_at = at("2026-12-31T00:00:00")
    parameters = {**ask(as_of, as_of, as_of), "known_at": known_at, "open_only": 0}
    found = migrated.query(NEXT_CHANGE, parameters=parameters).result_rows[0][0]
    expected = next_change_by_hand(migrated, at(as_of), known_at)
    assert (found.replace(tzinfo=UTC) if found is not None else None) == expected
    if as_of == "2026-06-13T00:00:00":
        assert expected == at("2026-06-14T00:00:00")  # the open timers, not the moved one's


def plan_of(client: Client, statement: str, parameters: dict[str, Any]) -> str:
    rows = client.query(f"EXPLAIN indexes = 1 {statement}", parameters=parameters).result_rows
    return "\n".join(str(row[0]) for row in rows)


def test_the_next_change_skips_timers_whose_instants_all_passed(migrated: Client) -> None:
    """Asked in June, ``NEXT_CHANGE`` names the timers with an instant ahead through the last
    instant's index (the old timers' granules skipped), and reads the versions of those alone
    (15,000 of the old timers never stopped: every timer still open was read before)."""
    store_timers(migrated)
    parameters = {
        **ask("2026-06-08T00:00:00", "2026-06-08T00:00:00", "2026-06-08T00:00:00"),
        "open_only": 0,
    }
    ahead = plan_of(migrated, TIMERS_AHEAD, parameters)
    skipped = re.search(r"Name: idx_last_instant.*?Granules: (\d+)/(\d+)", ahead, re.DOTALL)
    assert skipped is not None, ahead
    selected, total = map(int, skipped.groups())
    assert total >= OLD_TIMERS // 8192
    assert selected <= 1, ahead
    versions = plan_of(migrated, NEXT_CHANGE, parameters)
    read = re.search(
        r"PrimaryKey.*?in (\d+)-element set.*?Granules: (\d+)/(\d+)", versions, re.DOTALL
    )
    assert read is not None, versions
    timers, selected, total = map(int, read.groups())
    assert timers == 5, versions
    assert total >= OLD_TIMERS // 8192
    assert selected <= 1, versions
