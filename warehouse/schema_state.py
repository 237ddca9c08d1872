"""Small named values the service keeps in ``syncsight_schema_state``: the rules the views were
generated from, the SLA timer state's watermark, whether a rebuild is running. The latest write of
a key wins."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime

from clickhouse_connect.driver.client import Client

from domain.instants import utc
from warehouse.schema import SCHEMA_STATE

REBUILD_KEY = "business_rebuild"
"""``running`` while ``rebuild`` re-derives the business tables (the state keeper waits), then
``done``."""

READ_STATE = f"""
SELECT Key, argMax(Value, UpdatedAt), max(UpdatedAt)
FROM {SCHEMA_STATE}
WHERE Key IN {{keys:Array(String)}}
GROUP BY Key
"""


def read_state(client: Client, *keys: str) -> dict[str, tuple[str, datetime]]:
    """Key → (latest value, when it was written), for the keys that were ever written."""
    rows = client.query(READ_STATE, parameters={"keys": list(keys)}).result_rows
    return {str(key): (str(value), utc(at)) for key, value, at in rows}


class _Writes:
    """How many times this process wrote the schema state: a reading taken since the last write
    is what this process left there (``writes``)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count = next(self._counter)


_WRITES = _Writes()


def writes() -> int:
    """How many times this process wrote the schema state (``write_states``; a migration
    applied writes the rules' fingerprint). A reading of it taken when this was the same is
    still current, as far as this process's writes go."""
    return _WRITES.count


def write_state(client: Client, key: str, value: str, *, at: datetime) -> None:
    write_states(client, {key: value}, at=at)


def write_states(client: Client, values: dict[str, str], *, at: datetime) -> None:
    """Several keys in one insert (one part: a reader sees all of them or none)."""
    client.insert(
        SCHEMA_STATE,
        [[key, value, at] for key, value in values.items()],
        column_names=["Key", "Value", "UpdatedAt"],
    )
    _WRITES.add()
