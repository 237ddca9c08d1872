"""Each step's runs of errors kept on the ``close_items`` rows (migration 27), on the real engine:
close risk and the blocked-invoice answer take the error of a step that holds an item at any
``as_of`` from its row (the last run begun by then), and give what their oracles give (every item
assessed in Python, every blocking event read from ``biz_events``): for an error that began after
``as_of``, a retry's error, attempts tied on their instant, and at random instants of a quarter
streamed with late arrivals, before and after the upgrade. A rebuild after the upgrade writes no
version: the derivation spells the runs as they are stored."""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.instants import utc
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas.business_state import CONFIG_KEY, BusinessState
from slas.calendars import CalendarBook
from slas.close_state import CloseRiskAnswers
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BlockedInvoiceAnswers
from slas.item_rows import stored_item_row
from slas.state_queries import ITEM_COLUMNS
from tests.slas.events import at, micros
from tests.slas.test_blocker_facts import ReadsOfBiz
from tests.slas.tiny_quarter import END, SETTLE, stream_with_late_arrivals, tick
from tests.warehouse.spans import span_row
from tests.warehouse.test_migrations import forget_migration
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.schema import ERROR_RUN_COLUMNS
from warehouse.schema_state import write_state
from warehouse.spans import OTEL_TRACES_COLUMNS

ENTITY = "LE-DE01"
PROJECT = {sc.PROJECT: "PRJ-R"}
POSTING_ATTEMPTS = [
    (at(days=2), sc.FAILED, (sc.VALIDATION, "V1")),
    (at(days=3), sc.FAILED, (sc.VALIDATION, "V1")),  # a retry with the same error: one run
    (at(days=4), sc.FAILED, (sc.MASTER_DATA, "M1")),
    (at(days=5), sc.FAILED, (sc.AUTH, "A1")),  # tied on its instant with the next attempt,
    (at(days=5), sc.FAILED, (sc.TIMEOUT, "T1")),  # whose number is higher: this one is later
]
"""The attempts of BE-R's invoice posting (instant, outcome, error), in attempt order."""
ERROR_AT = [
    (at(days=2), (sc.VALIDATION, "V1")),
    (at(days=3, hours=5), (sc.VALIDATION, "V1")),
    (at(days=4) - timedelta(microseconds=1), (sc.VALIDATION, "V1")),
    (at(days=4), (sc.MASTER_DATA, "M1")),
    (at(days=5) - timedelta(microseconds=1), (sc.MASTER_DATA, "M1")),
    (at(days=5), (sc.TIMEOUT, "T1")),
    (at(days=9), (sc.TIMEOUT, "T1")),
]
"""The error of the posting's latest attempt at instants at which it holds the item: the error
of a run that began after the instant is not it."""


def _span(
    event_type: str,
    event_id: str,
    when: datetime,
    attempt: int,
    outcome: str = sc.SUCCESS,
    error: tuple[str, str] = ("", ""),
    ids: dict[str, str] | None = None,
) -> tuple[Any, ...]:
    attributes = {
        sc.EVENT_TYPE: event_type,
        sc.EVENT_ID: event_id,
        sc.OUTCOME: outcome,
        sc.ATTEMPT: str(attempt),
        sc.PERIOD: "2026-09",
        sc.AMOUNT: "1000.0",
        sc.CURRENCY: "EUR",
        sc.object_id_key(sc.LEGAL_ENTITY): ENTITY,
        **{sc.object_id_key(kind): value for kind, value in (ids or {}).items()},
    }
    if error[0]:
        attributes[sc.ERROR_CATEGORY], attributes[sc.ERROR_CODE] = error
    number = zlib.crc32(event_id.encode())
    return span_row(
        attributes,
        trace_id=f"{number:016x}{attempt:016x}",
        span_id=f"{number:08x}{attempt:08x}",
        start_ns=micros(when) * 1000,
    )


def answers(
    client: Client, keeper: BusinessState
) -> tuple[ReadsOfBiz, tuple[CloseRiskAnswers, BlockedInvoiceAnswers], tuple[Any, Any]]:
    """The summed close risk and the blocked-invoice answer from the rows (reading through a
    ``ReadsOfBiz``: close risk reads its contributors' errors from ``biz_events``), and their
    oracles."""
    reads = ReadsOfBiz(client)
    book, rules, owners = CalendarBook(), LineageRules.default(), OwnerRouting()
    fast = (
        CloseRiskAnswers(lambda: client, book, keeper),
        BlockedInvoiceAnswers(lambda: reads, rules, owners, keeper),  # type: ignore[arg-type, return-value]
    )
    oracles = (
        CloseRiskAnswers(lambda: client, book, keeper, from_sums=False),
        BlockedInvoiceAnswers(lambda: client, rules, owners, keeper, narrowed=False),
    )
    return reads, fast, oracles


