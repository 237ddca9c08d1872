"""Every benchmark script imports: the scripts sit outside the type-checked packages, so a name
moved in the code they measure would otherwise break them unseen until someone next measures
(``rebuild_state.py`` imported ``STATE_TABLES`` from where it no longer was)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

SCRIPTS = sorted(
    path.stem
    for path in (Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py")
    if path.stem != "__init__"
)


def test_the_scripts_are_found() -> None:
    assert {"rebuild_state", "steady_tick", "lineage"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_imports(script: str) -> None:
    module = importlib.import_module(f"benchmarks.{script}")
    assert module.__doc__, f"benchmarks/{script}.py says nothing of what it measures"
