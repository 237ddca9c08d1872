"""The period log's SQLite store (``lineage.ocel_sqlite``) writes each object's OCEL JSON record
as the export's encoder writes it, byte for byte: attributes left out when unknown, amounts as
Python spells floats, strings with quotes, controls, slashes and letters beyond ASCII, and the
O2O relationships ordered by target then qualifier."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lineage.ocel import BELONGS_TO, DERIVED_FROM, JSON_ENCODER, OBJECT_ATTRIBUTES
from lineage.ocel_log import LogPage, ObjectState
from lineage.ocel_sqlite import INITIAL_TIME, OcelDatabase

STATES = {
    "invoice:INV-1": ObjectState(Decimal("1500"), "EUR", "LE-DE01", "CUS-1", "posted"),
    "invoice:INV/2": ObjectState(Decimal("0.1"), "EUR", "LE-DE01", 'CUS "quoted"', "open"),
    "invoice:INV-ü3": ObjectState(Decimal("123456789012.3456"), "USD", "LE-US01"),
    "invoice:INV-4": ObjectState(Decimal("0.0001"), customer="tab\tnl\ncontrol\x01 \u2028"),
    "invoice:INV-5": ObjectState(Decimal("99999999999999.9999")),
    "invoice:INV-6": ObjectState(),
    "project:PRJ-1": ObjectState(Decimal("-42.5"), "EUR", status="blocked"),
}
LINKS = [
    ("invoice:INV-1", "project:PRJ-1", DERIVED_FROM),
    ("invoice:INV-1", "legal_entity:LE-DE01", BELONGS_TO),
    ("invoice:INV-1", "billing_event:BE-1", DERIVED_FROM),
    ("invoice:INV-1", "billing_event:BE-1", BELONGS_TO),
    ("invoice:INV/2", "project:PRJ-1", DERIVED_FROM),
    ("invoice:INV-ü3", 'customer:CUS "quoted"\t/', BELONGS_TO),
    ("project:PRJ-1", "contract:C-1", DERIVED_FROM),
]


def columns(rows: list[tuple[Any, ...]], width: int) -> tuple[list[Any], ...]:
    """Rows as the columns a page carries them in."""
    return tuple([row[n] for row in rows] for n in range(width))


def page(
    objects: list[tuple[str, str]],
    links: list[tuple[str, str, str]],
    produced: list[tuple[Any, ...]],
) -> LogPage:
    """A page of no events that names ``objects`` and carries ``links`` and ``produced``."""
    return LogPage(
        [], None, ([], [], []), set(), columns(objects, 2), columns(links, 3), 0,
        columns(produced, 7),
    )  # fmt: skip


def expected(oid: str, state: ObjectState) -> str:
    """The record as the encoder writes it from Python values."""
    record: dict[str, Any] = {
        "id": oid,
        "type": oid.split(":")[0],
        "attributes": [
            {"name": name, "time": INITIAL_TIME, "value": value}
            for (name, _), value in zip(OBJECT_ATTRIBUTES, state.values(), strict=True)
            if value is not None
        ],
        "relationships": [
            {"objectId": target, "qualifier": how}
            for source, target, how in sorted(LINKS)
            if source == oid
        ],
    }
    return JSON_ENCODER.encode(record)


@pytest.mark.parametrize("with_events", [True, False])
def test_object_records_are_what_the_encoder_writes(tmp_path: Path, with_events: bool) -> None:
    """Every object's text equals the encoder's, in type then id order."""
    database = OcelDatabase(tmp_path / "log.sqlite", with_events=with_events)
    objects = [(oid, oid.split(":")[0]) for oid in STATES]
    try:
        database.add(page(objects, LINKS, []))
        texts = list(database.json_objects(lambda batch, _: {oid: STATES[oid] for oid, _ in batch}))
    finally:
        database.close()
    order = sorted(objects, key=lambda o: (o[1], o[0]))
    assert texts == [expected(oid, STATES[oid]) for oid, _ in order]


def test_objects_are_described_with_the_facts_of_their_first_producer_in_the_log(
    tmp_path: Path,
) -> None:
    """``describe`` is given, for each object of a batch, the facts of the earliest event inside
    the log that produced it (whichever page stored it first), and none for the others."""
    database = OcelDatabase(tmp_path / "log.sqlite", with_events=False)
    objects = [(oid, oid.split(":")[0]) for oid in STATES]
    late = ("invoice:INV-1", 20, "9.0000", "USD", "LE-US01", "CUS-2", "failed")
    early = ("invoice:INV-1", 10, "1500.0000", "EUR", "LE-DE01", "CUS-1", "success")
    given: dict[str, ObjectState] = {}

    def describe(batch: list[tuple[str, str]], produced: Any) -> dict[str, ObjectState]:
        given.update(produced)
        return {oid: ObjectState() for oid, _ in batch}

    try:
        database.add(page(objects, [], [late]))
        database.add(page(objects[:2], [], [early]))
        assert len(list(database.json_objects(describe))) == len(STATES)
    finally:
        database.close()
    assert given == {
        "invoice:INV-1": ObjectState(Decimal("1500.0000"), "EUR", "LE-DE01", "CUS-1", "success")
    }
