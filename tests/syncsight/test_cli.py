"""The command line, run as a user runs it: a real subprocess of the installed console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncsight import __version__
from syncsight.config_file import load_config

SYNCSIGHT = shutil.which("syncsight", path=str(Path(sys.executable).parent))
HOLD_ENGINE = """
import sys, time
from chdb import session
engine = session.Session(sys.argv[1])
print("open", flush=True)
time.sleep(120)
"""
"""A second process with the embedded engine open on a directory, as `syncsight serve` has."""


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    assert SYNCSIGHT, "the syncsight console script is not installed in this environment"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSIGHT_")}
    return subprocess.run(
        [SYNCSIGHT, *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )


class TestCommandLine:
    def test_version_prints_the_package_version(self) -> None:
        """--version answers with the installed version."""
        result = run("--version")
        assert result.returncode == 0
        assert result.stdout.strip() == f"syncsight {__version__}"

    @pytest.mark.parametrize("command", ["migrate", "rebuild", "serve", "demo"])
    def test_every_command_has_help(self, command: str) -> None:
        """--help works for every command and documents the ClickHouse URL flag."""
        result = run(command, "--help")
        assert result.returncode == 0, result.stderr
        assert "--clickhouse-url" in result.stdout

    @pytest.mark.parametrize(
        ("args", "env", "message"),
        [
            (
                ["migrate", "--clickhouse-url", "mysql://x"],
                {},
                "--clickhouse-url='mysql://x': unsupported scheme",
            ),
            (
                ["migrate"],
                {"SYNCSIGHT_CLICKHOUSE_URL": "ftp://x"},
                "SYNCSIGHT_CLICKHOUSE_URL='ftp://x'",
            ),
            (
                ["serve"],
                {"SYNCSIGHT_PORT": "http"},
                "SYNCSIGHT_PORT='http': Input should be a valid integer",
            ),
            (
                ["migrate", "--config", "/nonexistent.toml"],
                {},
                "SYNCSIGHT_CONFIG='/nonexistent.toml': cannot read",
            ),
            (["migrate", "--print", "--cluster", "a;b"], {}, "--cluster 'a;b'"),
            (
                ["migrate"],
                {"SYNCSIGHT_CLICKHOUSE_CLUSTER": "prod-1"},
                "SYNCSIGHT_CLICKHOUSE_CLUSTER='prod-1': expected a cluster name",
            ),
        ],
    )
    def test_bad_settings_stop_with_one_clear_line(
        self, args: list[str], env: dict[str, str], message: str
    ) -> None:
        """The setting, the value and the expectation on one line; exit code 2."""
        result = run(*args, env=env)
        assert result.returncode == 2
        assert message in " ".join(result.stderr.split())
        assert "Traceback" not in result.stderr

    def test_unknown_object_type_in_correlation_rules_stops(self, tmp_path: Path) -> None:
        """A config naming an unknown object type is refused before anything starts."""
        config = tmp_path / "c.toml"
        config.write_text('[correlation]\n"crm.deal.id" = "deal"\n', encoding="utf-8")
        result = run("migrate", "--config", str(config))
        assert result.returncode == 2
        assert "'deal': unknown object type" in result.stderr

    def test_simulate_writes_its_firm_as_a_config_file(self, tmp_path: Path) -> None:
        """--firm-config writes the calendars a service fed by the simulator should use."""
        firm = tmp_path / "firm.toml"
        result = run(
            "simulate", "--dry-run", "--scale", "tiny", "--firm-config", str(firm), cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        calendars = load_config(firm).sla.calendars
        assert {name: c.close_day for name, c in calendars.items()} == {
            "LE-US01": 5,
            "LE-UK01": 4,
            "LE-DE01": 6,
        }

    def test_migrate_print_emits_ddl_without_touching_a_database(self, tmp_path: Path) -> None:
        """--print only prints; no data directory appears."""
        result = run("migrate", "--print", cwd=tmp_path)
        assert result.returncode == 0
        assert "CREATE TABLE IF NOT EXISTS otel_traces" in result.stdout
        assert not (tmp_path / ".syncsight").exists()

    def test_a_directory_another_engine_holds_is_named_with_the_way_out(
        self, tmp_path: Path
    ) -> None:
        """`ledger seal` on an embedded directory another process has open (as a running
        service does) says so and points at the REST API, instead of the engine's bare
        'Error initializing EmbeddedServer'."""
        data = tmp_path / "data"
        with subprocess.Popen(
            [sys.executable, "-c", HOLD_ENGINE, str(data)], stdout=subprocess.PIPE, text=True
        ) as holder:
            try:
                assert holder.stdout is not None
                assert holder.stdout.readline().strip() == "open"
                result = run(
                    "ledger", "seal", "--day", "2026-12-01", "--clickhouse-url", f"chdb://{data}"
                )
            finally:
                holder.kill()
        assert result.returncode == 2
        assert f"the embedded database '{data}' is open in another process" in result.stderr
        assert "POST /api/v1/admin/ledger/seal" in result.stderr

    def test_migrate_then_rebuild_on_a_fresh_embedded_engine(self, tmp_path: Path) -> None:
        """The default URL creates ./.syncsight/data on demand; migrate is idempotent."""
        first = run("migrate", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "migrations applied: 1, 2" in first.stdout
        assert (tmp_path / ".syncsight" / "data").is_dir()
        assert (
            "retention: ALTER TABLE otel_traces MODIFY TTL toDateTime(Timestamp) + toIntervalDay(400)"
            in first.stdout
        )
        second = run("migrate", cwd=tmp_path)
        assert "already up to date" in second.stdout
        assert "retention:" not in second.stdout
        rebuilt = run("rebuild", cwd=tmp_path)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "rebuilt from 0 spans" in rebuilt.stdout
