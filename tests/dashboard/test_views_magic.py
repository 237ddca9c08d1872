"""Page scripts run with Streamlit's magic, which draws every bare expression statement: a
string under a constant, meant as its docstring, would show on the page."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

VIEWS = sorted((Path(__file__).resolve().parents[2] / "dashboard" / "views").glob("[!_]*.py"))


@pytest.mark.parametrize("page", VIEWS, ids=lambda path: path.stem)
def test_a_page_has_no_bare_string_but_its_docstring(page: Path) -> None:
    """Only the module docstring (which magic skips) may be a bare string at module level."""
    body = ast.parse(page.read_text(encoding="utf-8")).body
    drawn = [
        node.lineno
        for node in body[1:]
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    assert drawn == [], f"{page.name}: bare strings at lines {drawn} would be drawn"
