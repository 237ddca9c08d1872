"""SLA answers from ``sla_timer_changes`` on the real engine, against the answers that sort every
version (``TimerAnswers(from_changes=False)``, the SQL the answers had before: the oracle), at many
instants and knowledge times of a quarter streamed in tick by tick, with spans arriving late and
the timers re-derived twice (every warning instant moved, one SLA dropped)."""

from __future__ import annotations

import math
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from domain.instants import EPOCH
from slas import timer_changes
from slas.business_state import WATERMARK_KEY, BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from slas.timer_answers import TimerAnswers
from slas.timer_changes import URGENCY
from slas.timers import MET, STATES
from tests.slas.tiny_quarter import END, SETTLE, late_arrivals_copy, tick
from tests.templates import Templates
from tests.warehouse.test_migrations import forget_migration
from warehouse.correlation_rules import CorrelationRules
from warehouse.key_ranges import key_ranges
from warehouse.migrations import migrate
from warehouse.schema import (
    BUCKET_SUMS,
    ELAPSED_BUCKET_SECONDS,
    STATE_SUMS,
    Topology,
    timer_change_reads_ddl,
    timer_changes_ddl,
)
from warehouse.schema_state import write_state

pytestmark = pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)

START = END - timedelta(days=100)

_IDENTITY = ", ".join(c for c in timer_changes.CHANGE_COLUMNS if c != "Delta")
ROWS = f"""
SELECT {_IDENTITY}, sum(Delta) AS net FROM sla_timer_changes GROUP BY {_IDENTITY} HAVING net != 0
"""
"""The rows net of any taken back."""


def changes(client: Client) -> list[tuple[object, ...]]:
    return sorted((tuple(r) for r in client.query(ROWS).result_rows), key=repr)


def _rederive(client: Client, keeper: BusinessState, watermarks: list[datetime]) -> BusinessState:
    """A re-derivation with every warning share moved, then one with the first SLA dropped (its
    timers deleted): the keeper as configured last."""
    moved = [replace(d, warning_thresholds=(0.3, 0.9)) for d in DEFAULT_SLAS]
    for definitions in (moved, moved[1:]):
        keeper = BusinessState(lambda: client, definitions, CalendarBook(), settle=SETTLE)
        rederived = tick(keeper)
        assert rederived.versions > 10
        watermarks.append(rederived.until)
    return keeper


def stream_with_late_arrivals(
    client: Client, engine_url: str, templates: Templates
) -> tuple[list[datetime], BusinessState]:
    """A tiny quarter in inserts of 80 spans, ticking after each, a tenth of the spans (chosen at
    random) held back and sent at the end: stops and retries that arrive late. Then a
    re-derivation with every warning share moved, and one with the first SLA dropped (its timers
    deleted). The watermark after every tick, in order, and the keeper as configured last. Built
    once per process (``late_arrivals_copy``), copied into ``client``'s database."""
    return late_arrivals_copy(templates, engine_url, client, seed=3, then=("rederived", _rederive))


