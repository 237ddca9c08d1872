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
from pathlib import Path
from typing import Any, Final

import pyarrow.compute as pc

from lineage.ocel import EVENT_ATTRIBUTES, OBJECT_ATTRIBUTES
from lineage.ocel_log import Describe, LogPage, joined_text
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
"""Objects described at once (by type then id, a transaction of the SQLite export each)."""

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


_RELATIONSHIPS = """coalesce((
    SELECT group_concat('{"objectId":' || json_quote(ocel_target_id) ||
        ',"qualifier":' || json_quote(ocel_qualifier) || '}', ',')
    FROM object_object WHERE ocel_source_id = o.ocel_id
), '')"""
"""An object's O2O relationships as OCEL JSON text, in the order of ``object_object``'s key
(source, target, qualifier), the index its lookup reads (``json_quote`` spells strings as the
export's encoder does)."""

_OBJECT_BATCH = """
SELECT o.ocel_type, substr(o.ocel_id, length(o.ocel_type) + 2), o.ocel_id,
    p.ocel_id IS NOT NULL, coalesce(p.amount, ''), coalesce(p.currency, ''),
    coalesce(p.legal_entity, ''), coalesce(p.customer, ''), coalesce(p.status, ''),
    {relationships}
FROM object AS o LEFT JOIN scratch.produced AS p ON p.ocel_id = o.ocel_id
WHERE o.ocel_id > :after AND o.ocel_id < :end AND o.ocel_type = :type
ORDER BY o.ocel_id
LIMIT :limit
"""
"""The next objects of one type after ``after`` (``lineage.ocel_queries.OBJECT_BATCH_COLUMNS``),
in id order: an OCEL id is its type, a colon and its id, so one type's objects are one range of
the table's key (``end`` is the type followed by the character after the colon), read through
its index rather than sorted whole for every batch."""


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
    the objects and their links (the JSON export streams its events as they are read); objects
    are described ``batch`` at a time."""

    def __init__(self, path: Path, *, with_events: bool = True, batch: int = BATCH) -> None:
        self.path = path
        self.with_events = with_events
        self.batch = batch
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
            self._db.execute(statement)
        self._db.execute(
            "CREATE TABLE scratch.produced (ocel_id TEXT PRIMARY KEY, at INTEGER, amount TEXT, "
            "currency TEXT, legal_entity TEXT, customer TEXT, status TEXT)"
        )
        self._tables: dict[tuple[str, str], str] = {}
        self._mapped: dict[str, set[str]] = {"event": set(), "object": set()}
        self.events = 0
        self.objects = 0

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

    def object_types(self) -> list[str]:
        """The types of the objects stored, sorted."""
        rows = self._db.execute("SELECT DISTINCT ocel_type FROM object ORDER BY ocel_type")
        return [type_name for (type_name,) in rows]

    def _object_batches(self, relationships: bool) -> Iterator[list[tuple[Any, ...]]]:
        """Every stored object in batches of ``batch``, by type then id (a batch may hold the
        end of one type and the start of the next)."""
        query = _OBJECT_BATCH.format(relationships=_RELATIONSHIPS if relationships else "''")
        batch: list[tuple[Any, ...]] = []
        for type_name in self.object_types():
            after = type_name
            while rows := self._db.execute(
                query,
                {
                    "after": after,
                    "end": f"{type_name};",
                    "type": type_name,
                    "limit": self.batch - len(batch),
                },
            ).fetchall():
                batch += rows
                after = rows[-1][2]
                if len(batch) == self.batch:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _described(self, describe: Describe, relationships: bool) -> Iterator[Any]:
        """Each batch's description (``describe``), one batch ahead on a
        ``warehouse.pool.READERS`` thread while the caller takes the one before (this file is
        only read here)."""
        batches = self._object_batches(relationships)
        pending = (
            READERS.submit(describe, batch) if (batch := next(batches, None)) else None
        )
        try:
            while pending is not None:
                described = pending.result()
                batch = next(batches, None)
                pending = READERS.submit(describe, batch) if batch else None
                yield described
        finally:
            if pending is not None and not pending.cancel():
                pending.exception()

    def fill_objects(self, describe: Describe) -> None:
        """Write every stored object's attribute values (``describe`` of the SQLite shape) into
        its type's table, a batch per transaction."""
        marks = ", ".join("?" * (3 + len(OBJECT_ATTRIBUTES)))
        for described in self._described(describe, relationships=False):
            types = described.column("ObjectType")
            named = pc.unique(types).to_pylist()
            self._db.execute("BEGIN")
            for type_name in named:
                part = described if len(named) == 1 else described.filter(pc.equal(types, type_name))
                columns = [part.column(name).to_pylist() for name, _ in OBJECT_ATTRIBUTES]
                self._db.executemany(
                    f'INSERT INTO "{self._table("object", type_name)}" VALUES ({marks})',
                    zip(
                        part.column("oid").to_pylist(),
                        itertools.repeat(INITIAL_TIME),
                        itertools.repeat(None),
                        *columns,
                    ),
                )
            self._db.execute("COMMIT")
            self.objects += described.num_rows

    def json_objects(self, describe: Describe) -> Iterator[bytes]:
        """Every stored object's OCEL 2.0 JSON record (``describe`` of the JSON shape: the
        engine writes it, with the O2O relationships SQLite writes), by type then id, a batch's
        records joined by commas as UTF-8."""
        for described in self._described(describe, relationships=True):
            yield joined_text(described.column("record").combine_chunks())

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
                self._db.executemany(f'INSERT INTO "{table}" VALUES ({marks})', zip(*columns))
                self._db.executemany(
                    "INSERT INTO event (ocel_id, ocel_type) VALUES (?, ?)",
                    zip(columns[0], itertools.repeat(type_name)),
                )
            self.events += rows.num_rows
        self._db.executemany(
            "INSERT OR IGNORE INTO event_object VALUES (?, ?, ?)", zip(*page.relations)
        )

    def types(self, kind: str) -> list[str]:
        """The event or object types stored, sorted."""
        return sorted(t for k, t in self._tables if k == kind)
