"""Where tables and keys are in a TOML text (``tomllib`` keeps no positions), for the config file's
error messages: ``file:line: table: field: reason``."""

from __future__ import annotations

import re
import tomllib
from typing import Any


class TomlLines:
    """Where tables and keys are in a TOML text: 1-based line numbers, 0 when unknown."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        self._headers: list[tuple[int, tuple[str, ...], bool]] = []
        for number, line in enumerate(self._lines, start=1):
            stripped = line.strip()
            if not stripped.startswith("["):
                continue
            is_array = stripped.startswith("[[")
            inner = stripped.split("]]" if is_array else "]", 1)[0].lstrip("[")
            try:
                path = _key_path(tomllib.loads(f"{inner} = 0"))
            except tomllib.TOMLDecodeError:
                continue
            self._headers.append((number, path, is_array))

    def table(self, *path: str, index: int | None = None) -> int:
        """Line of ``[a.b]``, or of the ``index``-th ``[[a]]`` when ``index`` is given."""
        matches = [
            n for n, p, is_array in self._headers if p == path and is_array == (index is not None)
        ]
        if index is not None:
            return matches[index] if index < len(matches) else 0
        return matches[0] if matches else 0

    def key(self, table_line: int, key: str) -> int:
        """Line of ``key = …`` (or of a dotted ``key.sub = …``) inside the table starting at
        ``table_line`` (0: before any table); the table's line if absent."""
        pattern = re.compile(
            rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*[=.]"""
        )
        for number in range(table_line + 1, len(self._lines) + 1):
            line = self._lines[number - 1]
            if line.strip().startswith("["):
                break
            if pattern.match(line):
                return number
        return table_line


def _key_path(document: dict[str, Any]) -> tuple[str, ...]:
    path: list[str] = []
    node: Any = document
    while isinstance(node, dict) and len(node) == 1:
        name, node = next(iter(node.items()))
        path.append(name)
    return tuple(path)
