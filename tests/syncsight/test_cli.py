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
HOLD_DIRECTORY = """
import sys, time
from warehouse.client import connect
client = connect(sys.argv[1])
client.command("SELECT 1")
print("open", flush=True)
time.sleep(120)
"""


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

    def test_a_directory_another_process_holds_is_named_with_that_process(
        self, tmp_path: Path
    ) -> None:
        """Found running `syncsight rebuild` beside a running `serve` (session 28): the engine
        said only "Failed to create connection … BAD_ARGUMENTS" (and a second `serve` a traceback).
        The message names the process that holds the directory and the way to rebuild through
        it."""
        url = f"chdb://{tmp_path / 'data'}"
        holder = subprocess.Popen(  # an engine holding the directory, as a running serve does
            [sys.executable, "-c", HOLD_DIRECTORY, url], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "open"
            rebuilt = run("rebuild", "--clickhouse-url", url)
            sealed = run("ledger", "seal", "--day", "2026-12-01", "--clickhouse-url", url)
            served = run("serve", "--clickhouse-url", url, "--port", "9", "--grpc-port", "9")
            demo = run("demo", env={"SYNCSIGHT_CLICKHOUSE_URL": url}, cwd=tmp_path)
        finally:
            holder.kill()
            holder.wait(30)
            if holder.stdout is not None:
                holder.stdout.close()
        assert rebuilt.returncode == 2
        assert f"process {holder.pid} (started " in rebuilt.stderr
        assert "holds this embedded directory" in rebuilt.stderr
        assert "POST /api/v1/admin/rebuild" in rebuilt.stderr
        assert sealed.returncode == 2, "an auditor's seal beside a running service (h/audit28)"
        assert f"process {holder.pid} (started " in sealed.stderr
        assert "POST /api/v1/admin/ledger/seal" in sealed.stderr
        assert served.returncode == 2, "a second serve: one line, no traceback"
        assert "Traceback" not in served.stderr
        assert f"process {holder.pid} (started " in served.stderr
        assert demo.returncode == 2, demo.stdout
        assert f"process {holder.pid} (started " in demo.stderr

    def test_migrate_print_emits_ddl_without_touching_a_database(self, tmp_path: Path) -> None:
        """--print only prints; no data directory appears."""
        result = run("migrate", "--print", cwd=tmp_path)
        assert result.returncode == 0
        assert "CREATE TABLE IF NOT EXISTS otel_traces" in result.stdout
        assert not (tmp_path / ".syncsight").exists()

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