class TestAnswersFromChanges:
    def test_every_answer_is_the_one_sorting_every_version_gives(
        self, client: Client, engine_url: str, templates: Templates
    ) -> None:
        """Summaries, trends and timer lists (every SLA and state, by entity, short and long)
        from the signed rows equal the version-sorting answers at 60 random (as_of, known_at),
        known_at before, between and after late arrivals and re-derivations."""
        watermarks, keeper = stream_with_late_arrivals(client, engine_url, templates)
        migrated = client
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
        self, client: Client, engine_url: str, templates: Templates
    ) -> None:
        """The rows recorded tick by tick are exactly the rows recorded once from every version,
        in one statement or in many slices of the timers' keys, and so are the stopped pieces'
        state and bucket sums."""
        watermarks, _ = stream_with_late_arrivals(client, engine_url, templates)
        migrated = client
        incremental = changes(migrated)
        buckets = [net_sums(migrated, t) for t in SUMS]
        timer_changes.reset(migrated, at=datetime.now(UTC))
        assert changes(migrated) == []
        assert [net_sums(migrated, t) for t in SUMS] == [[], []]
        timer_changes.record(migrated, watermarks[-1], at=datetime.now(UTC))
        assert len(incremental) > 1000
        assert changes(migrated) == incremental
        assert [net_sums(migrated, t) for t in SUMS] == buckets
        timer_changes.reset(migrated, at=datetime.now(UTC))
        versions = migrated.query("SELECT count() FROM sla_timers").result_rows[0][0]
        slices = key_ranges(
            migrated,
            timer_changes.WINDOW_KEYS,
            EPOCH,
            watermarks[-1],
            versions=versions,
            most=40,
        )
        assert len(slices) > 10
        timer_changes.record_window(migrated, EPOCH, watermarks[-1], most=40)
        assert changes(migrated) == incremental
        assert [net_sums(migrated, t) for t in SUMS] == buckets

    def test_a_record_that_died_before_its_watermark_is_written_once(
        self, client: Client, engine_url: str, templates: Templates
    ) -> None:
        """Rows written by a record whose watermark never moved are dropped and written again,
        not counted twice."""
        watermarks, _ = stream_with_late_arrivals(client, engine_url, templates)
        migrated = client
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
        self, client: Client, engine_url: str, templates: Templates
    ) -> None:
        """Versions stored before the changes existed (their watermark behind the keeper's) are
        answered by sorting the versions until the next tick records them."""
        _, keeper = stream_with_late_arrivals(client, engine_url, templates)
        migrated = client
        answers = TimerAnswers(lambda: migrated, DEFAULT_SLAS, CalendarBook(), keeper)
        expected = answers.summaries(END, None)
        timer_changes.reset(migrated, at=datetime.now(UTC))
        assert not answers._known(None)[1]
        assert answers.summaries(END, None) == expected
        tick(keeper)
        assert answers._known(None)[1]
        assert answers.summaries(END, None).summaries == expected.summaries


SLA = "time-to-invoice-posting"
AS_OF = datetime(2026, 9, 16, 15, 0, tzinfo=UTC)
KNOWN = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
WIDTH = ELAPSED_BUCKET_SECONDS
SUMS = ("sla_timer_elapsed", "sla_timer_sums")


def stopped_pieces(
    client: Client,
    values: list[float],
    *,
    instant: datetime,
    known: datetime,
    delta: int = 1,
    counts_from: datetime | None = None,
) -> None:
    """One met, stopped piece of ``SLA`` per value (its business seconds), begun at ``instant``,
    known at ``known``, counted by the trend from ``counts_from`` (default ``instant``);
    ``delta`` -1 takes such pieces back."""
    rows = [
        {
            "Sla": SLA,
            "Urgency": URGENCY[MET],
            "KeyId": f"BE-{n}-{value}",
            "StartEventId": f"billing.ready:BE-{n}",
            "KeyType": "billing_event",
            "Stopped": 1,
            "Instant": instant,
            "KnownAt": known,
            "Delta": delta,
            "State": MET,
            "CountsFrom": counts_from or instant,
            "ElapsedSeconds": value,
            "VersionKnownAt": known,
        }
        for n, value in enumerate(values)
    ]
    client.insert("sla_timer_changes", [list(r.values()) for r in rows], column_names=list(rows[0]))


def with_watermarks(client: Client, known: datetime) -> TimerAnswers:
    """Answers on ``client`` whose business state and recorded changes reach ``known``."""
    at = datetime.now(UTC)
    for key in (WATERMARK_KEY, timer_changes.CHANGES_WATERMARK_KEY):
        write_state(client, key, known.isoformat(), at=at)
    keeper = BusinessState(lambda: client, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)
    answers = TimerAnswers(lambda: client, DEFAULT_SLAS, CalendarBook(), keeper)
    assert answers._known(None) == (known, True)
    return answers


def expected_percentiles(client: Client, seconds: list[float]) -> tuple[float, float]:
    """The engine's own exact percentiles of the business hours of ``seconds``, rounded as the
    summaries round them."""
    ((p50, p95),) = client.query(
        "SELECT quantilesExactInclusive(0.5, 0.95)(s / 3600) "
        "FROM (SELECT arrayJoin({seconds:Array(Float64)}) AS s)",
        parameters={"seconds": seconds},
    ).result_rows[0]
    return round(float(p50), 2), round(float(p95), 2)


