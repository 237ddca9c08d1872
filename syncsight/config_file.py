"""The optional TOML configuration file (``SYNCSIGHT_CONFIG``): read it, validate it with
``syncsight.config_model``, and refuse every mistake as ``file:line: table: field: reason``."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas.config import SlaConfig
from syncsight.config_model import ConfigDocument
from syncsight.toml_lines import TomlLines
from warehouse.correlation_rules import CorrelationRules

_BARE_KEY = re.compile(r"^[A-Za-z0-9_]+$")


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
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str) -> FileConfig:
    """The ``FileConfig`` of TOML ``text`` (``source`` names it in error messages)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"{source}: invalid TOML: {error}") from error
    try:
        model = ConfigDocument.model_validate(document)
    except ValidationError as error:
        lines = TomlLines(text)
        raise ConfigFileError(
            "\n".join(
                _located(problem, document, lines, source)
                for problem in error.errors(include_url=False)
            )
        ) from None
    return FileConfig(
        correlation=model.correlation.rules(),
        lineage=model.lineage.rules(),
        owners=model.owners.routing(),
        sla=SlaConfig(
            definitions=model.slas.definitions,
            calendars=model.calendars.entities,
            default_calendar=model.calendars.default,
            notifications=model.notifications.config(),
            alerts=model.alerts.config(),
            silence=model.telemetry.bounds(),
            objectives=model.slas.objectives,
        ),
    )


def _located(problem: Any, document: dict[str, Any], lines: TomlLines, source: str) -> str:
    """One pydantic error as ``file:line: table: field: reason``.

    The table is the deepest ``[table]`` or ``[[array]]`` header of the file on the error's path;
    the field is the rest of the path, and the line is that field's key (the header's if absent).
    """
    context = problem.get("ctx") or {}
    path = [part for part in problem["loc"] if part != "[key]"] + list(context.get("at", ()))
    # a key's own error names the key as the field, even where the key is also a table header
    longest = len(path) - 1 if path and isinstance(path[-1], str) else len(path)
    size, header = 0, 0
    for size in range(longest, 0, -1):
        header = _header_line(lines, path[:size])
        if header:
            break
    else:
        size = 0
    rest = path[size:]
    line = header
    if rest and isinstance(rest[0], str):
        line = lines.key(header, rest[0])
        if line == header:  # not a key = value: perhaps a table of its own
            line = _header_line(lines, path[: size + 1]) or header
    field_name = "".join(f"[{p + 1}]" if isinstance(p, int) else f".{p}" for p in rest)
    location = f"{source}:{line}" if line else source
    table = _table_label(document, path[:size])
    return f"{location}: {table}: {field_name.lstrip('.') or '-'}: {_reason(problem, context)}"


def _header_line(lines: TomlLines, path: list[str | int]) -> int:
    if isinstance(path[-1], int):
        names = path[:-1]
        if not names or not all(isinstance(p, str) for p in names):
            return 0
        return lines.table(*(str(p) for p in names), index=path[-1])
    if not all(isinstance(p, str) for p in path):
        return 0
    return lines.table(*(str(p) for p in path))


def _table_label(document: dict[str, Any], path: list[str | int]) -> str:
    if not path:
        return "top level"
    names = ".".join(p if _BARE_KEY.match(p) else f'"{p}"' for p in path if isinstance(p, str))
    if not isinstance(path[-1], int):
        return f"[{names}]"
    node: Any = document
    for part in path:
        node = node[part]
    name = node.get("name") if isinstance(node, dict) else None
    return f"[[{names}]] #{path[-1] + 1}" + (f" ({name})" if isinstance(name, str) else "")


def _reason(problem: Any, context: dict[str, Any]) -> str:
    if "at" in context:  # a check over a whole table wrote its own message
        return str(problem["msg"])
    if problem["type"] == "missing":
        return "missing; this table needs it"
    if problem["type"] in ("model_type", "dict_type"):
        return f"{problem['input']!r}: expected a table"
    if problem["type"] == "list_type":
        return f"{problem['input']!r}: expected an array"
    message = str(problem["msg"]).removeprefix("Value error, ")
    message = re.sub(r"^Input should be (a valid )?", "expected a ", message)
    return f"{problem['input']!r}: {message}"
