"""Who owns the fix: error categories, and systems, routed to teams (the ``[owners]`` table of the
TOML config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from domain import semconv as sc

MASTER_DATA_TEAM: Final = "master data team"
INTEGRATION_TEAM: Final = "integration team"
FINANCE_OPERATIONS: Final = "finance operations"
PLATFORM_TEAM: Final = "integration platform team"
UNROUTED: Final = "integration team"

DEFAULT_OWNERS: Final = {
    sc.MASTER_DATA: MASTER_DATA_TEAM,
    sc.MAPPING: INTEGRATION_TEAM,
    sc.VALIDATION: FINANCE_OPERATIONS,
    sc.PERIOD_CLOSED: FINANCE_OPERATIONS,
    sc.AUTH: PLATFORM_TEAM,
    sc.TIMEOUT: PLATFORM_TEAM,
    sc.DOWNSTREAM: PLATFORM_TEAM,
    sc.DUPLICATE: INTEGRATION_TEAM,
}


@dataclass(frozen=True)
class OwnerRouting:
    """Error category → team; ``default`` owns categories nobody was named for."""

    teams: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_OWNERS))
    default: str = UNROUTED

    @classmethod
    def configured(cls, teams: Mapping[str, str], *, default: str = UNROUTED) -> OwnerRouting:
        """The default routing with ``teams`` (category → team, from ``[owners]``) on top."""
        return cls({**DEFAULT_OWNERS, **teams}, default)

    def owner_of(self, error_category: str) -> str:
        """The team that owns failures of ``error_category`` (the default when unrouted)."""
        return self.teams.get(error_category, self.default)

    def owner_of_systems(self, *systems: str) -> str:
        """The team named for the first of ``systems`` (``erp = "erp team"``) that has one, the
        default otherwise: who owns a silent connector."""
        for system in systems:
            if system in self.teams and system not in DEFAULT_OWNERS:
                return self.teams[system]
        return self.default
