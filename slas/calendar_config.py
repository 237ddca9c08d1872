"""The ``[calendars]`` tables of the config file: ``[calendars.default]`` and one table per legal
entity; an entity inherits the keys it leaves out (from its built-in calendar, else the default)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from slas.calendars import (
    DEFAULT_CALENDAR,
    SIMULATED_ENTITY_CALENDARS,
    WEEKDAY_NAMES,
    EntityCalendar,
)
from slas.toml_lines import TomlLines, located

CALENDAR_KEYS = (
    "time_zone",
    "working_days",
    "working_hours",
    "holiday_country",
    "holiday_subdivision",
    "holidays",
    "close_day",
    "materiality",
)
_HOUR = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_calendars(
    tables: Any, lines: TomlLines, source: str
) -> tuple[dict[str, EntityCalendar], EntityCalendar]:
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise located(
            source,
            0,
            "calendars",
            'expected [calendars.default] and [calendars."<legal entity>"] tables',
        )
    default = DEFAULT_CALENDAR
    if "default" in tables:
        default = _calendar(tables["default"], DEFAULT_CALENDAR, lines, source, "default")
    calendars = dict(SIMULATED_ENTITY_CALENDARS)
    for name, table in tables.items():
        if name != "default":
            base = SIMULATED_ENTITY_CALENDARS.get(name, default)
            calendars[name] = _calendar(table, base, lines, source, name)
    return calendars, default


def _calendar(
    table: dict[str, Any], base: EntityCalendar, lines: TomlLines, source: str, name: str
) -> EntityCalendar:
    header = lines.table("calendars", name)
    where = f"[calendars.{name}]" if name == "default" else f'[calendars."{name}"]'
    changes: dict[str, Any] = {}
    for key, value in table.items():
        try:
            if key not in CALENDAR_KEYS:
                raise ValueError(f"unknown key; expected one of {', '.join(CALENDAR_KEYS)}")
            changes.update(_calendar_value(key, value))
        except ValueError as error:
            raise located(
                source, lines.key(header, key), where, f"{key} = {value!r}: {error}"
            ) from None
    calendar = replace(base, **changes)
    if calendar.holiday_country:
        try:
            holidays.country_holidays(
                calendar.holiday_country, subdiv=calendar.holiday_subdivision, years=[2025]
            )
        except NotImplementedError:
            key = "holiday_subdivision" if calendar.holiday_subdivision else "holiday_country"
            raise located(
                source,
                lines.key(header, key),
                where,
                f"holiday_country {calendar.holiday_country!r} / holiday_subdivision "
                f"{calendar.holiday_subdivision!r}: not known to the holidays package",
            ) from None
    return calendar


def _calendar_value(key: str, value: Any) -> dict[str, Any]:
    if key == "time_zone":
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as 'Europe/Berlin'") from None
        return {"time_zone": str(value)}
    if key == "working_days":
        if not isinstance(value, list) or any(
            str(d).lower()[:3] not in WEEKDAY_NAMES for d in value
        ):
            raise ValueError(f"expected a list of day names from {', '.join(WEEKDAY_NAMES)}")
        return {
            "working_days": tuple(sorted({WEEKDAY_NAMES.index(str(d).lower()[:3]) for d in value}))
        }
    if key == "working_hours":
        return {"working_hours": _working_hours(value)}
    if key in ("holiday_country", "holiday_subdivision"):
        if not isinstance(value, str):
            raise ValueError("expected a string such as 'DE' (or '' for none)")
        return {key: value or None}
    if key == "holidays":
        if not isinstance(value, list):
            raise ValueError("expected a list of dates such as [2026-12-24]")
        try:
            days = frozenset(
                v if isinstance(v, date) else date.fromisoformat(str(v)) for v in value
            )
        except ValueError:
            raise ValueError("expected ISO dates such as 2026-12-24") from None
        return {"custom_holidays": days}
    if key == "close_day":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 31:
            raise ValueError("expected a business day number from 0 to 31")
        return {"close_day": value}
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ValueError("expected a positive amount in the entity's currency")
    return {"materiality": float(value)}


def _working_hours(value: Any) -> tuple[float, float]:
    text = (
        value
        if isinstance(value, str)
        else "-".join(map(str, value))
        if isinstance(value, list)
        else ""
    )
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError("expected 'HH:MM-HH:MM' such as '09:00-17:30'")
    hours = []
    for part in parts:
        match = _HOUR.match(part.strip())
        if not match:
            raise ValueError("expected 'HH:MM-HH:MM' such as '09:00-17:30'")
        hours.append(int(match[1]) + int(match[2]) / 60)
    opens, closes = hours
    if not 0 <= opens < closes <= 24:
        raise ValueError("expected an opening before the closing, within 00:00-24:00")
    return opens, closes
