"""A consulting firm's quarter of sync traffic, generated lazily one contract at a time.

Pure and deterministic: the same ``seed``, scale and ``end`` give the same scenario; all randomness
comes from ``random.Random`` instances seeded from ``seed``; the clock is never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from simulator.events import BusinessEvent
from simulator.firm import LEGAL_ENTITIES, Scale
from simulator.history import ContractHistory
from simulator.lifecycle import contract_history
from simulator.population import EntitySetup, build_entity_setup

QUARTER: Final = timedelta(weeks=13)


@dataclass(frozen=True, slots=True)
class Scenario:
    """The quarter ``[start, end]`` of the simulated firm at one scale."""

    seed: int
    scale: Scale
    start: datetime
    end: datetime
    setups: tuple[EntitySetup, ...]

    @classmethod
    def build(cls, *, seed: int, scale: Scale, end: datetime) -> Scenario:
        """Legal entities, consultants and customers; contracts are generated on iteration."""
        if end.tzinfo is None:
            raise ValueError(f"end must be timezone-aware, got naive datetime {end.isoformat()}")
        start = end - QUARTER
        setups = tuple(
            build_entity_setup(seed=seed, entity=entity, scale=scale, start=start, end=end)
            for entity in LEGAL_ENTITIES
        )
        return cls(seed, scale, start, end, setups)

    @property
    def contract_count(self) -> int:
        """Contracts that will be drawn (a contract never signed by the end is skipped)."""
        return len(self.setups) * self.scale.contracts_per_entity

    def setup_of(self, legal_entity_id: str) -> EntitySetup:
        return next(setup for setup in self.setups if setup.entity.id == legal_entity_id)

    def customer_events(self) -> Iterator[BusinessEvent]:
        """The ERP set-up of customers won during the quarter."""
        for setup in self.setups:
            for customer in setup.customers:
                if customer.sync is not None:
                    yield customer.sync

    def contract_histories(self) -> Iterator[ContractHistory]:
        """Every contract's quarter, generated one at a time."""
        for setup in self.setups:
            for number in range(1, self.scale.contracts_per_entity + 1):
                history = contract_history(
                    setup, number, seed=self.seed, start=self.start, end=self.end
                )
                if history is not None:
                    yield history
