"""The optional TOML configuration file (``SYNCSIGHT_CONFIG``): correlation rules today; SLAs,
calendars and notification routes join it as those features land. Errors name the file and key."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lineage.owners import OwnerRouting, OwnerRoutingError
from lineage.rules import LineageRuleError, LineageRules
from slas.config import SlaConfig, SlaConfigError, parse_sla_config
from warehouse.correlation import CorrelationRuleError, CorrelationRules

KNOWN_TABLES = ("correlation", "lineage", "owners", "slas", "calendars", "notifications")


class ConfigFileError(ValueError):
    """The config file cannot be read or says something we cannot use."""


@dataclass(frozen=True)
class FileConfig:
    """What the TOML file configures, with defaults for everything it leaves out."""

    correlation: CorrelationRules = field(default_factory=CorrelationRules.default)
    lineage: LineageRules = field(default_factory=LineageRules.default)
    owners: OwnerRouting = field(default_factory=OwnerRouting)
    sla: SlaConfig = field(default_factory=SlaConfig)


def load_config(path: Path | None) -> FileConfig:
    """Parse ``path`` (None → all defaults); raise ``ConfigFileError`` with a precise message."""
    if path is None:
        return FileConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigFileError(
            f"SYNCSIGHT_CONFIG={str(path)!r}: cannot read the file ({error.strerror})"
        ) from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"SYNCSIGHT_CONFIG={str(path)!r}: invalid TOML: {error}") from error
    return parse_config(document, source=str(path), text=text)


def parse_config(document: dict[str, Any], *, source: str, text: str = "") -> FileConfig:
    """Build a ``FileConfig`` from a parsed TOML document (``text``: its source, for lines)."""
    unknown = sorted(set(document) - set(KNOWN_TABLES))
    if unknown:
        raise ConfigFileError(
            f"{source}: unknown table(s) {', '.join(unknown)}; known: {', '.join(KNOWN_TABLES)}"
        )
    correlation = document.get("correlation", {})
    if not isinstance(correlation, dict):
        raise ConfigFileError(
            f"{source}: [correlation] must be a table of attribute key = object type"
        )
    try:
        rules = CorrelationRules.from_mapping(_flatten_keys(correlation))
    except CorrelationRuleError as error:
        raise ConfigFileError(f"{source}: [correlation] {error}") from error
    lineage, owners = document.get("lineage", {}), document.get("owners", {})
    if not isinstance(lineage, dict) or not isinstance(owners, dict):
        raise ConfigFileError(f"{source}: [lineage] and [owners] must be tables")
    try:
        lineage_rules = LineageRules.default().extended(lineage)
    except LineageRuleError as error:
        raise ConfigFileError(f"{source}: [lineage] {error}") from error
    try:
        routing = OwnerRouting.from_table(owners)
    except OwnerRoutingError as error:
        raise ConfigFileError(f"{source}: [owners] {error}") from error
    try:
        sla = parse_sla_config(document, text=text, source=source)
    except SlaConfigError as error:
        raise ConfigFileError(str(error)) from error
    return FileConfig(correlation=rules, lineage=lineage_rules, owners=routing, sla=sla)


def _flatten_keys(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Undo TOML's dotted-key nesting: ``a.b.id = "x"`` unquoted arrives as ``{"a": {"b": …}}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten_keys(value, f"{name}."))
        else:
            flat[name] = value
    return flat
