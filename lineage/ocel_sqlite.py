"""The OCEL 2.0 relational schema in a SQLite file, filled page by page (``lineage.ocel_log``):
``event``, ``object``, ``event_object``, ``object_object``, ``event_map_type``,
``object_map_type`` and one ``event_<Type>`` / ``object_<Type>`` table per type with its typed
attribute columns. The file is the SQLite export; for the JSON export it only gathers objects
(each once, however many pages touch it) and their O2O links, on disk, so that memory stays flat.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from domain.instants import utc
from lineage.ocel import EVENT_ATTRIBUTES, OBJECT_ATTRIBUTES
from lineage.ocel_log import Describe, LogPage, ObjectState

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
            self._db.execute(statement)
        self._db.execute(
            "CREATE TABLE scratch.produced (ocel_id TEXT PRIMARY KEY, at TEXT, amount TEXT, "
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
            self._add_events(page.events)
        db.executemany(
            "INSERT OR IGNORE INTO object (ocel_id, ocel_type) VALUES (?, ?)", page.objects
        )
        db.executemany("INSERT OR IGNORE INTO object_object VALUES (?, ?, ?)", page.links)
        db.executemany(
            "INSERT INTO scratch.produced VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ocel_id) "
            "DO UPDATE SET at = excluded.at, amount = excluded.amount, "
            "currency = excluded.currency, legal_entity = excluded.legal_entity, "
            "customer = excluded.customer, status = excluded.status WHERE excluded.at < at",
            [
                (oid, utc(at).isoformat(), None if s.amount is None else str(s.amount),
                 s.currency, s.legal_entity, s.customer, s.status)
                for oid, at, s in page.produced
            ],
        )  # fmt: skip
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

    def fill_objects(self, describe: Describe) -> None:
        """Write every stored object's attributes into its type's table, ``BATCH`` objects (of
        one type, by id) at a time: ``describe`` says what is known of each."""
        after = ("", "")
        while True:
            batch = self._db.execute(
                "SELECT ocel_id, ocel_type FROM object WHERE (ocel_type, ocel_id) > (?, ?) "
                "ORDER BY ocel_type, ocel_id LIMIT ?",
                (after[1], after[0], BATCH),
            ).fetchall()
            if not batch:
                return
            after = batch[-1]
            states = describe(batch, self._produced([oid for oid, _ in batch]))
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

    def _add_events(self, events: Sequence[dict[str, Any]]) -> None:
        by_type: dict[str, list[tuple[Any, ...]]] = {}
        relations = []
        for event in events:
            values = {a["name"]: a["value"] for a in event["attributes"]}
            by_type.setdefault(event["type"], []).append(
                (event["id"], event["time"], *(values.get(n) for n, _ in LOG_EVENT_ATTRIBUTES))
            )
            relations += [
                (event["id"], r["objectId"], r["qualifier"]) for r in event["relationships"]
            ]
        for type_name, rows in by_type.items():
            table = self._table("event", type_name)
            marks = ", ".join("?" * (2 + len(LOG_EVENT_ATTRIBUTES)))
            self._db.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
            self._db.executemany(
                "INSERT INTO event (ocel_id, ocel_type) VALUES (?, ?)",
                [(row[0], type_name) for row in rows],
            )
        self._db.executemany("INSERT OR IGNORE INTO event_object VALUES (?, ?, ?)", relations)
        self.events += len(events)

    def types(self, kind: str) -> list[str]:
        """The event or object types stored, sorted."""
        return sorted(t for k, t in self._tables if k == kind)

    def json_objects(self) -> Iterator[dict[str, Any]]:
        """Every stored object as its OCEL 2.0 JSON record, by type then id, with its attributes
        (initial values) and its qualified O2O relationships; read in the table's order, one
        object at a time."""
        for type_name in self.types("object"):
            table = self._tables[("object", type_name)]
            objects = self._db.execute(f'SELECT * FROM "{table}" ORDER BY ocel_id')
            links = self._db.cursor().execute(
                "SELECT ocel_source_id, ocel_target_id, ocel_qualifier FROM object_object "
                "WHERE ocel_source_id IN (SELECT ocel_id FROM object WHERE ocel_type = ?) "
                "ORDER BY ocel_source_id, ocel_target_id, ocel_qualifier",
                (type_name,),
            )
            pending = next(links, None)
            for oid, _time, _changed, *values in objects:
                while pending is not None and pending[0] < oid:
                    pending = next(links, None)
                relationships = []
                while pending is not None and pending[0] == oid:
                    relationships.append({"objectId": pending[1], "qualifier": pending[2]})
                    pending = next(links, None)
                yield {
                    "id": oid,
                    "type": type_name,
                    "attributes": [
                        {"name": name, "time": INITIAL_TIME, "value": value}
                        for (name, _), value in zip(OBJECT_ATTRIBUTES, values, strict=True)
                        if value is not None
                    ],
                    "relationships": relationships,
                }