EDGES = [
    # a rank on each side of one bucket's end: 0 s and a bucket far off
    [0.0, 0.0, 10.0, 120 * WIDTH, 120 * WIDTH + 5, 300 * WIDTH],
    # values on and just short of bucket ends, where the rank and its neighbour part
    [
        *(WIDTH - 1e-9, float(WIDTH), 2 * WIDTH - 1e-7, 2.0 * WIDTH, 40 * WIDTH),
        *(90 * WIDTH - 1e-6, 90.0 * WIDTH, 91 * WIDTH, math.nextafter(200.0 * WIDTH, 0)),
        200.0 * WIDTH,
        700 * WIDTH,
    ],
    # one timer; two; many ties in one bucket
    [17 * WIDTH + 3.5],
    [5 * WIDTH, 6000 * WIDTH],
    [3 * WIDTH + 1] * 20 + [3 * WIDTH + 2] * 19 + [500 * WIDTH],
]


class TestElapsedBuckets:
    @pytest.mark.parametrize("values", EDGES)
    def test_percentiles_read_from_buckets_are_the_engines_exact_ones(
        self, migrated: Client, values: list[float]
    ) -> None:
        """Stopped timers whose ranks fall on bucket ends, values on and just short of them,
        some known only after ``known_at``, taken back, begun after ``as_of`` or on its own day:
        the summary's p50 and p95 are ``quantilesExactInclusive``'s over the timers in effect."""
        day_before = AS_OF - timedelta(days=3)
        rng = random.Random(len(values))
        in_effect = list(values)
        stopped_pieces(migrated, values, instant=day_before, known=KNOWN - timedelta(days=9))
        own_day = [rng.choice(values), WIDTH * 7.0]
        stopped_pieces(migrated, own_day, instant=AS_OF - timedelta(hours=2), known=KNOWN)
        in_effect += own_day
        taken_back = values[-1:]
        stopped_pieces(migrated, taken_back, instant=day_before, known=KNOWN, delta=-1)
        in_effect.remove(taken_back[0])
        stopped_pieces(migrated, [1.0], instant=AS_OF + timedelta(minutes=1), known=KNOWN)
        stopped_pieces(migrated, [2.0], instant=day_before, known=KNOWN + timedelta(seconds=1))
        answers = with_watermarks(migrated, KNOWN + timedelta(seconds=1))

        (summary,) = [s for s in answers.summaries(AS_OF, KNOWN).summaries if s.name == SLA]

        assert summary.counts["met"] == len(in_effect)
        p50, p95 = expected_percentiles(migrated, in_effect)
        assert (summary.p50_business_hours, summary.p95_business_hours) == (p50, p95)

    def test_ranks_and_interpolation_are_quantiles_exact_inclusive(self, client: Client) -> None:
        """``percentile_ranks`` and ``exact_percentile`` give the engine's exact percentiles, to
        the last bit, for multisets of 1 to 400 values with ties."""
        rng = random.Random(11)
        sets = [
            sorted(rng.choice([rng.uniform(0, 1e6), float(rng.randrange(5))]) for _ in range(n))
            for n in [*range(1, 40), *rng.sample(range(40, 400), 30)]
        ]
        (engine,) = client.query(
            "SELECT arrayMap(s -> arrayReduce('quantilesExactInclusive(0.5, 0.95)', s), "
            "{sets:Array(Array(Float64))})",
            parameters={"sets": sets},
        ).result_rows[0]
        for values, expected in zip(sets, engine, strict=True):
            ranks = timer_changes.percentile_ranks(len(values))
            assert len(ranks) == 2 * len(timer_changes.PERCENTILES)
            at_rank = dict(enumerate(values, start=1))
            got = [
                timer_changes.exact_percentile(level, len(values), at_rank.__getitem__)
                for level in timer_changes.PERCENTILES
            ]
            assert got == [float(e) for e in expected], values


