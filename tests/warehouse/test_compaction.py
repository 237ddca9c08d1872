"""When the evaluator merges the tables close risk reads (``warehouse.compaction``): on a tick
that wrote nothing after ticks that did, at most once every ``COMPACT_EVERY``; a failed merge is
tried again on the next quiet tick. The merge on the real engine is
tests/slas/test_close_item_pieces_faults.py's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from warehouse.compaction import QuietCompaction
from warehouse.schema import Topology


class Commands:
    """A client that keeps the commands it is given (and fails them while ``failing``)."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.failing = False

    def command(self, statement: str, **_: Any) -> None:
        if self.failing:
            raise RuntimeError("the engine is away")
        self.commands.append(statement)


def test_merges_once_the_state_goes_quiet_and_not_more_often_than_every() -> None:
    now = [0.0]
    compaction = QuietCompaction(Topology(), every=timedelta(minutes=10), clock=lambda: now[0])
    client = Commands()

    def tick(wrote: bool, at_minute: float) -> bool:
        now[0] = at_minute * 60
        return compaction.after_tick(client, wrote=wrote)  # type: ignore[arg-type]

    # start-up: the parts are not known, the first quiet tick merges
    assert tick(False, 0)
    assert client.commands == [
        "OPTIMIZE TABLE close_item_pieces FINAL SETTINGS optimize_skip_merged_partitions = 1",
        "OPTIMIZE TABLE close_items FINAL SETTINGS optimize_skip_merged_partitions = 1",
    ]
    assert [tick(False, m) for m in (0.25, 0.5, 20)] == [False] * 3  # nothing written since
    assert [tick(True, m) for m in (21, 22)] == [False] * 2  # writing: no tick waits for a merge
    assert tick(False, 23)  # quiet again, ten minutes after the last merge
    assert [tick(True, 24), tick(False, 25), tick(False, 32)] == [False] * 3  # too soon
    assert tick(False, 33.5)
    client.failing = True
    assert [tick(True, 50), tick(False, 51)] == [False] * 2
    client.failing = False
    assert not tick(False, 52)  # tried at 51: ten minutes on
    assert tick(False, 61)
    assert len(client.commands) == 8


def test_on_a_cluster_each_nodes_local_tables_are_merged() -> None:
    client = Commands()
    QuietCompaction(Topology("fleet")).after_tick(client, wrote=False)  # type: ignore[arg-type]
    assert client.commands[0] == (
        "OPTIMIZE TABLE close_item_pieces_local ON CLUSTER fleet FINAL"
        " SETTINGS optimize_skip_merged_partitions = 1"
    )
