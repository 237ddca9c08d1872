"""The documents point at what exists: every relative link resolves (file and heading), and every
repository path they spell in backticks (``slas/timers.py``) is a file or folder of the tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.compose_files import ROOT

DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "benchmarks" / "README.md",
        *(ROOT / "benchmarks" / "history").glob("*.md"),
        *(ROOT / "docs").glob("*.md"),
    ]
)
TOP_LEVEL = {
    path.name for path in ROOT.iterdir() if path.is_dir() and not path.name.startswith(".")
}
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\s]+)`")


def heading_anchors(document: Path) -> set[str]:
    """The anchors a renderer gives the document's headings (lower case, punctuation dropped,
    spaces as hyphens)."""
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.DOTALL)
    anchors = set()
    for heading in re.findall(r"^#+ +(.+?) *$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def relative_links(document: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(document.read_text(encoding="utf-8"))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)
    ]


def repository_paths(document: Path) -> list[str]:
    """Backticked tokens that start with a top-level folder of the tree, such as ``slas/api.py``."""
    return [
        token
        for token in CODE_SPAN.findall(document.read_text(encoding="utf-8"))
        if "/" in token
        and token.split("/", 1)[0] in TOP_LEVEL
        and not re.search(r"[*{}<>$]", token)
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
class TestDocumentPaths:
    def test_every_relative_link_resolves(self, document: Path) -> None:
        """A link names an existing file, and an existing heading when it has an anchor."""
        name = document.relative_to(ROOT)
        for target in relative_links(document):
            path_text, _, anchor = target.partition("#")
            linked = (document.parent / path_text).resolve() if path_text else document
            assert linked.exists(), f"{name}: link {target!r}: no such file"
            if anchor:
                assert anchor in heading_anchors(linked), (
                    f"{name}: link {target!r}: {linked.name} has no heading #{anchor}"
                )

    def test_every_repository_path_exists(self, document: Path) -> None:
        """A path spelled in backticks is a file or folder of the repository."""
        for token in repository_paths(document):
            path = ROOT / token.rstrip("/").split(":", 1)[0]
            assert path.exists(), (
                f"{document.relative_to(ROOT)}: `{token}` is not in the repository"
            )


def test_the_checks_see_paths_and_anchors() -> None:
    """The architecture document is checked: it links, and it names owning modules."""
    architecture = ROOT / "docs" / "architecture.md"
    assert architecture in DOCUMENTS
    assert "slas/blocking.py" in repository_paths(architecture)
    assert "who-owns-each-business-rule" in heading_anchors(architecture)
