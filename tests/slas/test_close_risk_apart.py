"""Close risk reading beside itself (``slas.close_state.CloseRiskAnswers`` with a client per
thread, ``warehouse.pool.ReadsBeside``): the completed stages and the attempts of the blocking
events read on the answer's reader threads, the same answers as read in turn, and a read ahead
that fails fails the answer; the attempts kept per knowledge time and the versions' rows kept
are not read again, and a version's row is its pieces'."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.close_item_pieces import SUMS_AT_EVERY_PERIOD, VERSION_ROWS, version_rows
from slas.close_state import STAGE_DURATIONS_RECORDED, CloseRiskAnswers
from slas.close_sums import ASSESSED_COLUMNS
from slas.definitions import DEFAULT_SLAS
from slas.error_attempts import ATTEMPTS
from syncsight.bulk_load import WarehouseSpanExporter
from tests.slas.tiny_quarter import END, SETTLE, tick, tiny_quarter_spans
from warehouse.pool import ClientPool
from warehouse.span_store import span_sink

AT_RISK = "\nSELECT LegalEntity, DuePeriod, Currency, reason"
"""How close risk's at-risk read (``slas.close_item_pieces.at_risk_items_sql``) begins."""
LATE_PIECES = "toUnixTimestamp64Micro(Begins), toUnixTimestamp64Micro(Ends)"
"""What only the read of realised pairs' pieces (``slas.close_item_pieces.late_pieces_sql``)
selects."""


class Reads:
    """Which thread ran each statement, and how many ran at once (a client's queries passed on
    as they are)."""

    def __init__(self) -> None:
        self.threads: dict[str, set[str]] = defaultdict(set)
        self.asked: dict[str, int] = defaultdict(int)
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()
        self._recorded: dict[int, Client] = {}

    def through(self, client: Client) -> Client:
        """``client`` recorded: one recording per client, so that a factory handing every
        thread one client still does (``warehouse.pool.reads_apart``)."""
        if id(client) not in self._recorded:
            self._recorded[id(client)] = self._record(client)
        return self._recorded[id(client)]

    def _record(self, client: Client) -> Client:
        reads = self

        class Recorded:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            def query(self, statement: str, **kwargs: Any) -> Any:
                with reads._lock:
                    reads.threads[statement].add(threading.current_thread().name)
                    reads.asked[statement] += 1
                    reads.running += 1
                    reads.most = max(reads.most, reads.running)
                try:
                    return client.query(statement, **kwargs)
                finally:
                    with reads._lock:
                        reads.running -= 1

        return Recorded()  # type: ignore[return-value]

    def on_readers(self, statement: str) -> bool:
        return any(name.startswith("answer-read") for name in self.threads[statement])


@pytest.fixture
def quarter(migrated: Client, engine_url: str, database: str) -> BusinessState:
    """The small quarter stored and its state derived."""
    loader = WarehouseSpanExporter(span_sink(migrated, engine_url))
    loader.export(list(tiny_quarter_spans("small")))
    loader.force_flush()
    keeper = BusinessState(lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)
    tick(keeper)
    return keeper


