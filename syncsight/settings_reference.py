"""The configuration reference of docs/operations.md, generated from the settings class and the
access table so document and code cannot drift apart (``syncsight config-reference``; a test
compares them)."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from collector.auth import IngestTokens
from syncsight.access import ACCESS_RULES, AccessRule, ApiTokens
from syncsight.settings import Settings

BLOCK_NAMES = ("settings", "access-rules")
"""The generated blocks of docs/operations.md, each between a begin and an end marker."""


def begin_marker(name: str) -> str:
    return f"<!-- generated:{name}:begin (syncsight config-reference --write FILE) -->"


def end_marker(name: str) -> str:
    return f"<!-- generated:{name}:end -->"


class ReferenceBlockMissing(ValueError):
    """The document has no generated-reference block to replace."""


def generated_blocks(*, flags: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """Every generated block of docs/operations.md by name, rendered from the code."""
    return {
        "settings": render_reference(
            Settings,
            env_prefix=str(Settings.model_config.get("env_prefix", "")),
            flags=flags,
            cwd=cwd,
        ),
        "access-rules": render_access_rules(ACCESS_RULES),
    }


def render_access_rules(rules: Sequence[AccessRule]) -> str:
    """A Markdown table of the access rules in the order they are tried, then the default."""
    lines = [
        "| path pattern | methods | least access | why |",
        "|---|---|---|---|",
    ]
    for rule in rules:
        methods = ", ".join(sorted(rule.methods)) if rule.methods else "any"
        lines.append(f"| `{rule.pattern}` | {methods} | {rule.requirement_label} | {rule.reason} |")
    lines.append("| anything else | any | denied to every role | deny by default |")
    return "\n".join(lines) + "\n"


def render_reference(
    settings_class: type[BaseModel], *, env_prefix: str, flags: Mapping[str, str], cwd: Path
) -> str:
    """A Markdown table: variable, command-line flag, type, default and meaning of every setting.

    ``flags`` maps field names to the CLI option that overrides them; defaults computed from the
    working directory show ``$PWD`` instead of ``cwd``.
    """
    lines = [
        "| variable | flag | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, field in settings_class.model_fields.items():
        flag = f"`{flags[name]}`" if name in flags else ""
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| `{env_prefix}{name.upper()}` | {flag} | {_type_name(field.annotation)} | "
            f"{_default(field, cwd)} | {description} |"
        )
    return "\n".join(lines) + "\n"


def _type_name(annotation: Any) -> str:
    if annotation in (SecretStr, ApiTokens, IngestTokens):
        return "secret"
    if annotation is Path:
        return "path"
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer", "bool": "boolean", "float": "number"}.get(
            annotation.__name__, annotation.__name__
        )
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(parts) + (
            " (optional)" if type(None) in typing.get_args(annotation) else ""
        )
    return str(annotation)


def _default(field: FieldInfo, cwd: Path) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, ApiTokens | IngestTokens) and not value.enabled:
        return "none"
    if value is None or value == "":
        return "none"
    return f"`{str(value).replace(str(cwd), '$PWD')}`"


def replace_block(document: str, name: str, content: str) -> str:
    """``document`` with the text between ``name``'s markers replaced by ``content``."""
    begin, end = begin_marker(name), end_marker(name)
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.DOTALL)
    if not pattern.search(document):
        raise ReferenceBlockMissing(f"no block between {begin!r} and {end!r} to replace")
    return pattern.sub(lambda _: f"{begin}\n{content}{end}", document, count=1)


def generated_block(document: str, name: str) -> str | None:
    """The text currently between ``name``'s markers, or None when the document has no block."""
    begin, end = begin_marker(name), end_marker(name)
    start, stop = document.find(begin), document.find(end)
    if start < 0 or stop < start:
        return None
    return document[start + len(begin) + 1 : stop]
