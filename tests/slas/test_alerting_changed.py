"""The alerting's read of the timers whose alerting can have changed (``slas.timer_answers.CHANGED``)
on the real engine: the same timers as the one condition it replaced, and only the granules of
timers with an instant after the last read (migration 31's index), not every version stored."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.client import Client

from slas.timer_answers import CHANGED
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
