"""A record of close items' replaced versions and state pieces (``slas.item_versions``,
``slas.close_item_pieces``) that died after its inserts and before its watermark moved: the next
record takes back the rows written past the watermark and writes them again, so every piece and
every daily sum counts once, and the answers summed from them stay the oracle's (and stay the
same once the tables the answers read are merged into one part each: ``warehouse.compaction``)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from slas import close_item_pieces, item_versions
from slas.calendars import CalendarBook
from slas.close_state import CloseRiskAnswers
from tests.slas.test_close_sums import PIECE_SUMS
from tests.slas.tiny_quarter import END, stream_with_late_arrivals
from warehouse.compaction import ANSWERED, compact
from warehouse.schema import Topology
from warehouse.schema_state import write_state

pytestmark = pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)

NET_PIECES = """
SELECT (ItemType, ItemId, VersionKnownAt, State, Begins, Ends), sum(Delta)
FROM close_item_pieces
GROUP BY ItemType, ItemId, VersionKnownAt, State, Begins, Ends
HAVING sum(Delta) != 0
"""
"""Each piece's net count: 1 for a piece in effect, none for one added and taken back."""


def _parts(client: Client) -> int:
    """The active parts of the tables ``warehouse.compaction`` merges."""
    return int(
        client.query(
            "SELECT count() FROM system.parts WHERE active AND database = currentDatabase()"
            " AND table IN {tables:Array(String)}",
            parameters={"tables": list(ANSWERED)},
        ).result_rows[0][0]
    )


def _net(client: Client) -> tuple[Counter[object], Counter[object]]:
    return (
        Counter(dict(client.query(NET_PIECES).result_rows)),
        Counter(dict(client.query(PIECE_SUMS).result_rows)),
    )


def test_a_record_that_died_before_its_watermark_counts_each_piece_once(
    migrated: Client, engine_url: str
) -> None:
    watermarks, keeper = stream_with_late_arrivals(migrated, engine_url, seed=9, chunk=160)
    net, sums = _net(migrated)
    assert sum(net.values()) > 100
    # the watermark as if every record after the middle tick had died after its inserts
    behind = watermarks[len(watermarks) // 2]
    stray = migrated.query(close_item_pieces.STRAY, parameters={"since": behind}).result_rows[0][0]
    assert stray > 0
    rows = migrated.query("SELECT count() FROM close_item_pieces").result_rows[0][0]
    time.sleep(0.002)
    write_state(migrated, item_versions.WATERMARK_KEY, behind.isoformat(), at=datetime.now(UTC))
    assert item_versions.watermark(migrated) == behind
    # recorded again in slices of the items' keys: the stray rows are taken back once, first
    item_versions.record_window(migrated, behind, watermarks[-1], most=5)
    write_state(
        migrated, item_versions.WATERMARK_KEY, watermarks[-1].isoformat(), at=datetime.now(UTC)
    )
    # the stray rows were taken back and written again, and every piece and daily sum nets as
    # before
    after = migrated.query("SELECT count() FROM close_item_pieces").result_rows[0][0]
    assert after == rows + 2 * stray
    assert _net(migrated) == (net, sums)
    book = CalendarBook()
    summed = CloseRiskAnswers(lambda: migrated, book, keeper)
    oracle = CloseRiskAnswers(lambda: migrated, book, keeper, from_sums=False)
    asked = [
        (as_of, known)
        for as_of in (END - timedelta(days=40), END - timedelta(days=3), END + timedelta(days=20))
        for known in (None, behind, watermarks[-2])
    ]
    answers = [summed.report(None, as_of, known) for as_of, known in asked]
    assert answers == [oracle.report(None, as_of, known) for as_of, known in asked]
    # merged into one part each, as the evaluator does when the state is quiet: the same answers
    assert _parts(migrated) > len(ANSWERED)
    compact(migrated, Topology())
    assert _parts(migrated) == len(ANSWERED)
    assert [summed.report(None, as_of, known) for as_of, known in asked] == answers
