"""Template databases: built once per pytest process and engine, then copied into the tests' own
databases by the engine (``copy_database``) instead of being built again for every test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate

T = TypeVar("T")


@contextmanager
def admin_client(engine_url: str) -> Iterator[Client]:
    """A client on the engine without a database of its own, closed after the block."""
    admin = connect(engine_url)
    try:
        yield admin
    finally:
        admin.close()


def copy_database(admin: Client, source: str, target: str) -> None:
    """Make the empty database ``target`` a copy of ``source`` on the same engine: every table and
    view as ``source`` defines it now, and every stored part attached from it (hard links, no
    rows re-inserted, so no view fires twice and every row keeps its stored values)."""
    objects = admin.query(
        "SELECT create_table_query FROM system.tables WHERE database = {db:String} "
        "ORDER BY engine = 'MaterializedView', name",  # a view's target before the view
        parameters={"db": source},
    ).result_rows
    for (statement,) in objects:
        admin.command(statement.replace(f"{source}.", f"{target}."))
    parts = admin.query(
        "SELECT DISTINCT table, partition_id FROM system.parts "
        "WHERE database = {db:String} AND active ORDER BY table, partition_id",
        parameters={"db": source},
    ).result_rows
    for table, partition in parts:
        admin.command(
            f"ALTER TABLE {target}.{table} ATTACH PARTITION ID '{partition}' FROM {source}.{table}"
        )


def database_of(client: Client) -> str:
    """The database ``client`` was opened on."""
    assert client.database, "a client opened without a database"
    return str(client.database)


class Templates:
    """The template databases of one pytest process (the session fixture ``templates``)."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, str], tuple[str, Any]] = {}

    def get(self, engine_url: str, key: str, build: Callable[[Client], T]) -> tuple[str, T]:
        """The template database ``key`` on the engine, and what ``build`` returned when it
        filled it (the first time it is asked for)."""
        if (engine_url, key) not in self._built:
            name = f"template_{key}_{uuid.uuid4().hex[:12]}"
            with admin_client(engine_url) as admin:
                admin.command(f"CREATE DATABASE {name}")
            c = connect(engine_url, database=name)
            try:
                self._built[engine_url, key] = (name, build(c))
            finally:
                c.close()
        name, built = self._built[engine_url, key]
        return name, built

    def drop(self) -> None:
        for (engine_url, _), (name, _) in self._built.items():
            with admin_client(engine_url) as admin:
                admin.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def migrated_template(templates: Templates, engine_url: str) -> str:
    """The template database with every migration applied under the default correlation rules."""
    name, _ = templates.get(
        engine_url, "migrated", lambda c: migrate(c, CorrelationRules.default())
    )
    return name
