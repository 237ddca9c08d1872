"""Who owns the fix: error categories routed to teams (the ``[owners]`` table of the TOML config)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from warehouse import semconv as sc

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
_CATEGORY: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


class OwnerRoutingError(ValueError):
    """An ``[owners]`` entry that is not category = "team"."""


@dataclass(frozen=True)
class OwnerRouting:
    """Error category → team; ``default`` owns categories nobody was named for."""

    teams: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_OWNERS))
    default: str = UNROUTED

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> OwnerRouting:
        """The defaults overridden by an ``[owners]`` table (``default = "…"`` sets the fallback)."""
        teams = dict(DEFAULT_OWNERS)
        default = UNROUTED
        for category, team in table.items():
            if not isinstance(team, str) or not team.strip():
                raise OwnerRoutingError(f"{category} = {team!r}: expected a team name (a string)")
            if category == "default":
                default = team.strip()
            elif not _CATEGORY.match(category):
                raise OwnerRoutingError(
                    f"{category!r}: not an error category (letters, digits, _ . -); known: "
                    + ", ".join(sc.ERROR_CATEGORIES)
                )
            else:
                teams[category] = team.strip()
        return cls(teams, default)

    def owner_of(self, error_category: str) -> str:
        """The team that owns failures of ``error_category`` (the default when unrouted)."""
        return self.teams.get(error_category, self.default)
