"""Shared scenarios for the simulator tests: a small quarter built once, and emitted once."""

from __future__ import annotations

import pytest

from simulator.firm import scale_named
from simulator.history import ContractHistory
from simulator.scenario import Scenario
from tests.simulator.quarters import END, SEED, EmittedQuarter, emit_quarter


@pytest.fixture(scope="session")
def small_scenario() -> Scenario:
    return Scenario.build(seed=SEED, scale=scale_named("small"), end=END)


@pytest.fixture(scope="session")
def small_histories(small_scenario: Scenario) -> list[ContractHistory]:
    return list(small_scenario.contract_histories())


@pytest.fixture(scope="session")
def small_quarter(tmp_path_factory: pytest.TempPathFactory) -> EmittedQuarter:
    return emit_quarter("small", SEED, tmp_path_factory.mktemp("small") / "truth.json")


@pytest.fixture(scope="session")
def tiny_quarter(tmp_path_factory: pytest.TempPathFactory) -> EmittedQuarter:
    return emit_quarter("tiny", SEED, tmp_path_factory.mktemp("tiny") / "truth.json")
