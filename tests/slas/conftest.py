"""Fixtures the SLA tests share: the test's own database migrated, the business-state keeper on
it, and the tiny quarter streamed in once per module for the tests that only read it."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from tests.slas.tiny_quarter import SETTLE, load_tiny_quarter
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate


@pytest.fixture
def migrated(client: Client) -> Client:
    """The test's database with every migration applied, under the default correlation rules."""
    migrate(client, CorrelationRules.default())
    return client


@pytest.fixture
def state(migrated: Client) -> BusinessState:
    """The keeper of the business state on ``migrated``, settling after a millisecond: a tick
    right after an insert reads it."""
    return BusinessState(lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)


@pytest.fixture(scope="module")
def streamed(module_client: Client, module_engine_url: str) -> tuple[Client, BusinessState]:
    """The tiny quarter streamed in tick by tick (``load_tiny_quarter``) into the module's own
    database, once: streaming it is the dear part of every test that starts from it, and these
    tests only read the state it leaves (a tick with nothing new writes nothing)."""
    migrate(module_client, CorrelationRules.default())
    keeper = BusinessState(lambda: module_client, DEFAULT_SLAS, CalendarBook(), settle=SETTLE)
    load_tiny_quarter(module_client, module_engine_url, keeper)
    return module_client, keeper
