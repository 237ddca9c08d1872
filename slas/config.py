"""The ``[[slas]]``, ``[calendars]`` and ``[notifications]`` tables of the TOML config file.

Every mistake is refused at start-up as ``file:line: table: field: reason`` (``slas.toml_lines``);
the calendar tables are read by ``slas.calendar_config``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from slas.calendar_config import parse_calendars
from slas.calendars import (
    DEFAULT_CALENDAR,
    SIMULATED_ENTITY_CALENDARS,
    CalendarBook,
    EntityCalendar,
)
from slas.definitions import (
    DEFAULT_SLAS,
    NAME,
    BusinessDuration,
    DefinitionError,
    SlaDefinition,
)
from slas.toml_lines import SlaConfigError, TomlLines, located

__all__ = ["NotificationConfig", "SlaConfig", "SlaConfigError", "parse_sla_config"]

SLA_KEYS = {
    "name": "name",
    "start": "start_event_types",
    "stop": "stop_event_types",
    "key": "key_types",
    "target": "target",
    "warning_thresholds": "warning_thresholds",
    "same_period": "same_period",
    "legal_entities": "legal_entities",
    "customers": "customers",
    "severity": "severity",
    "owner": "owner",
    "description": "description",
    "enabled": "",
}


@dataclass(frozen=True)
class NotificationConfig:
    """Where alerts go; each channel is optional. Environment settings override these."""

    alertmanager_url: str = ""
    webhook_url: str = ""
    slack_webhook_url: str = ""
    public_url: str = ""
    resend_seconds: float = 60.0


@dataclass(frozen=True)
class SlaConfig:
    """SLA definitions, legal-entity calendars and notification routes."""

    definitions: tuple[SlaDefinition, ...] = DEFAULT_SLAS
    calendars: dict[str, EntityCalendar] = field(
        default_factory=lambda: dict(SIMULATED_ENTITY_CALENDARS)
    )
    default_calendar: EntityCalendar = DEFAULT_CALENDAR
    notifications: NotificationConfig = field(default_factory=NotificationConfig)

    def calendar_book(self) -> CalendarBook:
        return CalendarBook(self.calendars, self.default_calendar)


def parse_sla_config(document: dict[str, Any], *, text: str, source: str) -> SlaConfig:
    """The SLA tables of a parsed TOML ``document`` (``text`` is the file, for line numbers)."""
    lines = TomlLines(text)
    calendars, default = parse_calendars(document.get("calendars", {}), lines, source)
    return SlaConfig(
        definitions=_parse_slas(document.get("slas", []), lines, source),
        calendars=calendars,
        default_calendar=default,
        notifications=_parse_notifications(document.get("notifications", {}), lines, source),
    )


def _parse_slas(tables: Any, lines: TomlLines, source: str) -> tuple[SlaDefinition, ...]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise located(source, 0, "slas", "expected [[slas]] tables (an array of tables)")
    definitions = {d.name: d for d in DEFAULT_SLAS}
    for index, table in enumerate(tables):
        header = lines.table("slas", index=index)
        name = table.get("name")
        where = f"[[slas]] #{index + 1}" + (f" ({name})" if isinstance(name, str) else "")
        try:
            definition = _definition(
                table, definitions.get(name) if isinstance(name, str) else None
            )
        except DefinitionError as error:
            # The line of the key at fault, or the table's header when the key is missing.
            line = lines.key(header, error.field) if error.field in table else header
            raise located(source, line, where, str(error)) from None
        if definition is None:
            definitions.pop(str(name), None)
        else:
            definitions[definition.name] = definition
    return tuple(definitions.values())


def _definition(table: dict[str, Any], base: SlaDefinition | None) -> SlaDefinition | None:
    unknown = sorted(set(table) - set(SLA_KEYS))
    if unknown:
        raise DefinitionError(
            f"unknown key {unknown[0]!r}; expected one of {', '.join(SLA_KEYS)}", field=unknown[0]
        )
    name = table.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise DefinitionError(
            f"name {name!r}: expected letters, digits, '-', '_' or '.' (at most 100)", field="name"
        )
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise DefinitionError(f"enabled {enabled!r}: expected true or false", field="enabled")
    if not enabled:
        return None
    if base is None:
        missing = [key for key in ("start", "stop", "key", "target") if key not in table]
        if missing:
            raise DefinitionError(
                f"a new SLA needs {', '.join(missing)} (only the defaults can be partly overridden)",
                field=missing[0],
            )
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "enabled":
            continue
        values[SLA_KEYS[key]] = _sla_value(key, value)
    if base is not None:
        return replace(base, **values)
    return SlaDefinition(**values)


def _sla_value(key: str, value: Any) -> Any:
    if key in ("start", "stop", "key", "legal_entities", "customers"):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise DefinitionError(
                f"{key} {value!r}: expected a string or a list of strings", field=key
            )
        return tuple(items)
    if key == "target":
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value}d"
        if not isinstance(value, str):
            raise DefinitionError(f"target {value!r}: expected a string such as '2d'", field=key)
        return BusinessDuration.parse(value)
    if key == "warning_thresholds":
        if not isinstance(value, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            raise DefinitionError(
                f"warning_thresholds {value!r}: expected a list of numbers", field=key
            )
        return tuple(float(v) for v in value)
    if key == "same_period":
        if not isinstance(value, bool):
            raise DefinitionError(f"same_period {value!r}: expected true or false", field=key)
        return value
    if not isinstance(value, str):
        raise DefinitionError(f"{key} {value!r}: expected a string", field=key)
    return value


def _parse_notifications(table: Any, lines: TomlLines, source: str) -> NotificationConfig:
    if not isinstance(table, dict):
        raise located(source, 0, "notifications", "expected a [notifications] table")
    header = lines.table("notifications")
    channels = {"alertmanager": "url", "webhook": "url", "slack": "webhook_url"}
    known = (*channels, "public_url", "resend_seconds")
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = "[notifications]"
        line = lines.key(header, key)
        if key not in known:
            raise located(
                source, line, where, f"unknown key {key!r}; expected one of {', '.join(known)}"
            )
        if key in channels:
            url_key = channels[key]
            sub_line = lines.table("notifications", key)
            if not isinstance(value, dict) or set(value) != {url_key}:
                raise located(
                    source,
                    sub_line or line,
                    f"[notifications.{key}]",
                    f'expected exactly {url_key} = "https://…"',
                )
            url = value[url_key]
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise located(
                    source,
                    lines.key(sub_line, url_key),
                    f"[notifications.{key}]",
                    f"{url_key} = {url!r}: expected an http(s) URL",
                )
            values[f"{key}_url" if key != "slack" else "slack_webhook_url"] = url.rstrip("/")
        elif key == "public_url":
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise located(
                    source, line, where, f"public_url = {value!r}: expected an http(s) URL"
                )
            values["public_url"] = value.rstrip("/")
        else:
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise located(
                    source, line, where, f"resend_seconds = {value!r}: expected a positive number"
                )
            values["resend_seconds"] = float(value)
    return NotificationConfig(**values)
