"""The domain vocabulary and the pure lineage graph load without a database driver."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = ("clickhouse_connect", "chdb")


def drivers_loaded_by(module: str) -> list[str]:
    """The driver packages a fresh interpreter holds after importing ``module`` alone."""
    probe = f"import sys, {module}\nprint(' '.join(n for n in {DRIVERS!r} if n in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


@pytest.mark.parametrize(
    "module",
    [
        "domain",
        "domain.semconv",
        "domain.business_event",
        "domain.objects",
        "domain.periods",
        "domain.instants",
        "lineage.graph",
    ],
)
def test_module_imports_no_database_driver(module: str) -> None:
    """Importing the module in a fresh process loads neither clickhouse_connect nor chdb."""
    assert drivers_loaded_by(module) == []


def test_the_probe_sees_a_driver_when_one_is_imported() -> None:
    """The check can fail: a module that does import the driver is reported."""
    assert drivers_loaded_by("warehouse.queries") == ["clickhouse_connect"]
