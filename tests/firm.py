"""The simulator's firm as a service that receives its traffic is configured: the TOML file the
simulator writes (``simulator.firm.firm_config_toml``), read by the real config loader."""

from __future__ import annotations

from pathlib import Path

from simulator.firm import firm_config_toml
from slas.calendars import CalendarBook, EntityCalendar
from syncsight.config_file import parse_config

FIRM_CALENDARS: dict[str, EntityCalendar] = parse_config(
    firm_config_toml(), source="simulator firm"
).sla.calendars
"""LE-US01, LE-UK01 and LE-DE01 as the firm's config file describes them."""


def firm_calendar_book() -> CalendarBook:
    """A calendar book with the firm's entities (the rest use the default calendar)."""
    return CalendarBook(FIRM_CALENDARS)


def write_firm_config(directory: Path) -> Path:
    """The firm's config file in ``directory``, for a service started with SYNCSIGHT_CONFIG."""
    path = directory / "firm.toml"
    path.write_text(firm_config_toml(), encoding="utf-8")
    return path
