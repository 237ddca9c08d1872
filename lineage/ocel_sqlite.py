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
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from decimal import Decimal
from json.encoder import encode_basestring
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import pyarrow.compute as pc

from lineage.ocel import EVENT_ATTRIBUTES, OBJECT_ATTRIBUTES
from lineage.ocel_log import Describe, LogPage, State, state_values
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


_STRING = encode_basestring
"""A JSON string as the export's encoder (``lineage.ocel.JSON_ENCODER``, not limited to ASCII)
writes it: the function it calls."""

_ATTRIBUTE_OPENINGS: Final = tuple(
    f',{{"name":{_STRING(name)},"time":"{INITIAL_TIME}","value":' for name, _ in OBJECT_ATTRIBUTES
)


def _json_scalar(value: float | str) -> str:
    """A float or a string as the encoder writes it (a float by its ``repr``)."""
    return float.__repr__(value) if isinstance(value, float) else _STRING(value)


def object_record(oid: str, type_text: str, state: State, relationships: str) -> str:
    """The OCEL JSON record of an object, as the export's encoder writes the dict of its id,
    type (``type_text``: already JSON), attributes (initial values, the unknown left out) and
    O2O relationships (``relationships``: the text of its records, ``relationship_items``),
    written from text pieces: some 140,000 a period."""
    attributes = "".join(
        opening + _json_scalar(value) + "}"
        for opening, value in zip(_ATTRIBUTE_OPENINGS, state_values(state), strict=True)
        if value is not None
    )
    return (
        '{"id":' + _STRING(oid) + ',"type":' + type_text + ',"attributes":['
        + attributes[1:] + '],"relationships":[' + relationships + "]}"
    )  # fmt: skip


def relationship_items(relationships: Iterable[tuple[str, str]]) -> str:
    """An object's O2O relationship records (target, qualifier) as the encoder writes them,
    joined by commas."""
    return ",".join(
        '{"objectId":' + _STRING(target) + ',"qualifier":' + _STRING(how) + "}"
        for target, how in relationships
    )


