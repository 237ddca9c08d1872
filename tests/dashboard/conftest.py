"""One service with the simulator's small quarter for every dashboard test that needs the API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.quarter import LoadedQuarter, load_small_quarter
from tests.service import stop_service


@pytest.fixture(scope="package")
def quarter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadedQuarter]:
    """The small quarter streamed into a running service (shared by the page and browser tests)."""
    loaded = load_small_quarter(tmp_path_factory.mktemp("dashboard-quarter"))
    try:
        yield loaded
    finally:
        stop_service(loaded.service)


@pytest.fixture(scope="package")
def served_paths(quarter: LoadedQuarter) -> set[str]:
    """The API paths this build of the service serves (features land one issue at a time)."""
    document = httpx.get(f"{quarter.service.base_url}/openapi.json", timeout=10).json()
    return set(document["paths"])
