"""Shared fixtures: one real ClickHouse engine per pytest process, a fresh database per test.

chdb allows one data path per process, so every test of a process shares the engine and isolates
itself in its own database; each pytest-xdist worker (`make unit` runs two) is a process of its own
with a data path of its own. Set SYNCSIGHT_TEST_CLICKHOUSE_URL to run the same tests against a
ClickHouse server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from tests.quarter import LoadedQuarter, load_small_quarter
from tests.service import stop_service
from tests.templates import Templates, admin_client, copy_database, database_of, migrated_template
from warehouse.client import connect

SERVER_URL = os.environ.get("SYNCSIGHT_TEST_CLICKHOUSE_URL", "")
ENGINES = ["chdb", pytest.param("server", marks=pytest.mark.server)] if SERVER_URL else ["chdb"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Test files marked ``dear`` first, then the others by their number of tests (most first),
    each file's tests in their order: ``make unit`` (``--dist loadfile --no-loadscope-reorder``)
    hands files to its two workers in this order, so no worker is left alone with a file of
    minutes at the end while the other one idles."""
    by_file: dict[Path, list[pytest.Item]] = {}
    for item in items:
        by_file.setdefault(item.path, []).append(item)
    _check_shared_setup(by_file)

    def order(tests: list[pytest.Item]) -> tuple[bool, int]:
        return (tests[0].get_closest_marker("dear") is None, -len(tests))

    items[:] = [item for tests in sorted(by_file.values(), key=order) for item in tests]


SHARED_SETUP: dict[str, tuple[str, ...]] = {
    # the tiny quarter streamed tick by tick (tests/slas/conftest.py, ``streamed_quarter``)
    "tiny quarter streamed": (
        "tests/slas/test_business_state.py",
        "tests/slas/test_business_state_faults.py",
        "tests/slas/test_cause_refresh.py",
        "tests/slas/test_event_dimensions.py",
        "tests/slas/test_state_config.py",
    ),
    # quarters streamed with late arrivals (tests/slas/tiny_quarter.py, ``late_arrivals_copy``)
    "quarters with late arrivals": (
        "tests/slas/test_blocker_facts.py",
        "tests/slas/test_close_sums.py",
        "tests/slas/test_timer_changes.py",
    ),
    # the small quarter in a running service (``served_quarter``)
    "served quarter": (
        "tests/dashboard/test_browser.py",
        "tests/dashboard/test_pages.py",
        "tests/dashboard/test_pages_contract.py",
        "tests/lineage/test_quarter.py",
        "tests/simulator/test_quarter_over_otlp.py",
        "tests/slas/test_quarter.py",
    ),
}
"""Test files that start from the same dear data, built once per pytest process: ``make unit``
runs each group in one worker (``pytest_xdist_make_scheduler``), which builds it once, where two
workers would each build it."""

SHARED_FIXTURES: dict[str, str] = {
    "streamed_quarter": "tiny quarter streamed",
    "streamed": "tiny quarter streamed",
    "served_quarter": "served quarter",
}
"""The fixtures that build a ``SHARED_SETUP`` group's data: a file using one must be in its group
(the late-arrival quarters are built by a function, ``late_arrivals_copy``, which no collection
sees)."""