def test_close_risk_reads_beside_itself_when_its_factory_allows(
    migrated: Client, engine_url: str, database: str, quarter: BusinessState
) -> None:
    """With a client per thread the answer's reads ahead run on reader threads beside its own, and
    give the answers read in turn with one client (every statement on the caller's thread, one
    at a time); a read ahead that fails fails the answer, and no read is left running when it
    ends."""
    caller = threading.current_thread().name
    pool = ClientPool(engine_url, database=database)
    # a reader's client that connects and whose every read fails: no tables
    migrated.command(f"CREATE DATABASE {database}_empty")
    elsewhere = ClientPool(engine_url, database=f"{database}_empty")
    apart, in_turn = Reads(), Reads()

    def answers(factory: Callable[[], Client]) -> CloseRiskAnswers:
        return CloseRiskAnswers(factory, CalendarBook(), quarter)

    beside = answers(lambda: apart.through(pool.client()))
    one = answers(lambda: in_turn.through(migrated))
    instants = [END - timedelta(days=d, hours=d) for d in (1, 9, 20, 33, 47)]
    try:
        for as_of in instants:
            for period in (None, f"{as_of - timedelta(days=35):%Y-%m}"):
                assert beside.report(period, as_of, None) == one.report(period, as_of, None)
        assert apart.running == in_turn.running == 0
        assert set().union(*in_turn.threads.values()) == {caller}
        assert in_turn.most == 1
        assert apart.on_readers(STAGE_DURATIONS_RECORDED)
        assert apart.on_readers(ATTEMPTS)
        assert apart.most > 1
        # asked again at the same knowledge time: every blocking event's attempts and every
        # listed version's row are kept
        asked = apart.asked[ATTEMPTS], apart.asked[VERSION_ROWS]
        assert all(asked)
        for as_of in instants:
            assert beside.report(None, as_of, None) == one.report(None, as_of, None)
        assert (apart.asked[ATTEMPTS], apart.asked[VERSION_ROWS]) == asked
        # every period's answer reads its items at risk beside its sums, for the pairs the
        # answers before found: asked from the earliest instant on, a later one finds pairs
        # the earlier did not, and reads them again (exact); the answers stay the ones in turn
        assert apart.on_readers(SUMS_AT_EVERY_PERIOD)
        later = Reads()
        onwards = answers(lambda: later.through(pool.client()))
        for as_of in reversed(instants):
            assert onwards.report(None, as_of, None) == one.report(None, as_of, None)
        # (a pair past its deadline from its pieces read once and kept: an answer whose pairs
        # all are may read none)
        at_risk = sum(
            n for text, n in later.asked.items() if text.startswith(AT_RISK) or LATE_PIECES in text
        )
        assert len(instants) < at_risk < 2 * len(instants)

        failing = Reads()
        fails = answers(
            lambda: failing.through(
                pool.client() if threading.current_thread().name == caller else elsewhere.client()
            )
        )
        with pytest.raises(DatabaseError, match="UNKNOWN_TABLE"):
            fails.report(None, instants[0], None)
        assert failing.on_readers(STAGE_DURATIONS_RECORDED)
        assert failing.running == 0
    finally:
        pool.close()
        elsewhere.close()
        migrated.command(f"DROP DATABASE IF EXISTS {database}_empty")


def test_a_versions_row_is_its_pieces_and_is_read_from_its_point_read_row_else_the_items_row(
    migrated: Client, quarter: BusinessState
) -> None:
    """``version_rows`` reads an item version's row from ``close_item_rows`` (migration 33: a
    view writes every ``close_items`` version's row there): the columns its pieces carry (what
    the at-risk read listed before it netted by version). A version whose point-read row is gone
    while its item's row is not is read from ``close_items`` (the facts retention expires each
    table merge by merge: here its pieces are gone too); one whose item's row is gone as well,
    from the pieces."""
    items, rows = (
        migrated.query(f"SELECT {ASSESSED_COLUMNS}, KnownAt FROM {table} ORDER BY ALL").result_rows
        for table in ("close_items", "close_item_rows")
    )
    assert rows == items != []
    pieces = migrated.query(
        f"SELECT {ASSESSED_COLUMNS}, VersionKnownAt FROM close_item_pieces WHERE Delta > 0 "
        "ORDER BY ItemType, ItemId, VersionKnownAt LIMIT 1 BY ItemType, ItemId, VersionKnownAt "
        "LIMIT 40"
    ).result_rows
    expected = {(str(r[0]), str(r[1]), r[-1]): tuple(r[:-1]) for r in pieces}
    assert len(expected) == 40
    assert version_rows(migrated, list(expected)) == expected
    only_items, only_pieces = list(expected)[:2]
    version = "ItemType = {t:String} AND ItemId = {i:String} AND {known} = {k:DateTime64(3, 'UTC')}"
    for table, known, gone in (
        ("close_item_rows", "KnownAt", only_items),
        ("close_item_pieces", "VersionKnownAt", only_items),
        ("close_item_rows", "KnownAt", only_pieces),
        ("close_items", "KnownAt", only_pieces),
    ):
        migrated.command(
            f"ALTER TABLE {table} DELETE WHERE {version.replace('{known}', known)}",
            parameters={"t": gone[0], "i": gone[1], "k": gone[2]},
            settings={"mutations_sync": 2},
        )
    for gone in (only_items, only_pieces):
        parameters = {"types": [gone[0]], "ids": [gone[1]], "versions": [gone[2]]}
        assert not migrated.query(VERSION_ROWS, parameters=parameters).result_rows
    assert version_rows(migrated, list(expected)) == expected


