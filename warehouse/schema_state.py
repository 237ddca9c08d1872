"""Small named values the service keeps in ``syncsight_schema_state``: the rules the views were
generated from, the SLA timer state's watermark, whether a rebuild is running. The latest write of
a key wins."""

from __future__ import annotations

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


def write_state(client: Client, key: str, value: str, *, at: datetime) -> None:
    write_states(client, {key: value}, at=at)


def write_states(client: Client, values: dict[str, str], *, at: datetime) -> None:
    """Several keys in one insert (one part: a reader sees all of them or none)."""
    client.insert(
        SCHEMA_STATE,
        [[key, value, at] for key, value in values.items()],
        column_names=["Key", "Value", "UpdatedAt"],
    )
