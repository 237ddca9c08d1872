"""The period log's objects, gathered in the SQLite store (``lineage.ocel_sqlite``) and described
by the engine (``lineage.ocel_log.describe_objects``), are written as the export's encoder writes
them, byte for byte: attributes left out when unknown, amounts as Python spells floats, strings
with quotes, backslashes, controls, slashes, line separators and letters beyond ASCII, a legal
entity or customer its own id, and the O2O relationships ordered by target then qualifier; the
SQLite shape holds the same values."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from lineage.ocel import BELONGS_TO, DERIVED_FROM, JSON_ENCODER, OBJECT_ATTRIBUTES
from lineage.ocel_log import LogPage, describe_objects
from lineage.ocel_sqlite import BATCH, INITIAL_TIME, OcelDatabase
from lineage.rules import LineageRules
from slas.ocel_states import BusinessStateFacts

Facts = tuple[Decimal | None, str, str, str, str]
"""What the log's producer says of an object: amount, currency, legal entity, customer, outcome."""

PRODUCED: dict[str, Facts] = {
    "invoice:INV-1": (Decimal("1500"), "EUR", "LE-DE01", "CUS-1", "posted"),
    "invoice:INV/2": (Decimal("0.1"), "EUR", "LE-DE01", 'CUS "quoted" \\ $refs$', "open"),
    "invoice:INV-ü3": (Decimal("123456789012.3456"), "USD", "LE-US01", "", ""),
    "invoice:INV-4": (Decimal("0.0001"), "", "", "tab\tnl\ncontrol\x01\x1f\x7f \u2028😀", ""),
    "invoice:INV-5": (Decimal("99999999999999.9999"), "", "", "", ""),
    "invoice:INV-7": (None, "", "", "", "failed"),
    "project:PRJ-1": (Decimal("-42.5"), "EUR", "", "", "blocked"),
}
NOT_PRODUCED = ("invoice:INV-6", "legal_entity:LE-\x0b/ü", "customer:CUS-1")
"""Objects no event of the log produced (and none stored): only a dimension says anything, its
own id."""
LINKS = [
    ("invoice:INV-1", "project:PRJ-1", DERIVED_FROM),
    ("invoice:INV-1", "legal_entity:LE-\x0b/ü", BELONGS_TO),
    ("invoice:INV-1", "billing_event:BE-1", DERIVED_FROM),
    ("invoice:INV-1", "billing_event:BE-1", BELONGS_TO),
    ("invoice:INV/2", "project:PRJ-1", DERIVED_FROM),
]


def values(oid: str) -> tuple[Any, ...]:
    """The object's attribute values as the export knows them (None: unknown)."""
    object_type, object_id = oid.split(":", 1)
    amount, currency, entity, customer, status = PRODUCED.get(oid, (None, "", "", "", ""))
    if object_type == "legal_entity":
        entity = object_id
    if object_type == "customer":
        customer = object_id
    return (
        None if amount is None else float(amount),
        currency or None,
        entity or None,
        customer or None,
        status or None,
    )


def expected(oid: str) -> str:
    """The record as the encoder writes it from Python values."""
    record: dict[str, Any] = {
        "id": oid,
        "type": oid.split(":")[0],
        "attributes": [
            {"name": name, "time": INITIAL_TIME, "value": value}
            for (name, _), value in zip(OBJECT_ATTRIBUTES, values(oid), strict=True)
            if value is not None
        ],
        "relationships": [
            {"objectId": target, "qualifier": how}
            for source, target, how in sorted(LINKS)
            if source == oid
        ],
    }
    return JSON_ENCODER.encode(record)


def stored(path: Path, with_events: bool, batch: int = BATCH) -> OcelDatabase:
    database = OcelDatabase(path, with_events=with_events, batch=batch)
    objects = [(oid, oid.split(":")[0]) for oid in [*PRODUCED, *NOT_PRODUCED]]
    produced = [
        (oid, 0, None if amount is None else str(amount), currency, entity, customer, status)
        for oid, (amount, currency, entity, customer, status) in PRODUCED.items()
    ]
    database.add(LogPage([], None, ([], [], []), set(), objects, LINKS, 0, produced))
    return database


def order() -> list[str]:
    return sorted([*PRODUCED, *NOT_PRODUCED], key=lambda oid: (oid.split(":")[0], oid))


def test_object_records_are_what_the_encoder_writes(migrated: Client, tmp_path: Path) -> None:
    """Every object's record equals the encoder's, in type then id order."""
    describe = describe_objects(
        lambda: migrated, LineageRules.default(), BusinessStateFacts(), datetime.now(UTC),
        shape="json",
    )  # fmt: skip
    database = stored(tmp_path / "objects.sqlite", with_events=False)
    try:
        text = b",".join(database.json_objects(describe))
    finally:
        database.close()
    assert text == ",".join(expected(oid) for oid in order()).encode()


@pytest.mark.parametrize("batch", [2, 10_000])
def test_object_rows_hold_the_same_values(migrated: Client, tmp_path: Path, batch: int) -> None:
    """The SQLite shape writes each object's values into its type's table, whatever the batch."""
    describe = describe_objects(
        lambda: migrated, LineageRules.default(), BusinessStateFacts(), datetime.now(UTC),
        shape="sqlite",
    )  # fmt: skip
    database = stored(tmp_path / "log.sqlite", with_events=True, batch=batch)
    try:
        database.fill_objects(describe)
    finally:
        database.close()
    with sqlite3.connect(tmp_path / "log.sqlite") as db:
        tables = dict(db.execute("SELECT ocel_type, ocel_type_map FROM object_map_type"))
        rows = {
            oid: tuple(rest)
            for object_type, mapped in tables.items()
            for oid, *rest in db.execute(f'SELECT * FROM "object_{mapped}"')
        }
    assert rows == {oid: (INITIAL_TIME, None, *values(oid)) for oid in order()}