class RefusedOnce(Reads):
    """``Reads`` that refuses the next at-risk read once armed (``arm``), as the engine refuses
    a read past one of its limits; counts the at-risk reads."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.at_risk = 0

    def arm(self) -> None:
        self.armed = True

    def _record(self, client: Client) -> Client:
        recorded = super()._record(client)
        reads = self

        class Refusing:
            def __getattr__(self, name: str) -> Any:
                return getattr(recorded, name)

            def query(self, statement: str, **kwargs: Any) -> Any:
                if statement.startswith(AT_RISK):
                    with reads._lock:
                        reads.at_risk += 1
                        refuse, reads.armed = reads.armed, False
                    if refuse:
                        raise DatabaseError("Code: 241. MEMORY_LIMIT_EXCEEDED (refused by a test)")
                return recorded.query(statement, **kwargs)

        return Refusing()  # type: ignore[return-value]


def test_a_refused_read_ahead_of_the_items_at_risk_falls_back_to_the_answers_own_pairs(
    migrated: Client,
    engine_url: str,
    database: str,
    quarter: BusinessState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every period's answer reads ahead the items at risk of the pairs earlier answers found: a
    read the engine refuses (its limits apply to the wider read, not to the answer's own) does
    not fail the answer, which reads its own pairs instead and gives the answer read in turn;
    the next answer reads ahead again."""
    pool = ClientPool(engine_url, database=database)
    refused = RefusedOnce()
    beside = CloseRiskAnswers(lambda: refused.through(pool.client()), CalendarBook(), quarter)
    in_turn = CloseRiskAnswers(lambda: migrated, CalendarBook(), quarter)
    as_of = END - timedelta(days=9)
    try:
        expected = in_turn.report(None, as_of, None)
        assert expected[1]
        assert beside.report(None, as_of, None) == expected  # finds its pairs: one exact read
        assert refused.at_risk == 1
        refused.arm()
        with caplog.at_level("WARNING", logger="slas.close_state"):
            assert beside.report(None, as_of, None) == expected
        assert refused.at_risk == 3  # the refused read ahead, then the answer's own pairs
        assert "read ahead of" in caplog.text
        assert "MEMORY_LIMIT_EXCEEDED" in caplog.text
        assert beside.report(None, as_of, None) == expected
        assert refused.at_risk == 4  # read ahead again, and kept
        assert refused.running == 0
    finally:
        pool.close()


def test_every_periods_answers_asked_at_once_are_the_answers_asked_in_turn(
    migrated: Client, engine_url: str, database: str, quarter: BusinessState
) -> None:
    """Requests share one ``CloseRiskAnswers`` (its pairs found, its kept rows and attempts):
    answers asked from several threads at once, at instants that find different pairs, are the
    answers asked one after the other."""
    pool = ClientPool(engine_url, database=database)
    shared = CloseRiskAnswers(pool.client, CalendarBook(), quarter)
    in_turn = CloseRiskAnswers(lambda: migrated, CalendarBook(), quarter)
    instants = [END - timedelta(days=d, hours=d) for d in (1, 9, 20, 33, 47, 60)]
    expected = {as_of: in_turn.report(None, as_of, None) for as_of in instants}
    got: dict[tuple[int, datetime], tuple[datetime, list[dict[str, Any]]]] = {}
    failed: list[BaseException] = []
    start = threading.Barrier(4)

    def ask(asker: int) -> None:
        try:
            start.wait()
            # from the earliest instant on: a later one finds pairs the earlier ones did not
            for as_of in sorted(instants):
                got[asker, as_of] = shared.report(None, as_of, None)
        except BaseException as error:  # reported below, on the test's thread
            failed.append(error)

    askers = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    try:
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join(300)
        assert not failed
        assert len(got) == 4 * len(instants)
        for (_, as_of), answer in got.items():
            assert answer == expected[as_of]
    finally:
        pool.close()