def _check_shared_setup(by_file: dict[Path, list[pytest.Item]]) -> None:
    """Refuse a run where a file uses a ``SHARED_FIXTURES`` fixture outside its group: it would
    pass, building the dear data in a second worker."""
    root = Path(__file__).resolve().parent.parent
    for path, tests in by_file.items():
        name = path.resolve().relative_to(root).as_posix()
        used = {f for test in tests for f in getattr(test, "fixturenames", ())}
        for fixture in sorted(used & SHARED_FIXTURES.keys()):
            group = SHARED_FIXTURES[fixture]
            if name not in SHARED_SETUP[group]:
                raise pytest.UsageError(
                    f"{name} uses the fixture {fixture}: add it to SHARED_SETUP[{group!r}] in "
                    "tests/conftest.py, so that one worker builds that data once"
                )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` with each ``SHARED_SETUP`` group handed out as one unit, its files in
    turn, in the order the collection gives (the group's place is its first file's)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    group_of = {path: group for group, paths in SHARED_SETUP.items() for path in paths}

    class SharedSetupScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return group_of.get(path, path)

    return SharedSetupScheduling(config, log)


@pytest.fixture(autouse=True)
def _no_developer_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build Settings explicitly; a developer's SYNCSIGHT_* variables must not leak in."""
    for name in list(os.environ):
        if name.startswith("SYNCSIGHT_") and name != "SYNCSIGHT_TEST_CLICKHOUSE_URL":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The one embedded engine of this pytest process, open until the process ends.

    chdb shuts its engine down when the last client of the process closes, and the next client
    starts it again, loading every database it holds: after the templates were built that start
    cost 1-5 CPU-s, and every test paid it (its ``database`` is the first client it opens and the
    last it closes). A client held for the session keeps the engine running."""
    path: Path = tmp_path_factory.mktemp("chdb") / "data"
    url = f"chdb://{path}"
    keeper = connect(url)
    try:
        yield url
    finally:
        keeper.close()


@pytest.fixture(params=ENGINES)
def engine_url(request: pytest.FixtureRequest, chdb_url: str) -> str:
    """Each ClickHouse engine the suite runs against: always chdb, a server when one is given."""
    return _url_of(request.param, chdb_url)


@pytest.fixture(scope="module", params=ENGINES)
def module_engine_url(request: pytest.FixtureRequest, chdb_url: str) -> str:
    """``engine_url`` for a module-scoped fixture: each engine once per test module."""
    return _url_of(request.param, chdb_url)


def _url_of(engine: str, chdb_url: str) -> str:
    return chdb_url if engine == "chdb" else SERVER_URL


@pytest.fixture
def database(engine_url: str) -> Iterator[str]:
    """A fresh, empty database on the engine, dropped after the test (``SYNC``: the engine stays
    open for the whole process, and a plain drop leaves the tables' files on disk until its
    delayed clean-up, minutes later)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = connect(engine_url)
    admin.command(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {name} SYNC")
        admin.close()


@pytest.fixture(scope="module")
def module_client(module_engine_url: str) -> Iterator[Client]:
    """A client on a fresh database of the test module's own, dropped after the module: for data
    dear to build that the module's tests only read."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = connect(module_engine_url)
    admin.command(f"CREATE DATABASE {name}")
    c = connect(module_engine_url, database=name)
    try:
        yield c
    finally:
        c.close()
        admin.command(f"DROP DATABASE IF EXISTS {name} SYNC")
        admin.close()


@pytest.fixture(scope="session")
def templates() -> Iterator[Templates]:
    """This process's template databases, dropped at its end."""
    built = Templates()
    try:
        yield built
    finally:
        built.drop()


@pytest.fixture
def client(engine_url: str, database: str) -> Iterator[Client]:
    """A client whose default database is the test's own."""
    c = connect(engine_url, database=database)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def migrated(client: Client, engine_url: str, database: str, templates: Templates) -> Client:
    """The test's database with every migration applied under the default correlation rules: a
    copy of a database migrated once per process (``tests/warehouse/test_migrations.py`` runs
    the migrations themselves on fresh databases)."""
    with admin_client(engine_url) as admin:
        copy_database(admin, migrated_template(templates, engine_url), database)
    return client


@pytest.fixture(scope="module")
def module_migrated(module_client: Client, module_engine_url: str, templates: Templates) -> Client:
    """``migrated`` for the test module: its own database, migrated (a copy of the template),
    for data dear to build that the module's tests only read."""
    with admin_client(module_engine_url) as admin:
        copy_database(
            admin, migrated_template(templates, module_engine_url), database_of(module_client)
        )
    return module_client


@pytest.fixture(scope="session")
def served_quarter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadedQuarter]:
    """The simulator's small quarter streamed into one running service, once per pytest process.

    The end-to-end tests of ingest, lineage, SLAs and the dashboard only read it (the access trail
    they append to is checked by its newest entries), so they share it rather than each loading
    the quarter again: that load is the dearest fixture of the suite."""
    loaded = load_small_quarter(tmp_path_factory.mktemp("served-quarter"))
    try:
        yield loaded
    finally:
        stop_service(loaded.service)
