"""Close risk summed in ClickHouse (``slas.close_sums``) and the blocked-invoice answer narrowed to
the blocked items in SQL, on the real engine, against the answers that assess every item row in
Python (``CloseRiskAnswers(from_sums=False)``, ``BlockedInvoiceAnswers(narrowed=False)``: the
oracles), at many instants and knowledge times of a quarter streamed in tick by tick with spans
arriving late (which replaces versions: ``slas.item_versions``)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.instants import EPOCH, utc
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas import close_item_pieces, close_state, item_versions
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.close_state import (
    STAGE_DURATIONS,
    STAGE_DURATIONS_RECORDED,
    CloseRiskAnswers,
    net_durations,
    stage_window,
)
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BlockedInvoiceAnswers
from syncsight.bulk_load import WarehouseSpanExporter
from tests.firm import firm_calendar_book
from tests.slas.events import at, event, span_rows
from tests.slas.tiny_quarter import (
    END,
    SETTLE,
    late_arrivals_copy,
    tick,
    tiny_quarter_spans,
)
from tests.templates import Templates
from tests.warehouse.test_migrations import forget_migration
from warehouse.correlation_rules import CorrelationRules
from warehouse.key_ranges import key_ranges
from warehouse.migrations import migrate
from warehouse.schema import Topology, close_item_pieces_ddl
from warehouse.span_store import span_sink
from warehouse.spans import OTEL_TRACES_COLUMNS

pytestmark = pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)

START = END - timedelta(days=100)
LATE_PIECES = "toUnixTimestamp64Micro(Begins), toUnixTimestamp64Micro(Ends)"
"""What only the read of realised pairs' pieces
(``close_item_pieces.late_pieces_sql``) selects."""


class LatePieceReads:
    """``client``, recording the parameters of every read of realised pairs' pieces."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.reads: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, statement: str, **kwargs: Any) -> Any:
        if LATE_PIECES in statement:
            self.reads.append(kwargs["parameters"])
        return self._client.query(statement, **kwargs)


REPLACED = "SELECT ItemType, ItemId, KnownAt, SupersededAt FROM close_item_superseded"
PIECES = "SELECT * FROM close_item_pieces"
DURATIONS = "SELECT * FROM close_stage_durations"
CHANGES = "SELECT * FROM close_item_piece_changes"
MIGRATION_18_VIEWS = [
    s for s in close_item_pieces_ddl(Topology()) if s.startswith("CREATE MATERIALIZED VIEW")
]
"""The daily sums' views as migration 18 made them (reading the pieces; 32 reads its changes)."""
IN_EFFECT_SUMS = """
SELECT (LegalEntity, DuePeriod, Currency, State), (sum(Delta), sum(ifNull(Amount, 0) * Delta))
FROM close_item_pieces
WHERE KnownAt <= {known_at:DateTime64(3, 'UTC')}
  AND Begins <= {as_of:DateTime64(6, 'UTC')} AND Ends > {as_of:DateTime64(6, 'UTC')}
GROUP BY LegalEntity, DuePeriod, Currency, State
HAVING sum(Delta) != 0 OR sum(ifNull(Amount, 0) * Delta) != 0
"""
"""The items and money per entity, period, currency and state at ``as_of`` as known at
``known_at``, straight from the pieces in effect then: what ``SUMS_AT`` adds up from days, ticks
and ``as_of``'s own day of changes."""
PIECE_SUMS = """
SELECT (DuePeriod, LegalEntity, Currency, State, Day), (sum(Items), sum(Money))
FROM (SELECT * FROM close_item_piece_days UNION ALL SELECT * EXCEPT KnownAt
      FROM close_item_piece_ticks)
GROUP BY DuePeriod, LegalEntity, Currency, State, Day
HAVING sum(Items) != 0 OR sum(Money) != 0
"""


