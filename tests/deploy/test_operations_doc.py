"""docs/operations.md agrees with the code: its generated reference blocks match the settings class
and the access table, its retention section names every table with a TTL, and it covers the compose
deployment it describes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncsight.cli import settings_flags
from syncsight.settings_reference import (
    BLOCK_NAMES,
    ReferenceBlockMissing,
    generated_block,
    generated_blocks,
    replace_block,
)
from tests.deploy.compose_files import COMPOSE_FILE, ROOT, load_yaml, parse_env_file
from warehouse.retention import ALERTS, EXPIRES_FROM, FACTS, RAW

OPERATIONS = ROOT / "docs" / "operations.md"
SYNCSIGHT = shutil.which("syncsight", path=str(Path(sys.executable).parent))


def document() -> str:
    return OPERATIONS.read_text(encoding="utf-8")


class TestGeneratedReference:
    @pytest.mark.parametrize("name", BLOCK_NAMES)
    def test_the_document_matches_the_code(self, name: str) -> None:
        """The settings and access tables in the document are what the code generates now."""
        current = generated_blocks(flags=settings_flags(), cwd=Path.cwd())[name]
        assert generated_block(document(), name) == current, (
            "docs/operations.md is stale: run `syncsight config-reference --write "
            "docs/operations.md`"
        )

    def test_every_setting_is_in_the_reference(self) -> None:
        """Each SYNCSIGHT_* variable of the settings class has a row, with its flag if any."""
        from syncsight.settings import Settings

        block = generated_block(document(), "settings") or ""
        for name in Settings.model_fields:
            assert f"| `SYNCSIGHT_{name.upper()}` |" in block
        assert "| `SYNCSIGHT_HOST` | `--host` |" in block

    def test_write_refreshes_a_stale_document(self, tmp_path: Path) -> None:
        """`syncsight config-reference --write FILE` replaces every generated block in place."""
        assert SYNCSIGHT, "the syncsight console script is not installed in this environment"
        stale = document()
        for name in BLOCK_NAMES:
            stale = replace_block(stale, name, "| out of date |\n")
        target = tmp_path / "operations.md"
        target.write_text(stale, encoding="utf-8")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSIGHT_")}
        result = subprocess.run(
            [SYNCSIGHT, "config-reference", "--write", str(target)],
            capture_output=True,
            text=True,
            env=clean,
            cwd=Path.cwd(),
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert target.read_text(encoding="utf-8") == document()

    def test_a_document_without_markers_is_refused(self) -> None:
        """Replacing needs the markers; a plain document is an error that names them."""
        with pytest.raises(ReferenceBlockMissing, match="generated:settings:begin"):
            replace_block("# no markers here\n", "settings", "| x |\n")


class TestRetentionSection:
    def test_every_table_with_a_ttl_and_its_setting_is_described(self) -> None:
        """The retention table names each table ``migrate`` sets a TTL on, and each setting."""
        section = document().split("## Retention\n")[1].split("\n## ")[0]
        for table in EXPIRES_FROM:
            assert f"`{table}`" in section, table
        for kind in (RAW, FACTS, ALERTS):
            assert f"`SYNCSIGHT_RETENTION_{kind.upper()}_DAYS`" in section, kind


class TestDeploymentCoverage:
    def test_every_compose_service_is_described(self) -> None:
        """The services table names each service of docker-compose.yml."""
        text = document()
        for name in load_yaml(COMPOSE_FILE)["services"]:
            assert f"| `{name}` |" in text, name

    def test_every_env_variable_is_described(self) -> None:
        """Each variable of deploy/env.example is explained in the document."""
        text = document()
        for name in parse_env_file(ROOT / "deploy" / "env.example"):
            assert f"`{name}`" in text, name
