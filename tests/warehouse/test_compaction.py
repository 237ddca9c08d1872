"""When the evaluator merges the tables close risk reads (``warehouse.compaction``), on the real
engine: on a tick that wrote nothing after ticks that did, at most once every ``COMPACT_EVERY``;
a failed merge is tried again on the next quiet tick. That the answers stay the same is
tests/slas/test_close_item_pieces_faults.py's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from clickhouse_connect.driver.client import Client

from warehouse.compaction import QuietCompaction
from warehouse.schema import CLOSE_ITEM_PIECES, Topology

PARTS = """SELECT count() FROM system.parts
WHERE active AND database = currentDatabase() AND table = {table:String}"""


def _parts(client: Client) -> int:
    return int(client.query(PARTS, parameters={"table": CLOSE_ITEM_PIECES}).result_rows[0][0])


def _write_a_part(client: Client) -> None:
    client.command(f"INSERT INTO {CLOSE_ITEM_PIECES} (ItemId, Delta) VALUES ('item', 1)")


def _failures(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage() == "merging the close-risk tables failed" for r in caplog.records)


class TestQuietCompaction:
    def test_merges_once_the_state_goes_quiet_and_not_more_often_than_every(
        self, migrated: Client
    ) -> None:
        """Merged on the first quiet tick, not while ticks write, not again within ten
        minutes."""
        now = [0.0]
        quiet = QuietCompaction(Topology(), every=timedelta(minutes=10), clock=lambda: now[0])

        def tick(*, wrote: bool, at_minute: float) -> bool:
            now[0] = at_minute * 60
            if wrote:
                _write_a_part(migrated)
            return quiet.after_tick(migrated, wrote=wrote)

        _write_a_part(migrated)
        _write_a_part(migrated)
        assert _parts(migrated) == 2
        assert tick(wrote=False, at_minute=0)  # start-up: the parts are not known
        assert _parts(migrated) == 1
        assert not tick(wrote=True, at_minute=1)  # writing: no tick waits for a merge
        assert not tick(wrote=True, at_minute=11)
        assert _parts(migrated) == 3
        assert tick(wrote=False, at_minute=12)
        assert _parts(migrated) == 1
        assert not tick(wrote=True, at_minute=13)
        assert not tick(wrote=False, at_minute=20)  # ten minutes after the last merge: not yet
        assert _parts(migrated) == 2
        assert tick(wrote=False, at_minute=22.5)
        assert _parts(migrated) == 1
        assert not tick(wrote=False, at_minute=40)  # nothing written since

    def test_a_long_merge_waits_a_hundred_times_as_long_for_the_next(
        self, migrated: Client
    ) -> None:
        """After a merge that took 20 s (the clock moves 20 s a read) the next waits 2,000 s,
        not ten minutes."""
        now = [0.0]

        def clock() -> float:
            now[0] += 20
            return now[0]

        quiet = QuietCompaction(Topology(), every=timedelta(minutes=10), clock=clock)
        assert quiet.after_tick(migrated, wrote=False)  # began at 20 s, took 20
        assert not quiet.after_tick(migrated, wrote=True)
        now[0] = 1_000.0
        assert not quiet.after_tick(migrated, wrote=False)
        now[0] = 2_000.0
        assert quiet.after_tick(migrated, wrote=False)

    def test_a_failed_merge_is_tried_again_on_a_later_quiet_tick(
        self, migrated: Client, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A cluster the engine does not know fails the merge: logged, and due again."""
        now = [0.0]
        quiet = QuietCompaction(Topology("nowhere"), clock=lambda: now[0])
        assert not quiet.after_tick(migrated, wrote=False)
        assert _failures(caplog) == 1
        now[0] = 60.0
        assert not quiet.after_tick(migrated, wrote=False)  # within ten minutes of the try
        assert _failures(caplog) == 1
        now[0] = 601.0
        assert not quiet.after_tick(migrated, wrote=False)
        assert _failures(caplog) == 2
