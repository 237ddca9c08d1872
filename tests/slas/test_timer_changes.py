"""SLA answers from ``sla_timer_changes`` on the real engine, against the answers that sort every
version (``TimerAnswers(from_changes=False)``, the SQL the answers had before: the oracle), at many
instants and knowledge times of a quarter streamed in tick by tick, with spans arriving late and
the timers re-derived twice (every warning instant moved, one SLA dropped)."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from slas import timer_changes
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from slas.timer_answers import TimerAnswers
from slas.timers import STATES
from tests.slas.tiny_quarter import END, SETTLE, tick
from tests.slas.tiny_quarter import stream_with_late_arrivals as streamed_late

START = END - timedelta(days=100)

_IDENTITY = ", ".join(c for c in timer_changes.CHANGE_COLUMNS if c != "Delta")
ROWS = f"""
SELECT {_IDENTITY}, sum(Delta) AS net FROM sla_timer_changes GROUP BY {_IDENTITY} HAVING net != 0
"""
"""The rows net of any taken back."""


def changes(client: Client) -> list[tuple[object, ...]]:
    return sorted((tuple(r) for r in client.query(ROWS).result_rows), key=repr)


def stream_with_late_arrivals(
    client: Client, engine_url: str, seed: int
) -> tuple[list[datetime], BusinessState]:
    """A tiny quarter in inserts of 80 spans, ticking after each, a tenth of the spans (chosen at
    random) held back and sent at the end: stops and retries that arrive late. Then a
    re-derivation with every warning share moved, and one with the first SLA dropped (its timers
    deleted). The watermark after every tick, in order, and the keeper as configured last."""
    watermarks, keeper = streamed_late(client, engine_url, seed=seed)
    moved = [replace(d, warning_thresholds=(0.3, 0.9)) for d in DEFAULT_SLAS]
    for definitions in (moved, moved[1:]):
        keeper = BusinessState(lambda: client, definitions, CalendarBook(), settle=SETTLE)
        rederived = tick(keeper)
        assert rederived.versions > 10
        watermarks.append(rederived.until)
    return watermarks, keeper


class TestAnswersFromChanges:
    def test_every_answer_is_the_one_sorting_every_version_gives(
        self, migrated: Client, engine_url: str
    ) -> None:
        """Summaries, trends and timer lists (every SLA and state, by entity, short and long)
        from the signed rows equal the version-sorting answers at 60 random (as_of, known_at),
        known_at before, between and after late arrivals and re-derivations."""
        watermarks, keeper = stream_with_late_arrivals(migrated, engine_url, seed=3)
        new = TimerAnswers(lambda: migrated, DEFAULT_SLAS, CalendarBook(), keeper)
        oracle = TimerAnswers(
            lambda: migrated, DEFAULT_SLAS, CalendarBook(), keeper, from_changes=False
        )
        assert new._known(None)[1]  # the changes are current: the new path answers
        rng = random.Random(5)
        entities = sorted(
            str(r[0])
            for r in migrated.query("SELECT DISTINCT LegalEntity FROM sla_timers").result_rows
        )
        seen_states: set[str] = set()
        for _ in range(60):
            as_of = START + timedelta(seconds=rng.uniform(0, (END - START).total_seconds() + 9e5))
            known = rng.choice(
                [None, rng.choice(watermarks), rng.choice(watermarks) - timedelta(milliseconds=1)]
            )
            summaries = new.summaries(as_of, known)
            assert summaries == oracle.summaries(as_of, known), (as_of, known)
            seen_states |= {s for x in summaries.summaries for s, n in x.counts.items() if n}
            instants = [as_of - timedelta(weeks=w) for w in range(6, -2, -1)]
            assert new.trend(as_of, known, instants) == oracle.trend(as_of, known, instants)
            definition = rng.choice(DEFAULT_SLAS)
            state = rng.choice([None, *STATES])
            entity = rng.choice([None, None, *entities])
            limit = rng.choice([5, 10_000])
            listed = new.timers(
                definition, as_of, known, state=state, legal_entity=entity, limit=limit
            )
            assert listed == oracle.timers(
                definition, as_of, known, state=state, legal_entity=entity, limit=limit
            ), (definition.name, as_of, known, state, entity, limit)
        assert seen_states == set(STATES)

    def test_recording_from_scratch_writes_the_rows_ticks_wrote(
        self, migrated: Client, engine_url: str
    ) -> None:
        """The rows recorded tick by tick are exactly the rows recorded once from every version."""
        watermarks, _ = stream_with_late_arrivals(migrated, engine_url, seed=4)
        incremental = changes(migrated)
        timer_changes.reset(migrated, at=datetime.now(UTC))
        assert changes(migrated) == []
        timer_changes.record(migrated, watermarks[-1], at=datetime.now(UTC))
        assert len(incremental) > 1000
        assert changes(migrated) == incremental

    def test_a_record_that_died_before_its_watermark_is_written_once(
        self, migrated: Client, engine_url: str
    ) -> None:
        """Rows written by a record whose watermark never moved are dropped and written again,
        not counted twice."""
        watermarks, _ = stream_with_late_arrivals(migrated, engine_url, seed=6)
        recorded = changes(migrated)
        before_last = watermarks[-2]
        timer_changes.record(migrated, watermarks[-1], at=datetime.now(UTC))  # nothing new
        # the watermark as if the last tick's record died after its insert
        time.sleep(0.002)
        migrated.insert(
            "syncsight_schema_state",
            [[timer_changes.CHANGES_WATERMARK_KEY, before_last.isoformat(), datetime.now(UTC)]],
            column_names=["Key", "Value", "UpdatedAt"],
        )
        assert timer_changes.changes_watermark(migrated) == before_last
        timer_changes.record(migrated, watermarks[-1], at=datetime.now(UTC))
        assert changes(migrated) == recorded
        assert timer_changes.changes_watermark(migrated) == watermarks[-1]

    def test_answers_wait_for_the_changes_after_a_migration(
        self, migrated: Client, engine_url: str
    ) -> None:
        """Versions stored before the changes existed (their watermark behind the keeper's) are
        answered by sorting the versions until the next tick records them."""
        _, keeper = stream_with_late_arrivals(migrated, engine_url, seed=8)
        answers = TimerAnswers(lambda: migrated, DEFAULT_SLAS, CalendarBook(), keeper)
        expected = answers.summaries(END, None)
        timer_changes.reset(migrated, at=datetime.now(UTC))
        assert not answers._known(None)[1]
        assert answers.summaries(END, None) == expected
        tick(keeper)
        assert answers._known(None)[1]
        assert answers.summaries(END, None).summaries == expected.summaries
