"""Reads whose ``IN {name:Array(String)}`` list may be long, run as several statements.

The engine (chdb 4.4.0, ClickHouse 26.9) turns a bound array on the right of ``IN`` into a set only
up to a size: past it (41,000 ids of about 20 characters were fast, 42,000 were not; 22,000 of 45
characters and 100,000 of 5 were slow too, so it is neither a count nor a byte size alone) it
compares every row with every element. On the
medium quarter ``biz_event_objects`` (390,000 rows) by 41,000 ids took 0.15 s, by 42,000 100 s;
the lineage completeness of 2026-09 asked 74,021 objects in one traversal step and ran 143 s for
that step alone (benchmarks/history/lineage.md, "A long IN list"). Split well below where the
cliff was seen, the same read takes the set path each time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from clickhouse_connect.driver.client import Client

MAX_ELEMENTS: Final = 10_000
"""Elements of the split list one statement binds at most."""

MAX_BYTES: Final = 200_000
"""Characters of the split list's elements one statement binds at most (ids of 45 characters
crossed the cliff at 22,000, about 1 MB)."""


def runs(
    values: Sequence[str], *, elements: int = MAX_ELEMENTS, size: int = MAX_BYTES
) -> Iterator[Sequence[str]]:
    """``values`` in consecutive runs of at most ``elements`` elements and ``size`` characters
    (a longer single element is a run of its own)."""
    start, held = 0, 0
    for index, value in enumerate(values):
        if index > start and (index - start >= elements or held + len(value) > size):
            yield values[start:index]
            start, held = index, 0
        held += len(value)
    if start < len(values):
        yield values[start:]


def rows_by_runs(
    client: Client, sql: str, parameters: dict[str, Any], name: str
) -> list[Sequence[Any]]:
    """The rows of ``sql`` with ``parameters``, the list under ``name`` bound a run at a time
    (``runs``): for a read whose rows each match one element of that list (a lookup by it), the
    rows of one statement over the whole list (a list within one run is one statement; an empty
    one, none)."""
    rows: list[Sequence[Any]] = []
    for run in runs(parameters[name], elements=MAX_ELEMENTS, size=MAX_BYTES):
        rows += client.query(sql, parameters={**parameters, name: list(run)}).result_rows
    return rows
