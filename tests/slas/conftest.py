"""Fixtures the SLA tests share: the business-state keeper on the test's own migrated database,
and the tiny quarter streamed in tick by tick, once per process, copied into the databases of the
tests that start from it."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from tests.slas.tiny_quarter import SETTLE, Streamed, streamed_copy
from tests.templates import Templates


@pytest.fixture
def state(migrated: Client) -> BusinessState:
    """The keeper of the business state on ``migrated``, settling after a millisecond: a tick
    right after an insert reads it."""
    return BusinessState(lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)


@pytest.fixture
def streamed_quarter(client: Client, engine_url: str, templates: Templates) -> Streamed:
    """The tiny quarter streamed in tick by tick, in the test's own database."""
    return streamed_copy(templates, engine_url, client)


@pytest.fixture(scope="module")
def streamed(
    module_client: Client, module_engine_url: str, templates: Templates
) -> tuple[Client, BusinessState]:
    """The tiny quarter streamed in tick by tick, in the module's own database: for the tests
    that only read the state it leaves (a tick with nothing new writes nothing)."""
    quarter = streamed_copy(templates, module_engine_url, module_client)
    return quarter.client, quarter.keeper