def compare(
    client: Client,
    keeper: BusinessState,
    asked: list[tuple[datetime, datetime | None, str | None]],
) -> tuple[int, int]:
    """Assert both answers equal their oracles' at each (as_of, known_at, period); the blocking
    events they show, and how many of them the blocked-invoice answer read from ``biz_events``."""
    reads, (close_risk, blocked), (close_oracle, blocked_oracle) = answers(client, keeper)
    shown = 0
    for as_of, known, period in asked:
        report = close_risk.report(period, as_of, known)
        assert report == close_oracle.report(period, as_of, known), (as_of, known, period)
        shown += sum(
            bool(c["error_category"]) for entry in report[1] for c in entry["contributors"]
        )
        question: dict[str, Any] = {"period": period, "legal_entity": None, "as_of": as_of}
        impact = blocked.report(**question, known_at=known)
        assert impact == blocked_oracle.report(**question, known_at=known), (as_of, known)
        shown += len({b.event_id for item in impact[1].items for b in item.blocked_by})
    return shown, reads.event_ids


class TestErrorAtAnyInstant:
    def test_the_error_shown_is_the_latest_attempts_at_as_of(self, migrated: Client) -> None:
        """An invoice whose posting failed with one error, again with it, then with another, then
        twice at one instant: at every instant it holds the item, both answers show the error of
        its latest attempt so far (a run begun later is not it; of the tied attempts, the one
        with the higher number), the oracles' answers; the blocked-invoice answer reads no
        ``biz_events`` for it, and reads only what a row without runs does not tell."""
        rows = [
            _span(sc.PROJECT_ACTIVATED, "project.activated:PRJ-R", at(), 1, ids=PROJECT),
            _span(
                sc.BILLING_READY,
                "billing.ready:BE-R",
                at(days=1),
                1,
                ids={sc.BILLING_EVENT: "BE-R", **PROJECT},
            ),
            *(
                _span(
                    sc.INVOICE_POSTED,
                    "invoice.posted:INV-R",
                    when,
                    number,
                    outcome,
                    error,
                    ids={sc.INVOICE: "INV-R", sc.BILLING_EVENT: "BE-R", **PROJECT},
                )
                for number, (when, outcome, error) in enumerate(POSTING_ATTEMPTS, start=1)
            ),
        ]
        client = migrated
        client.insert("otel_traces", rows, column_names=OTEL_TRACES_COLUMNS)
        keeper = BusinessState(lambda: client, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)
        tick(keeper)
        stored = client.query(
            "SELECT PostingErrorRunCategories, PostingErrorRunCodes, PostingErrorRunStarts,"
            " PostingErrorCategory, PostingErrorSince FROM close_items WHERE ItemId = 'BE-R'"
        ).result_rows
        assert [
            (list(c), list(k), [utc(s) for s in t], c1, utc(s1)) for c, k, t, c1, s1 in stored
        ] == [
            (
                [sc.VALIDATION, sc.MASTER_DATA, sc.AUTH, sc.TIMEOUT],
                ["V1", "M1", "A1", "T1"],
                [at(days=2), at(days=4), at(days=5), at(days=5)],
                sc.TIMEOUT,
                at(days=5),
            )
        ]
        reads, (close_risk, blocked), (close_oracle, blocked_oracle) = answers(client, keeper)
        for as_of, error in ERROR_AT:
            report = close_risk.report("2026-09", as_of, None)
            [contributor] = [c for entry in report[1] for c in entry["contributors"]]
            assert (contributor["error_category"], contributor["error_code"]) == error, as_of
            assert report == close_oracle.report("2026-09", as_of, None)
            question: dict[str, Any] = {"period": None, "legal_entity": None, "as_of": as_of}
            impact = blocked.report(**question, known_at=None)
            [item] = impact[1].items
            [blocker] = item.blocked_by
            assert (blocker.error_category, blocker.error_code) == error, as_of
            assert blocker.failed_since == at(days=2)
            assert impact == blocked_oracle.report(**question, known_at=None)
        assert reads.event_ids == 0

        # a version written before migration 27 has no runs: before its last run began, the
        # error is read from biz_events, and is the same
        emptied = ", ".join(f"{name} = []" for name, _ in ERROR_RUN_COLUMNS)
        client.command(
            f"ALTER TABLE close_items UPDATE {emptied} WHERE 1 SETTINGS mutations_sync = 2"
        )
        for as_of, error in ERROR_AT:
            question = {"period": None, "legal_entity": None, "as_of": as_of}
            impact = blocked.report(**question, known_at=None)
            [blocker] = impact[1].items[0].blocked_by
            assert (blocker.error_category, blocker.error_code) == error, as_of
            assert impact == blocked_oracle.report(**question, known_at=None)
        assert reads.event_ids == sum(as_of < at(days=5) for as_of, _ in ERROR_AT)


@pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)
class TestUpgrade:
    def test_answers_are_the_oracles_before_and_after_migration_27_and_a_rebuild_writes_nothing(
        self, migrated: Client, engine_url: str
    ) -> None:
        """Streamed with migration 27, the answers at 20 random instants equal the oracles' and
        read almost no error from ``biz_events``. The same rows upgraded from before it hold no
        runs: the answers are still the oracles', reading what the rows do not tell. The changed
        configuration re-derives everything: only the items some step of which failed get a
        version (with their runs), the answers are the oracles' and read from the rows again,
        and a rebuild then writes no version at all (every stored row is what a derivation
        spells, digest included)."""
        watermarks, keeper = stream_with_late_arrivals(
            migrated, engine_url, seed=5, scale="small", chunk=3000
        )
        rng = random.Random(6)
        periods = [
            str(r[0])
            for r in migrated.query("SELECT DISTINCT DuePeriod FROM close_items").result_rows
        ]
        start = END - timedelta(days=100)
        asked = [
            (
                start + timedelta(seconds=rng.uniform(0, (END - start).total_seconds())),
                rng.choice([None, rng.choice(watermarks)]),
                rng.choice([None, *periods]),
            )
            for _ in range(20)
        ]
        shown, read = compare(migrated, keeper, asked)
        assert shown > 0
        assert read < shown / 5

        # before migration 27: no runs, and the digests the code before it spelled
        runs = " OR ".join(f"notEmpty({name})" for name, _ in ERROR_RUN_COLUMNS)
        migrated.command(
            f"ALTER TABLE close_items UPDATE Digest = 0 WHERE {runs} SETTINGS mutations_sync = 2"
        )
        migrated.command("ALTER TABLE close_items DROP PROJECTION IF EXISTS held")
        migrated.command(
            "ALTER TABLE close_items "
            + ", ".join(f"DROP COLUMN {name}" for name, _ in ERROR_RUN_COLUMNS)
        )
        migrated.command(
            "ALTER TABLE close_items ADD PROJECTION held"
            " (SELECT * ORDER BY HeldUntil, ItemType, ItemId, KnownAt)"
        )
        migrated.command(
            "ALTER TABLE close_items MATERIALIZE PROJECTION held SETTINGS mutations_sync = 2"
        )
        forget_migration(migrated, 27)
        assert migrate(migrated, CorrelationRules.default()).applied == (27,)
        with_runs = f"SELECT countIf({runs}), count() FROM close_items"
        assert migrated.query(with_runs).result_rows[0][0] == 0
        shown_before, read_before = compare(migrated, keeper, asked)
        assert shown_before == shown
        assert read_before >= read

        write_state(migrated, CONFIG_KEY, "before migration 27", at=datetime.now(UTC))
        tick(keeper)
        versions, total = migrated.query(with_runs).result_rows[0]
        assert versions > 0
        assert migrated.query("SELECT count() FROM close_items").result_rows[0][0] == total
        upgraded = [*asked, *((as_of, None, period) for as_of, _, period in asked)]
        shown_after, read_after = compare(migrated, keeper, upgraded)
        assert read_after < shown_after / 2  # half the instants are before the re-derivation

        keeper.reset(datetime.now(UTC))
        tick(keeper)
        assert migrated.query("SELECT count() FROM close_items").result_rows[0][0] == total
        latest = migrated.query(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM close_items"
            " ORDER BY ItemType, ItemId, KnownAt DESC LIMIT 1 BY ItemType, ItemId"
        ).result_rows
        assert all(
            stored_item_row((*row[:2], *row[5:])).digest == int(row[4])
            for row in latest
            if not row[3]
        )