class TestMigration27:
    def test_pieces_stored_before_it_are_summed_once(self, migrated: Client) -> None:
        """Pieces recorded before the one sums table existed are summed by the migration; a
        migration cut short and run again counts each once; the four sums tables it replaces
        and their views are gone; the answers read the sums."""
        values = [float(v) for v in range(0, 90 * WIDTH, 7 * WIDTH + 13)]
        stopped_pieces(migrated, values, instant=AS_OF - timedelta(days=2), known=KNOWN)
        filled_by_view = net_sums(migrated, "sla_timer_sums")
        assert {row[0] for row in filled_by_view} == {*STATE_SUMS, *BUCKET_SUMS}
        migrated.command("DROP VIEW sla_timer_sums_mv")
        migrated.command("DROP TABLE sla_timer_sums")
        forget_migration(migrated, 27)
        stopped_pieces(migrated, values[:3], instant=AS_OF - timedelta(days=1), known=KNOWN)

        assert migrate(migrated, CorrelationRules.default()).applied == (27,)
        backfilled = net_sums(migrated, "sla_timer_sums")
        forget_migration(migrated, 27)
        migrate(migrated, CorrelationRules.default())

        assert net_sums(migrated, "sla_timer_sums") == backfilled
        assert backfilled != filled_by_view
        replaced = [
            f"sla_timer_{sums}_{per}{view}"
            for sums in ("change", "elapsed")
            for per in ("days", "ticks")
            for view in ("", "_mv")
        ]
        (left,) = migrated.query(
            "SELECT groupArray(name) FROM system.tables WHERE database = currentDatabase() "
            "AND name IN {replaced:Array(String)}",
            parameters={"replaced": replaced},
        ).result_rows[0]
        assert left == []
        (summary,) = [
            s
            for s in with_watermarks(migrated, KNOWN).summaries(AS_OF, KNOWN).summaries
            if s.name == SLA
        ]
        assert summary.counts["met"] == len(values) + 3
        expected = expected_percentiles(migrated, values + values[:3])
        assert (summary.p50_business_hours, summary.p95_business_hours) == expected

    def test_a_database_before_it_keeps_the_sums_its_four_tables_held(
        self, migrated: Client
    ) -> None:
        """Upgraded from the four sums tables of migrations 14 and 21, filled by their views, the
        one table holds, kind by kind, exactly what each of them held."""
        migrated.command("DROP VIEW sla_timer_sums_mv")
        migrated.command("DROP TABLE sla_timer_sums")
        for statement in timer_changes_ddl(Topology()) + timer_change_reads_ddl(Topology()):
            migrated.command(statement)
        forget_migration(migrated, 27)
        values = [float(v) for v in range(0, 40 * WIDTH, 3 * WIDTH + 7)]
        stopped_pieces(migrated, values, instant=AS_OF - timedelta(days=4), known=KNOWN)
        early = KNOWN - timedelta(days=9)
        stopped_pieces(
            migrated,
            values[::2],
            instant=AS_OF - timedelta(days=6),
            known=early,
            counts_from=AS_OF - timedelta(days=5),
        )
        stopped_pieces(
            migrated, values[:2], instant=AS_OF - timedelta(days=6), known=KNOWN, delta=-1
        )
        held = {kind: sums_by(migrated, table, keys) for kind, (table, keys) in OLD_SUMS.items()}
        assert all(held.values())

        assert migrate(migrated, CorrelationRules.default()).applied == (27,)

        for kind, (_, keys) in OLD_SUMS.items():
            assert sums_by(migrated, f"sla_timer_sums WHERE Kind = {kind}", keys) == held[kind]


OLD_SUMS = {
    STATE_SUMS[0]: ("sla_timer_change_days", "Sla, State, Day, CountsDay, KnownDay, VersionDay"),
    STATE_SUMS[1]: (
        "sla_timer_change_ticks",
        "Sla, State, Day, CountsDay, KnownDay, KnownAt, VersionDay",
    ),
    BUCKET_SUMS[0]: ("sla_timer_elapsed_days", "Sla, Bucket, Day, KnownDay, VersionDay"),
    BUCKET_SUMS[1]: ("sla_timer_elapsed_ticks", "Sla, Bucket, Day, KnownDay, KnownAt, VersionDay"),
}
"""Each kind of ``sla_timer_sums`` and the table of migration 14 or 21 that held it, by its keys."""


def net_sums(client: Client, table: str) -> list[tuple[object, ...]]:
    """The stopped pieces (``sla_timer_elapsed``) or the sums (``sla_timer_sums``), summed per
    key, without the zero sums."""
    keys = {
        "sla_timer_elapsed": "Sla, Bucket, ElapsedSeconds, Instant, KnownAt, VersionKnownAt",
        "sla_timer_sums": "Kind, KnownDay, Sla, KnownAt, Day, CountsDay, State, Bucket, VersionDay",
    }[table]
    return sums_by(client, table, keys)


def sums_by(client: Client, rows: str, keys: str) -> list[tuple[object, ...]]:
    """The sums of ``rows`` (a table, or a table and its condition) per ``keys``, none zero."""
    return sorted(
        tuple(r)
        for r in client.query(
            f"SELECT {keys}, sum(Delta) AS n FROM {rows} GROUP BY {keys} HAVING n != 0"
        ).result_rows
    )