class TestSummedItemAnswers:
    def test_every_answer_is_the_one_assessing_every_item_gives(
        self, client: Client, engine_url: str, templates: Templates
    ) -> None:
        """Close risk (every period and each one) and blocked invoices (by period and entity)
        equal the oracles' at 40 random (as_of, known_at), before and after close deadlines,
        known_at before, between and after the late arrivals; an answer for a past known_at is
        the same after the late spans arrived."""
        watermarks, keeper = late_arrivals_copy(
            templates, engine_url, client, seed=7, scale="small", chunk=3000
        )
        migrated = client
        # late spans replaced versions: the filter on replaced versions is exercised
        replaced = migrated.query("SELECT count() FROM close_item_superseded").result_rows[0][0]
        assert replaced > 0
        # and their state pieces were taken back (slas.close_item_pieces)
        taken_back = migrated.query(
            "SELECT countIf(Delta < 0), countIf(Delta > 0) FROM close_item_pieces"
        ).result_rows[0]
        assert taken_back[0] > 0
        assert taken_back[1] > taken_back[0]
        book = CalendarBook()
        summed = CloseRiskAnswers(lambda: migrated, book, keeper)
        oracle = CloseRiskAnswers(lambda: migrated, book, keeper, from_sums=False)
        rules, owners = LineageRules.default(), OwnerRouting()
        narrowed = BlockedInvoiceAnswers(lambda: migrated, rules, owners, keeper)
        every = BlockedInvoiceAnswers(lambda: migrated, rules, owners, keeper, narrowed=False)
        periods = sorted(
            str(r[0])
            for r in migrated.query("SELECT DISTINCT DuePeriod FROM close_items").result_rows
        )
        entities = sorted(
            str(r[0])
            for r in migrated.query("SELECT DISTINCT LegalEntity FROM close_items").result_rows
        )
        rng = random.Random(5)
        reasons: Counter[str] = Counter()
        blocked = 0
        for _ in range(40):
            as_of = START + timedelta(seconds=rng.uniform(0, (END - START).total_seconds() + 3e6))
            known = rng.choice(
                [None, rng.choice(watermarks), rng.choice(watermarks) - timedelta(milliseconds=1)]
            )
            period = rng.choice([None, *periods])
            report = summed.report(period, as_of, known)
            assert report == oracle.report(period, as_of, known), (period, as_of, known)
            reasons.update(c["reason"] for entry in report[1] for c in entry["contributors"])
            entity = rng.choice([None, *entities])
            asked: dict[str, Any] = {
                "period": period,
                "legal_entity": entity,
                "as_of": as_of,
                "known_at": known,
            }
            impact = narrowed.report(**asked)
            assert impact == every.report(**asked), (period, entity, as_of, known)
            assert impact[1].count == len(impact[1].items)
            blocked += len(impact[1].items)
            # the largest few listed: the same totals and count, the first items
            limit = rng.randint(1, 5)
            largest = narrowed.report(**asked, limit=limit)
            assert largest == every.report(**asked, limit=limit), (asked, limit)
            assert largest[1].items == impact[1].items[:limit]
            assert (largest[1].total, largest[1].count) == (impact[1].total, impact[1].count)
        assert blocked > 0
        # the edges of the sums: midnight (a day's sums against its rows), the instants where
        # pieces begin and end, the close deadlines and a microsecond either side
        edges = [
            utc(at)
            for (at,) in migrated.query(
                "SELECT arrayJoin([Begins, Ends]) AS at FROM close_item_pieces"
                " WHERE at < toDateTime64('2200-01-01', 6, 'UTC') ORDER BY cityHash64(at) LIMIT 6"
            ).result_rows
        ]
        edges += [START.replace(hour=0) + timedelta(days=d) for d in (30, 61)]
        deadlines = [book.for_entity(e).close_deadline(p) for e in entities[:2] for p in periods]
        edges += [d + timedelta(microseconds=m) for d in deadlines[:4] for m in (-1, 0, 1)]
        for as_of in edges:
            known = rng.choice([None, rng.choice(watermarks)])
            for period in (None, rng.choice(periods)):
                report = summed.report(period, as_of, known)
                assert report == oracle.report(period, as_of, known), (period, as_of, known)
                reasons.update(c["reason"] for entry in report[1] for c in entry["contributors"])
        # before the close (blocked, projected late) and after it (realised) were both compared
        assert {"blocked", "projected_after_close", "not_posted_by_close"} <= set(reasons)
        # the completed stages that project the waiting items: the recorded rows give the
        # stages of the versions in effect, some of them taken back by a later version
        taken_back = migrated.query(
            "SELECT countIf(Delta < 0) FROM close_stage_durations"
        ).result_rows[0][0]
        assert taken_back > 0
        for as_of in [*edges, END, END - timedelta(days=40)]:
            for known in (None, *watermarks[::7]):
                # the stages of every item's latest version: the oracle's read
                stages = _stages(migrated, keeper, as_of, known, STAGE_DURATIONS_RECORDED)
                assert stages == _stages(migrated, keeper, as_of, known, STAGE_DURATIONS)

        # recorded again from scratch, the stored versions give the rows the ticks wrote; until
        # then the answers are the oracle's (the versions sorted)
        recorded = set(migrated.query(REPLACED).result_rows)
        summed_days = Counter(dict(migrated.query(PIECE_SUMS).result_rows))
        pieces = Counter(migrated.query(PIECES).result_rows)
        durations = Counter(migrated.query(DURATIONS).result_rows)
        changes = Counter(migrated.query(CHANGES).result_rows)
        assert changes
        item_versions.reset(migrated, at=datetime.now(UTC))
        assert not migrated.query(PIECE_SUMS).result_rows
        assert not migrated.query(DURATIONS).result_rows
        assert not migrated.query(CHANGES).result_rows
        as_of = END - timedelta(days=3)
        assert summed.report(None, as_of, None) == oracle.report(None, as_of, None)
        item_versions.record(migrated, keeper.watermark(), at=datetime.now(UTC))
        assert set(migrated.query(REPLACED).result_rows) == recorded
        # from scratch, each version's pieces are added once and none taken back: the same sums
        assert Counter(dict(migrated.query(PIECE_SUMS).result_rows)) == summed_days
        assert Counter(migrated.query(PIECES).result_rows) == pieces
        assert Counter(migrated.query(DURATIONS).result_rows) == durations
        assert Counter(migrated.query(CHANGES).result_rows) == changes
        # and so in many slices of the items' keys, one statement each
        item_versions.reset(migrated, at=datetime.now(UTC))
        versions = migrated.query("SELECT count() FROM close_items").result_rows[0][0]
        epoch = EPOCH
        slices = key_ranges(
            migrated,
            item_versions.WINDOW_KEYS,
            epoch,
            keeper.watermark(),
            versions=versions,
            most=20,
        )
        assert len(slices) > 5
        item_versions.record_window(migrated, epoch, keeper.watermark(), most=20)
        assert set(migrated.query(REPLACED).result_rows) == recorded
        assert Counter(dict(migrated.query(PIECE_SUMS).result_rows)) == summed_days
        assert Counter(migrated.query(PIECES).result_rows) == pieces
        assert Counter(migrated.query(DURATIONS).result_rows) == durations
        assert Counter(migrated.query(CHANGES).result_rows) == changes

    def test_the_sums_at_an_instant_are_the_pieces_in_effect_then(
        self, client: Client, engine_url: str, templates: Templates
    ) -> None:
        """``SUMS_AT`` (days, ticks and ``as_of``'s own day of changes) gives per entity, period,
        currency and state what the pieces in effect at ``as_of`` as known at ``known_at`` add
        up to: at instants where pieces begin and end, a microsecond either side, the midnight
        before them, and knowledge times at, between and around the ticks' watermarks."""
        watermarks, _ = late_arrivals_copy(
            templates, engine_url, client, seed=7, scale="small", chunk=3000
        )
        changes = client.query(
            "SELECT arrayJoin([Begins, Ends]) AS at FROM close_item_pieces"
            " WHERE at < toDateTime64('2200-01-01', 6, 'UTC') ORDER BY cityHash64(at) LIMIT 12"
        ).result_rows
        instants = [utc(at) + timedelta(microseconds=m) for (at,) in changes for m in (-1, 0, 1)]
        instants += [
            utc(at).replace(hour=0, minute=0, second=0, microsecond=0) for (at,) in changes
        ]
        rng = random.Random(3)
        instants += [START + timedelta(seconds=rng.uniform(0, 120 * 86400)) for _ in range(10)]
        knowns = [
            *watermarks[:: max(1, len(watermarks) // 5)],
            watermarks[len(watermarks) // 2] - timedelta(milliseconds=1),
            watermarks[-1],
        ]
        compared = 0
        for as_of in instants:
            for known in rng.sample(knowns, 3):
                parameters = {"as_of": as_of, "known_at": known, "periods": []}
                summed = {
                    (str(e), str(p), str(c), int(s)): (int(items), Decimal(money))
                    for e, p, c, s, items, money in client.query(
                        close_item_pieces.SUMS_AT_EVERY_PERIOD, parameters=parameters
                    ).result_rows
                    if items or money
                }
                in_effect = {
                    (str(e), str(p), str(c), int(s)): (int(items), Decimal(money))
                    for (e, p, c, s), (items, money) in client.query(
                        IN_EFFECT_SUMS, parameters=parameters
                    ).result_rows
                }
                assert summed == in_effect, (as_of, known)
                compared += len(in_effect)
        assert compared > 100

    def test_an_answer_for_a_past_known_at_never_changes(
        self, migrated: Client, engine_url: str
    ) -> None:
        """Answered at a knowledge time before the late spans arrived, the summed close risk and
        blocked invoices are the same after they arrived, and differ from the latest answers."""
        spans = list(tiny_quarter_spans("small"))
        loader = WarehouseSpanExporter(span_sink(migrated, engine_url))
        keeper = BusinessState(lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)
        half = len(spans) // 2
        loader.export(spans[:half])
        loader.force_flush()
        tick(keeper)
        known = keeper.watermark()
        summed = CloseRiskAnswers(lambda: migrated, CalendarBook(), keeper)
        blocked = BlockedInvoiceAnswers(
            lambda: migrated, LineageRules.default(), OwnerRouting(), keeper
        )
        as_of = END - timedelta(days=20)
        before = (
            summed.report(None, as_of, known),
            blocked.report(period=None, legal_entity=None, as_of=as_of, known_at=known),
        )
        loader.export(spans[half:])
        loader.force_flush()
        tick(keeper)
        after = (
            summed.report(None, as_of, known),
            blocked.report(period=None, legal_entity=None, as_of=as_of, known_at=known),
        )
        latest = summed.report(None, as_of, None)
        assert after == before
        assert latest[1] != before[0][1]

    @pytest.mark.parametrize(
        ("version", "before"),
        [
            (
                18,
                [
                    f"TRUNCATE TABLE {table}"
                    for table in (
                        "close_item_pieces",
                        "close_item_piece_days",
                        "close_item_piece_ticks",
                        "close_stage_durations",
                    )
                ],
            ),
            (
                29,
                [
                    "DROP VIEW close_stage_durations_mv",
                    "DROP TABLE close_stage_durations",
                    "ALTER TABLE close_item_pieces DROP COLUMN StageSeconds",
                ],
            ),
            (
                32,
                [
                    "DROP VIEW close_item_piece_changes_mv",
                    "DROP TABLE close_item_piece_changes",
                    "DROP VIEW close_item_piece_days_mv",
                    "DROP VIEW close_item_piece_ticks_mv",
                    *MIGRATION_18_VIEWS,
                ],
            ),
        ],
    )
    def test_a_migration_records_the_stored_versions_at_the_next_tick(
        self,
        client: Client,
        engine_url: str,
        templates: Templates,
        version: int,
        before: list[str],
    ) -> None:
        """A database whose state was derived before migration 18 (no pieces), 29 (no
        completed stages, pieces without what the stage took) or 33 (no changes by instant, the
        daily sums' views reading the pieces) gets every stored version's rows and replaced
        versions at the first tick after it; until then the answers are the oracle's."""
        watermarks, keeper = late_arrivals_copy(templates, engine_url, client, seed=3)
        migrated = client
        recorded = set(migrated.query(REPLACED).result_rows)
        pieces = Counter(migrated.query(PIECES).result_rows)
        durations = Counter(migrated.query(DURATIONS).result_rows)
        changes = Counter(migrated.query(CHANGES).result_rows)
        assert pieces
        assert recorded
        assert durations
        assert changes
        # the code before the migration wrote none of its rows
        for statement in before:
            migrated.command(statement, settings={"mutations_sync": 1})
        forget_migration(migrated, version)
        assert migrate(migrated, CorrelationRules.default()).applied == (version,)
        summed = CloseRiskAnswers(lambda: migrated, CalendarBook(), keeper)
        oracle = CloseRiskAnswers(lambda: migrated, CalendarBook(), keeper, from_sums=False)
        as_of, known = END - timedelta(days=10), watermarks[len(watermarks) // 2]
        assert keeper.items_known_at(known) == (known, False)
        assert summed.report(None, as_of, known) == oracle.report(None, as_of, known)
        tick(keeper)
        assert keeper.items_known_at(known) == (known, True)
        assert set(migrated.query(REPLACED).result_rows) == recorded
        assert Counter(migrated.query(PIECES).result_rows) == pieces
        assert Counter(migrated.query(DURATIONS).result_rows) == durations
        assert Counter(migrated.query(CHANGES).result_rows) == changes
        assert summed.report(None, as_of, known) == oracle.report(None, as_of, known)

    def test_a_realised_pairs_pieces_read_once_a_knowledge_time_give_each_instants_answer(
        self, client: Client, engine_url: str, templates: Templates
    ) -> None:
        """Past a pair's close deadline an every-period answer takes that pair's items at risk
        from its pieces that can be at risk past the deadline, read once per knowledge time (when
        it is asked again: asked first, every pair is read at ``as_of``) and kept
        (``close_item_pieces.late_pieces_sql``), those in effect at its own ``as_of``; the pairs
        before their deadline are read at ``as_of``. At each entity's deadlines (the firm's
        calendars: they differ by entity), a microsecond either side and between two of them (a
        period's pair realised, another not), asked onwards then backwards at two knowledge times
        (late spans replaced versions between them), each answer is the oracle's, with one read
        of the realised pairs' pieces per knowledge time and new pair at most."""
        watermarks, keeper = late_arrivals_copy(
            templates, engine_url, client, seed=7, scale="small", chunk=3000
        )
        # and an invoice of LE-DE01 due in 2026-09 ready before its close deadline (2026-10-08
        # 22:00 UTC) and posted after it: waiting, then posted late
        late_invoice = invoice_spans("L", ready=at(days=2), posted=at(days=35), amount=900000.0)
        client.insert("otel_traces", late_invoice, column_names=OTEL_TRACES_COLUMNS)
        tick(keeper)
        book = firm_calendar_book()
        counted = LatePieceReads(client)
        kept = CloseRiskAnswers(lambda: counted, book, keeper)  # type: ignore[arg-type,return-value]
        oracle = CloseRiskAnswers(lambda: client, book, keeper, from_sums=False)
        pairs = client.query("SELECT DISTINCT LegalEntity, DuePeriod FROM close_items").result_rows
        deadlines = sorted({book.for_entity(e).close_deadline(p) for e, p in pairs})
        deadlines = [d for d in deadlines if d < END]
        between = [a + (b - a) / 2 for a, b in pairwise(deadlines)]
        # one of a period's pairs realised, another not
        assert any(
            book.for_entity(e).close_deadline(p) <= at < book.for_entity(f).close_deadline(p)
            for at in between
            for e, p in pairs
            for f, q in pairs
            if q == p
        )
        edges = [d + timedelta(microseconds=m) for d in deadlines for m in (-1, 0, 1)]
        instants = [*sorted([*edges, *between, at(days=33), at(days=45)]), END]
        reasons: Counter[str] = Counter()
        for known in (None, watermarks[len(watermarks) // 2]):
            # a knowledge time asked first is read at ``as_of``: nothing read to keep
            first = len(counted.reads)
            assert kept.report(None, END, known) == oracle.report(None, END, known)
            assert len(counted.reads) == first
            for as_of in [*instants, *reversed(instants)]:
                report = kept.report(None, as_of, known)
                assert report == oracle.report(None, as_of, known), (as_of, known)
                reasons.update(c["reason"] for entry in report[1] for c in entry["contributors"])
        assert reasons["not_posted_by_close"] > 0
        assert reasons["posted_after_close"] > 0
        # each realised pair's pieces read once per knowledge time
        # each read names three parameters a pair, beside the knowledge time
        assert 0 < sum(len(read) // 3 for read in counted.reads) <= 2 * len(pairs)

    def test_more_realised_pairs_than_kept_are_read_at_as_of_every_time(
        self,
        client: Client,
        engine_url: str,
        templates: Templates,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """An answer with more realised pairs than ``LATE_PAIRS_KEPT`` reads them all at
        ``as_of`` in one statement, asked once or again: the oracle's answer, and no pieces read
        that could not be kept."""
        _, keeper = late_arrivals_copy(
            templates, engine_url, client, seed=7, scale="small", chunk=3000
        )
        monkeypatch.setattr(close_state, "LATE_PAIRS_KEPT", 1)
        book = firm_calendar_book()
        counted = LatePieceReads(client)
        few = CloseRiskAnswers(lambda: counted, book, keeper)  # type: ignore[arg-type,return-value]
        oracle = CloseRiskAnswers(lambda: client, book, keeper, from_sums=False)
        pairs = client.query("SELECT DISTINCT LegalEntity, DuePeriod FROM close_items").result_rows
        assert sum(book.for_entity(e).close_deadline(p) <= END for e, p in pairs) > 1
        for _ in range(3):
            assert few.report(None, END, None) == oracle.report(None, END, None)
        assert counted.reads == []

    def test_an_invoice_posted_before_its_stage_began_is_not_late_after_the_close(
        self, migrated: Client
    ) -> None:
        """An invoice that posted before the close deadline, whose billing.ready was first
        attempted only after the deadline (its posted piece begins then), is not posted late:
        the summed answer is the oracle's for every period, after the deadline."""
        spans = invoice_spans("P", ready=at(days=40), posted=at(days=1), amount=1000.0)
        migrated.insert("otel_traces", spans, column_names=OTEL_TRACES_COLUMNS)
        keeper = BusinessState(lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)
        tick(keeper)
        deadline = CalendarBook().for_entity("LE-DE01").close_deadline("2026-09")
        assert at(days=1) < deadline < at(days=40)
        # the case: a posted piece that begins after the deadline, its posting in effect before
        assert migrated.query(
            "SELECT count() FROM close_item_pieces WHERE State = 4 AND Delta > 0"
            " AND Begins > {deadline:DateTime64(6, 'UTC')}"
            " AND PostingEffectiveAt <= {deadline:DateTime64(6, 'UTC')}",
            parameters={"deadline": deadline},
        ).result_rows == [(1,)]
        summed = CloseRiskAnswers(lambda: migrated, CalendarBook(), keeper)
        oracle = CloseRiskAnswers(lambda: migrated, CalendarBook(), keeper, from_sums=False)
        for as_of in (at(days=40, hours=1), at(days=60)):
            for period in (None, "2026-09"):
                assert summed.report(period, as_of, None) == oracle.report(period, as_of, None)


def invoice_spans(
    name: str, *, ready: datetime, posted: datetime, amount: float
) -> list[tuple[Any, ...]]:
    """The spans of one invoice of LE-DE01 due in 2026-09 (project ``PRJ-<name>``, billing event
    ``BE-<name>``, invoice ``INV-<name>``): its project activated, posted at ``posted``, its
    billing.ready at ``ready``."""
    project: dict[str, str | list[str]] = {sc.PROJECT: f"PRJ-{name}"}
    return span_rows(
        [
            event(sc.PROJECT_ACTIVATED, f"PRJ-{name}", project, at(), legal_entity="LE-DE01"),
            event(
                sc.INVOICE_POSTED,
                f"INV-{name}",
                {sc.INVOICE: f"INV-{name}", sc.BILLING_EVENT: f"BE-{name}", **project},
                posted,
                amount=amount,
                legal_entity="LE-DE01",
            ),
            event(
                sc.BILLING_READY,
                f"BE-{name}",
                {sc.BILLING_EVENT: f"BE-{name}", **project},
                ready,
                amount=amount,
            ),
        ]
    )


def _stages(
    client: Client, keeper: BusinessState, as_of: datetime, known_at: datetime | None, sql: str
) -> dict[str, list[float]]:
    """The completed invoice stages of the window before ``as_of`` by entity, sorted: ``sql``'s
    rows, the stages taken back (``STAGE_DURATIONS_RECORDED``'s third column) taken out."""
    known, _ = keeper.items_known_at(known_at)
    rows = client.query(sql, parameters=stage_window(as_of, known)).result_rows
    stages = {str(row[0]): net_durations(row[1], row[2] if len(row) > 2 else []) for row in rows}
    return {entity: sorted(seconds.tolist()) for entity, seconds in stages.items() if len(seconds)}
