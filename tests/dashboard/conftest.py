"""One service with the simulator's small quarter for every dashboard test that needs the API."""

from __future__ import annotations

import httpx
import pytest

from tests.quarter import LoadedQuarter


@pytest.fixture(scope="package")
def quarter(served_quarter: LoadedQuarter) -> LoadedQuarter:
    """The session's small quarter (tests/conftest.py): the page and browser tests only read it."""
    return served_quarter


@pytest.fixture(scope="package")
def served_paths(quarter: LoadedQuarter) -> set[str]:
    """The API paths this build of the service serves (features land one issue at a time)."""
    document = httpx.get(f"{quarter.service.base_url}/openapi.json", timeout=10).json()
    return set(document["paths"])