StoredObject = tuple[str, str, Any, Any, Any, Any, Any, Any]
"""A stored object read for description: OCEL id, type, and the facts of its first producer
inside the log (``Produced`` without the id: all None when none)."""


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
            "INSERT OR IGNORE INTO object (ocel_id, ocel_type) VALUES (?, ?)",
            zip(*page.object_columns, strict=True),
        )
        db.executemany(
            "INSERT OR IGNORE INTO object_object VALUES (?, ?, ?)",
            zip(*page.link_columns, strict=True),
        )
        db.executemany(
            "INSERT INTO scratch.produced VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ocel_id) "
            "DO UPDATE SET at = excluded.at, amount = excluded.amount, "
            "currency = excluded.currency, legal_entity = excluded.legal_entity, "
            "customer = excluded.customer, status = excluded.status WHERE excluded.at < at",
            zip(*page.produced_columns, strict=True),
        )
        db.execute("COMMIT")

    def _object_batch(self, after: tuple[str, str]) -> list[StoredObject]:
        """The next ``BATCH`` stored objects after ``after``, by type then id: OCEL id, type and
        the facts of the first event inside the log that produced it (``Produced`` without its
        id; the instant None when none did), read with it. An OCEL id is its type, a colon and
        its id, so one type's objects are one range of the table's key: each type's are read
        through that index (``end``, the type followed by the character after the colon), not
        sorted whole for every batch."""
        oid, type_name = after
        batch: list[StoredObject] = []
        for name in (t for t in self.object_types() if t >= type_name):
            batch += self._db.execute(
                "SELECT o.ocel_id, o.ocel_type, p.at, p.amount, p.currency, p.legal_entity, "
                "p.customer, p.status FROM object AS o "
                "LEFT JOIN scratch.produced AS p ON p.ocel_id = o.ocel_id "
                "WHERE o.ocel_id > ? AND o.ocel_id < ? AND o.ocel_type = ? "
                "ORDER BY o.ocel_id LIMIT ?",
                (oid if name == type_name else name, f"{name};", name, BATCH - len(batch)),
            ).fetchall()
            if len(batch) == BATCH:
                break
        return batch

    def object_types(self) -> list[str]:
        """The object types stored, sorted (once every page is)."""
        if self._stored_types is None:
            rows = self._db.execute("SELECT DISTINCT ocel_type FROM object ORDER BY ocel_type")
            self._stored_types = [name for (name,) in rows]
        return self._stored_types

    def _described(
        self, describe: Describe
    ) -> Iterator[tuple[list[StoredObject], dict[str, State]]]:
        """Every stored object, ``BATCH`` at a time (by type, then id), with what ``describe``
        says of each: one batch ahead on a ``warehouse.pool.READERS`` thread while the caller
        takes this one (this file is only touched on the caller's thread)."""

        def ahead(batch: list[StoredObject]) -> Future[dict[str, State]] | None:
            if not batch:
                return None
            produced: dict[str, State] = {
                oid: (
                    None if amount is None else Decimal(amount),
                    currency,
                    entity,
                    customer,
                    status,
                )
                for oid, _, at, amount, currency, entity, customer, status in batch
                if at is not None
            }
            return READERS.submit(describe, [row[:2] for row in batch], produced)

        batch = self._object_batch(("", ""))
        pending = ahead(batch)
        try:
            while pending is not None:
                states = pending.result()
                taken, batch = batch, self._object_batch(batch[-1][:2])
                pending = ahead(batch)
                yield taken, states
        finally:
            if pending is not None and not pending.cancel():
                pending.exception()

    def fill_objects(self, describe: Describe) -> None:
        """Write every stored object's attributes into its type's table (the SQLite export),
        as ``describe`` says (``_described``)."""
        for batch, states in self._described(describe):
            self._write_objects(batch, states)

    def json_objects(self, describe: Describe) -> Iterator[str]:
        """Every stored object as the text of its OCEL 2.0 JSON record (``object_record``), by
        type then id, with its attributes as ``describe`` says (``_described``) and its
        qualified O2O relationships by target, then qualifier (the JSON export: no type's table
        is written)."""
        for batch, states in self._described(describe):
            links = self._links(batch)
            type_text = ""
            type_name = None
            for oid, name, *_ in batch:
                if name != type_name:
                    type_name, type_text = name, _STRING(name)
                yield object_record(oid, type_text, states[oid], links.get(oid, ""))
            self.objects += len(batch)

    def _links(self, batch: list[StoredObject]) -> dict[str, str]:
        """The O2O links of a batch's objects by source, each source's records by target then
        qualifier as JSON text (``relationship_items``: a string per object, not a list of
        tuples): one read of ``object_object``'s key per type of the batch (its objects are one
        range of ids, all of one type's prefix)."""
        found: dict[str, str] = {}
        for _, rows in itertools.groupby(batch, key=itemgetter(1)):
            part = list(rows)
            read = self._db.execute(
                "SELECT ocel_source_id, ocel_target_id, ocel_qualifier FROM object_object "
                "WHERE ocel_source_id >= ? AND ocel_source_id <= ? "
                "ORDER BY ocel_source_id, ocel_target_id, ocel_qualifier",
                (part[0][0], part[-1][0]),
            )
            for source, links in itertools.groupby(read, key=itemgetter(0)):
                found[source] = relationship_items((target, how) for _, target, how in links)
        return found

    def _write_objects(self, batch: list[StoredObject], states: dict[str, State]) -> None:
        self._db.execute("BEGIN")
        by_type: dict[str, list[tuple[Any, ...]]] = {}
        for oid, type_name, *_ in batch:
            by_type.setdefault(type_name, []).append(
                (oid, INITIAL_TIME, None, *state_values(states[oid]))
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
