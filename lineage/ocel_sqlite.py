"""The OCEL 2.0 relational schema in a SQLite file, filled page by page (``lineage.ocel_log``):
``event``, ``object``, ``event_object``, ``object_object``, ``event_map_type``,
``object_map_type`` and one ``event_<Type>`` / ``object_<Type>`` table per type with its typed
attribute columns. The file is the SQLite export; for the JSON export it only gathers objects
(each once, however many pages touch it) and their O2O links, on disk, so that memory stays flat.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pyarrow.compute as pc

from lineage.ocel import EVENT_ATTRIBUTES, OBJECT_ATTRIBUTES
from lineage.ocel_log import Describe, LogPage, ObjectState
from warehouse.pool import READERS

LOG_EVENT_ATTRIBUTES: Final = (
    *EVENT_ATTRIBUTES,
    ("legal_entity", "string"),
    ("customer", "string"),
)
"""The period log's event attributes: the lineage export's, plus the resolved dimensions."""

INITIAL_TIME: Final = "1970-01-01T00:00:00Z"
"""OCEL 2.0's time of an object attribute's initial value."""

SQL_TYPES: Final = {"string": "TEXT", "float": "REAL", "integer": "INTEGER", "time": "TEXT"}

BATCH: Final = 10_000
"""Objects described at once (``fill_objects``)."""

SCHEMA: Final = (
    "CREATE TABLE event (ocel_id TEXT PRIMARY KEY, ocel_type TEXT)",
    "CREATE TABLE event_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT)",
    "CREATE TABLE event_object (ocel_event_id TEXT, ocel_object_id TEXT, ocel_qualifier TEXT,"
    " PRIMARY KEY (ocel_event_id, ocel_object_id, ocel_qualifier))",
    "CREATE TABLE object (ocel_id TEXT PRIMARY KEY, ocel_type TEXT)",
    "CREATE TABLE object_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT)",
    "CREATE TABLE object_object (ocel_source_id TEXT, ocel_target_id TEXT, ocel_qualifier TEXT,"
    " PRIMARY KEY (ocel_source_id, ocel_target_id, ocel_qualifier))",
)


def _json_float(column: str) -> str:
    """A REAL as Python's ``repr`` writes it: the fewest significant digits (up to 17) that read
    back as the same double, a whole number with ``.0`` (amounts are below 10^14, where neither
    writes an exponent)."""
    digits = [f"printf('%!.{n}g', {column})" for n in (15, 16)]
    tests = " ".join(f"WHEN CAST({d} AS REAL) = {column} THEN {d}" for d in digits)
    return f"CASE {tests} ELSE printf('%!.17g', {column}) END"


def _json_value(column: str, kind: str) -> str:
    return _json_float(column) if kind == "float" else f"json_quote({column})"


_OBJECT_ATTRIBUTE_ITEMS = " || ".join(
    f"""CASE WHEN o."{name}" IS NULL THEN '' ELSE ',{{"name":' || json_quote('{name}') ||
        ',"time":"{INITIAL_TIME}","value":' || {_json_value(f'o."{name}"', kind)} || '}}' END"""
    for name, kind in OBJECT_ATTRIBUTES
)

_OBJECT_RECORDS = f"""
SELECT '{{"id":' || json_quote(o.ocel_id) || ',"type":' || json_quote(:type) ||
    ',"attributes":[' || substr({_OBJECT_ATTRIBUTE_ITEMS}, 2) || '],"relationships":[' ||
    coalesce((
        SELECT group_concat('{{"objectId":' || json_quote(ocel_target_id) ||
            ',"qualifier":' || json_quote(ocel_qualifier) || '}}', ',')
        FROM object_object WHERE ocel_source_id = o.ocel_id
    ), '') || ']}}'
