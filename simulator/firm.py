"""The simulated firm: its legal entities, consultant roles and rate cards, and the run scales.

Harbor & Vale is a mid-size consulting firm with a US, a UK and a German legal entity; everything
money-valued in the scenario is in the currency of the entity that books it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

FIRM_NAME: Final = "Harbor & Vale Consulting"


@dataclass(frozen=True, slots=True)
class LegalEntity:
    """A legal entity with its own books, currency, calendar and close day."""

    id: str
    code: str
    name: str
    country: str
    currency: str
    time_zone: str
    holiday_country: str
    close_day: int
    """The books of a period close at the end of business day ``close_day`` after period end."""
    holiday_subdivision: str | None = None
    """Region of ``holiday_country`` whose public holidays apply (England for London)."""


LEGAL_ENTITIES: Final = (
    LegalEntity(
        id="LE-US01",
        code="US01",
        name="Harbor & Vale Consulting Inc.",
        country="US",
        currency="USD",
        time_zone="America/New_York",
        holiday_country="US",
        close_day=5,
    ),
    LegalEntity(
        id="LE-UK01",
        code="UK01",
        name="Harbor & Vale Consulting Ltd",
        country="UK",
        currency="GBP",
        time_zone="Europe/London",
        holiday_country="GB",
        close_day=4,
        holiday_subdivision="ENG",
    ),
    LegalEntity(
        id="LE-DE01",
        code="DE01",
        name="Harbor & Vale Beratung GmbH",
        country="DE",
        currency="EUR",
        time_zone="Europe/Berlin",
        holiday_country="DE",
        close_day=6,
    ),
)


def firm_config_toml() -> str:
    """The firm's legal-entity calendars as ``[calendars]`` tables of syncsight's TOML config file:
    what a service fed by this simulator is configured with (``syncsight demo`` passes it)."""
    lines = [f"# {FIRM_NAME}: the legal entities of syncsight's simulator (simulator/firm.py)."]
    for entity in LEGAL_ENTITIES:
        lines += [
            "",
            f'[calendars."{entity.id}"]',
            f'time_zone = "{entity.time_zone}"',
            f'holiday_country = "{entity.holiday_country}"',
        ]
        if entity.holiday_subdivision:
            lines.append(f'holiday_subdivision = "{entity.holiday_subdivision}"')
        lines.append(f"close_day = {entity.close_day}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Role:
    """A consultant grade and the range of its hourly bill rate in entity currency."""

    name: str
    lowest_rate: int
    highest_rate: int


ROLES: Final = (
    Role("analyst", 120, 160),
    Role("consultant", 165, 220),
    Role("senior consultant", 225, 285),
    Role("principal", 290, 350),
)
ROLE_WEIGHTS: Final = (30, 35, 25, 10)


@dataclass(frozen=True, slots=True)
class Consultant:
    """A billable person of one legal entity."""

    id: str
    role: str
    hourly_rate: int


@dataclass(frozen=True, slots=True)
class Scale:
    """How big a simulated quarter is, per legal entity."""

    name: str
    contracts_per_entity: int
    customers_per_entity: int
    consultants_per_entity: int


SCALES: Final = {
    scale.name: scale
    for scale in (
        Scale("tiny", contracts_per_entity=6, customers_per_entity=5, consultants_per_entity=15),
        Scale("small", contracts_per_entity=40, customers_per_entity=25, consultants_per_entity=90),
        Scale(
            "medium",
            contracts_per_entity=1150,
            customers_per_entity=500,
            consultants_per_entity=2600,
        ),
        Scale(
            "large",
            contracts_per_entity=11500,
            customers_per_entity=5000,
            consultants_per_entity=26000,
        ),
    )
}


def scale_named(name: str) -> Scale:
    """The scale called ``name``; raises ``ValueError`` naming the known scales otherwise."""
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; expected one of {', '.join(SCALES)}") from None
