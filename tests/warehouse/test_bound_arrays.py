"""Long ``IN`` lists bound a run at a time (``warehouse.bound_arrays``): the runs, and the same
rows and nodes as one statement gives."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from lineage.queries import events_by_id
from tests.lineage.events import chain
from tests.lineage.test_conflicts import load
from warehouse import bound_arrays
from warehouse.bound_arrays import rows_by_runs, runs


class TestRuns:
    @pytest.mark.parametrize(
        ("values", "elements", "size", "expected"),
        [
            (["a", "b", "c", "d", "e"], 2, 100, [["a", "b"], ["c", "d"], ["e"]]),
            (["aaa", "bbb", "ccc"], 10, 6, [["aaa", "bbb"], ["ccc"]]),
            (["a", "a-very-long-id", "b"], 10, 5, [["a"], ["a-very-long-id"], ["b"]]),
            (["a"], 1, 1, [["a"]]),
            ([], 2, 10, []),
        ],
    )
    def test_runs_hold_at_most_so_many_elements_and_characters(
        self, values: list[str], elements: int, size: int, expected: list[list[str]]
    ) -> None:
        """Consecutive, in order, every element once; one longer than ``size`` stands alone."""
        assert [list(run) for run in runs(values, elements=elements, size=size)] == expected


LOOKUP = "SELECT number FROM numbers(100) WHERE toString(number) IN {ids:Array(String)}"


def test_a_long_list_read_in_runs_gives_the_rows_of_one_statement(
    migrated: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """37 ids in runs of 5: every matching row once, as the one statement returns them."""
    ids = [str(n) for n in range(0, 111, 3)]
    whole = sorted(rows_by_runs(migrated, LOOKUP, {"ids": ids}, "ids"))
    monkeypatch.setattr(bound_arrays, "MAX_ELEMENTS", 5)
    statements = statements_of(migrated, monkeypatch)
    assert sorted(rows_by_runs(migrated, LOOKUP, {"ids": ids}, "ids")) == whole
    assert whole == [(n,) for n in range(0, 100, 3)]
    assert len(statements) == 8, "37 ids in runs of at most 5"


def statements_of(client: Client, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts of the statements ``client.query`` runs from now on."""
    statements: list[str] = []
    query = client.query

    def recorded(sql: str, *args: object, **kwargs: object) -> object:
        statements.append(sql)
        return query(sql, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "query", recorded)
    return statements


def test_events_read_by_id_in_runs_are_the_nodes_of_one_read(
    migrated: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lineage's nodes read by id, one id a statement, are the nodes one statement reads:
    every attempt of an event comes back with its id, whichever run asked for it."""
    events = chain()
    load(migrated, events)
    load(migrated, [events[-1], events[0]])  # redeliveries: more stored rows of the same ids
    ids = [event.event_id for event in events] + ["no-such-event"]
    whole = events_by_id(migrated, ids)
    monkeypatch.setattr(bound_arrays, "MAX_ELEMENTS", 1)
    statements = statements_of(migrated, monkeypatch)
    assert events_by_id(migrated, ids) == whole
    assert set(whole) == {event.event_id for event in events}
    assert len([sql for sql in statements if "EventId IN {event_ids" in sql]) == len(ids)
