"""The Dockerfile builds the package `make test` installs, runs it as non-root through the CLI, and
its build context (.dockerignore) holds what that needs; checked by reading, as no engine runs."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from typing import Any

import pytest
import typer

from syncsight.cli import app as cli_app
from tests.deploy.compose_files import COMPOSE_FILE, ROOT, load_yaml

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGES: list[str] = [
    pattern.removesuffix("*")
    for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
]
BUILD_FILES = {"pyproject.toml", "setup.py", PYPROJECT["project"]["readme"]}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    parsed = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            parsed.append((keyword.upper(), arguments.strip()))
    return parsed


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage (each starts at a FROM)."""
    result: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, arguments))
    return result


def build_args() -> dict[str, str]:
    return dict(
        arguments.split("=", 1) for keyword, arguments in instructions() if keyword == "ARG"
    )


def cli_commands() -> set[str]:
    commands: dict[str, Any] = getattr(typer.main.get_command(cli_app), "commands", {})
    return set(commands)


class TestImage:
    def test_the_build_copies_every_package_of_the_wheel(self) -> None:
        """Each package of the wheel, plus pyproject.toml, setup.py and the readme, is copied."""
        copied = {
            source.rstrip("/")
            for keyword, arguments in stages()[0]
            if keyword == "COPY"
            for source in arguments.split()[:-1]
        }
        assert set(PACKAGES) | BUILD_FILES <= copied

    def test_it_installs_this_project_as_make_test_does(self) -> None:
        """`pip install .` of the copied pyproject (the same package, without the dev extras)."""
        runs = " ".join(arguments for keyword, arguments in stages()[0] if keyword == "RUN")
        assert re.search(r"pip install \.(\s|$|&)", runs), runs
        assert "-e " not in runs
        makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
        assert re.search(r'pip install [^\n]*-e "?\.(\[[a-z,]+\])?"?', makefile)

    def test_the_python_version_satisfies_requires_python(self) -> None:
        """The base image's Python is at least the project's minimum and a slim variant."""
        minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
        version = build_args()["PYTHON_VERSION"]
        assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))
        for stage in stages():
            base = stage[0][1].split()[0]
            assert base == "python:${PYTHON_VERSION}-slim-bookworm", base

    def test_the_final_stage_runs_as_an_unprivileged_user(self) -> None:
        """The last USER of the runtime stage is neither root nor uid 0."""
        users = [arguments for keyword, arguments in stages()[-1] if keyword == "USER"]
        assert users, "the runtime stage sets no USER"
        assert users[-1].split(":")[0] not in ("root", "0")

    def test_the_entry_point_is_the_cli_with_serve_by_default(self) -> None:
        """ENTRYPOINT is the console script of pyproject; CMD is one of its commands."""
        final = dict(stages()[-1])
        assert json.loads(final["ENTRYPOINT"]) == list(PYPROJECT["project"]["scripts"])
        (command,) = json.loads(final["CMD"])
        assert command in cli_commands()

    @pytest.mark.parametrize(
        "service",
        sorted(n for n, s in load_yaml(COMPOSE_FILE)["services"].items() if "build" in s),
    )
    def test_compose_runs_commands_the_cli_has(self, service: str) -> None:
        """Each compose service built from the Dockerfile runs an existing CLI command."""
        (command, *_) = load_yaml(COMPOSE_FILE)["services"][service]["command"]
        if command == "dashboard" and command not in cli_commands():
            pytest.skip("`syncsight dashboard` arrives with the dashboard package")
        assert command in cli_commands()


def docker_ignored(name: str) -> bool:
    """Whether a top-level name is excluded from the build context (last matching rule wins)."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(name, pattern):
            ignored = not negated
    return ignored


class TestBuildContext:
    @pytest.mark.parametrize("name", [*PACKAGES, *sorted(BUILD_FILES)])
    def test_what_the_build_copies_is_in_the_context(self, name: str) -> None:
        """Packages and project metadata are not excluded by .dockerignore."""
        assert not docker_ignored(name)

    @pytest.mark.parametrize(
        "name", [".venv", ".syncsight", ".git", "tests", "benchmarks", ".env", "docs"]
    )
    def test_local_state_and_secrets_stay_out_of_the_context(self, name: str) -> None:
        """Virtualenvs, data, the repository, tests and a local .env never reach the image."""
        assert docker_ignored(name)