FROM "{{table}}" AS o
ORDER BY o.ocel_id
"""
"""The OCEL JSON records of one object type's table (``{{table}}``, an identifier we made), each
with its O2O relationships in the order of ``object_object``'s key (source, target, qualifier),
the index its lookup reads."""


def type_map_name(type_name: str, taken: set[str]) -> str:
    """A table-name suffix for a type: ``invoice.posted`` → ``InvoicePosted``, made unique."""
    base = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", type_name) if part)
    name, number = base or "Type", 1
    while name.lower() in taken:
        number += 1
        name = f"{base or 'Type'}{number}"
    return name


class OcelDatabase:
    """An OCEL 2.0 SQLite file under construction at ``path``; ``with_events=False`` keeps only
    the objects and their links (the JSON export streams its events as they are read)."""

    def __init__(self, path: Path, *, with_events: bool = True) -> None:
        self.path = path
        self.with_events = with_events
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # the facts of objects produced inside the log, in a file of its own: not part of the
        # export
        scratch = path.with_name(f"{path.stem}-produced.sqlite")
        self._db.execute("ATTACH DATABASE ? AS scratch", (str(scratch),))
        # scratch files: nothing to recover after a crash; the page cache is bounded (16 MiB)
        for pragma in (
            "journal_mode = OFF",
            "scratch.journal_mode = OFF",
            "synchronous = OFF",
            "scratch.synchronous = OFF",
            "cache_size = -16384",
        ):
            self._db.execute(f"PRAGMA {pragma}")
        for statement in SCHEMA:
            # the JSON export's file is scratch, read by key only: one B-tree per table, not a
            # table and its key's index (the SQLite export keeps the standard's schema)
            self._db.execute(statement if with_events else f"{statement} WITHOUT ROWID")
        self._db.execute(
            "CREATE TABLE scratch.produced (ocel_id TEXT PRIMARY KEY, at INTEGER, amount TEXT, "
            "currency TEXT, legal_entity TEXT, customer TEXT, status TEXT)"
        )
        self._tables: dict[tuple[str, str], str] = {}
        self._mapped: dict[str, set[str]] = {"event": set(), "object": set()}
        self.events = 0
        self.objects = 0
        self._stored_types: list[str] | None = None
        """The object types stored, once every page is (read when the objects are filled)."""

    def close(self) -> None:
        self._db.execute("DETACH DATABASE scratch")
        self._db.close()

    def _table(self, kind: str, type_name: str) -> str:
        """The per-type table of ``kind`` (event or object), created on first use."""
        found = self._tables.get((kind, type_name))
        if found is not None:
            return found
        mapped = type_map_name(type_name, self._mapped[kind])
        self._mapped[kind].add(mapped.lower())
        table = f"{kind}_{mapped}"
        attributes = LOG_EVENT_ATTRIBUTES if kind == "event" else OBJECT_ATTRIBUTES
        columns = ", ".join(f'"{name}" {SQL_TYPES[kind_]}' for name, kind_ in attributes)
        fixed = "ocel_id TEXT PRIMARY KEY, ocel_time TEXT" + (
            ", ocel_changed_field TEXT" if kind == "object" else ""
        )
        self._db.execute(f'CREATE TABLE "{table}" ({fixed}, {columns})')
        self._db.execute(
            f"INSERT INTO {kind}_map_type (ocel_type, ocel_type_map) VALUES (?, ?)",
            (type_name, mapped),
        )
        self._tables[(kind, type_name)] = table
        return table

    def add(self, page: LogPage) -> None:
        """Store one page in one transaction: its events (when kept), the objects they touch
        (each once) and its O2O links."""
        db = self._db
        db.execute("BEGIN")
        if self.with_events:
            self._add_events(page)
        db.executemany(
            "INSERT OR IGNORE INTO object (ocel_id, ocel_type) VALUES (?, ?)", page.objects
        )
        db.executemany("INSERT OR IGNORE INTO object_object VALUES (?, ?, ?)", page.links)
        db.executemany(
            "INSERT INTO scratch.produced VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ocel_id) "
            "DO UPDATE SET at = excluded.at, amount = excluded.amount, "
            "currency = excluded.currency, legal_entity = excluded.legal_entity, "
            "customer = excluded.customer, status = excluded.status WHERE excluded.at < at",
            page.produced,
        )
        db.execute("COMMIT")

    def _produced(self, oids: list[str]) -> dict[str, ObjectState]:
        marks = ", ".join("?" * len(oids))
        rows = self._db.execute(
            "SELECT ocel_id, amount, currency, legal_entity, customer, status "
            f"FROM scratch.produced WHERE ocel_id IN ({marks})",
            oids,
        )
        return {
            oid: ObjectState(
                None if amount is None else Decimal(amount), currency, entity, customer, status
            )
            for oid, amount, currency, entity, customer, status in rows
        }

    def _object_batch(self, after: tuple[str, str]) -> list[tuple[str, str]]:
        """The next ``BATCH`` stored objects (OCEL id, type) after ``after``, by type then id.
        An OCEL id is its type, a colon and its id, so one type's objects are one range of the
        table's key: each type's are read through that index (``end``, the type followed by the
        character after the colon), not sorted whole for every batch."""
        oid, type_name = after
        batch: list[tuple[str, str]] = []
        for name in (t for t in self._object_types() if t >= type_name):
            batch += self._db.execute(
                "SELECT ocel_id, ocel_type FROM object WHERE ocel_id > ? AND ocel_id < ? "
                "AND ocel_type = ? ORDER BY ocel_id LIMIT ?",
                (oid if name == type_name else name, f"{name};", name, BATCH - len(batch)),
            ).fetchall()
            if len(batch) == BATCH:
                break
        return batch

    def _object_types(self) -> list[str]:
        if self._stored_types is None:
            rows = self._db.execute("SELECT DISTINCT ocel_type FROM object ORDER BY ocel_type")
            self._stored_types = [name for (name,) in rows]
        return self._stored_types

    def fill_objects(self, describe: Describe) -> None:
        """Write every stored object's attributes into its type's table, ``BATCH`` objects (of
        one type, by id) at a time: ``describe`` says what is known of each, one batch ahead on a
        ``warehouse.pool.READERS`` thread while this one writes (this file is only touched
        here)."""

        def ahead(batch: list[tuple[str, str]]) -> Future[dict[str, ObjectState]] | None:
            if not batch:
                return None
            return READERS.submit(describe, batch, self._produced([oid for oid, _ in batch]))

        batch = self._object_batch(("", ""))
        pending = ahead(batch)
        try:
            while pending is not None:
                states = pending.result()
                written, batch = batch, self._object_batch(batch[-1])
                pending = ahead(batch)
                self._write_objects(written, states)
        finally:
            if pending is not None and not pending.cancel():
                pending.exception()

    def _write_objects(self, batch: list[tuple[str, str]], states: dict[str, ObjectState]) -> None:
        self._db.execute("BEGIN")
        by_type: dict[str, list[tuple[Any, ...]]] = {}
        for oid, type_name in batch:
            by_type.setdefault(type_name, []).append(
                (oid, INITIAL_TIME, None, *states[oid].values())
            )
        for type_name, rows in by_type.items():
            marks = ", ".join("?" * (3 + len(OBJECT_ATTRIBUTES)))
            table = self._table("object", type_name)
            self._db.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
            self.objects += len(rows)
        self._db.execute("COMMIT")

    def _add_events(self, page: LogPage) -> None:
        """The page's events into their types' tables and ``event`` (each type's rows in id
        order, the types as the page first names them), fed from the page's columns."""
        rows = page.table
        if rows is not None and rows.num_rows:
            types = rows.column(0)
            marks = ", ".join("?" * (2 + len(LOG_EVENT_ATTRIBUTES)))
            named = pc.unique(types).to_pylist()
            for type_name in named:
                part = rows if len(named) == 1 else rows.filter(pc.equal(types, type_name))
                columns = [column.to_pylist() for column in part.columns[1:]]
                table = self._table("event", type_name)
                self._db.executemany(
                    f'INSERT INTO "{table}" VALUES ({marks})', zip(*columns, strict=True)
                )
                self._db.executemany(
                    "INSERT INTO event (ocel_id, ocel_type) VALUES (?, ?)",
                    zip(columns[0], itertools.repeat(type_name)),
                )
            self.events += rows.num_rows
        self._db.executemany(
            "INSERT OR IGNORE INTO event_object VALUES (?, ?, ?)", zip(*page.relations, strict=True)
        )

    def types(self, kind: str) -> list[str]:
        """The event or object types stored, sorted."""
        return sorted(t for k, t in self._tables if k == kind)

    def json_objects(self) -> Iterator[str]:
        """Every stored object as the text of its OCEL 2.0 JSON record, by type then id, with
        its attributes (initial values) and its qualified O2O relationships (by target, then
        qualifier), written by SQLite as the export's encoder writes JSON."""
        for type_name in self.types("object"):
            table = self._tables[("object", type_name)]
            yield from (
                text
                for (text,) in self._db.execute(
                    _OBJECT_RECORDS.replace("{table}", table), {"type": type_name}
                )
            )
