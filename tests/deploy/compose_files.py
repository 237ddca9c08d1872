"""Reading the deployment files as Docker Compose and the OTel Collector would: YAML, Compose's
``${VAR}`` interpolation, and the Compose client when one is installed (no engine is needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
EXPORTER_OVERRIDE = ROOT / "deploy" / "compose.clickhouse-exporter.yml"
TLS_OVERRIDE = ROOT / "deploy" / "compose.otlp-tls.yml"
CLICKHOUSE_USERS = ROOT / "deploy" / "clickhouse" / "users.d" / "syncsight-users.xml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"

# Values a deployment's .env would hold (never real secrets).
TEST_ENV = {
    "CLICKHOUSE_PASSWORD": "0123456789abcdef0123456789abcdef",
    "CLICKHOUSE_WRITER_PASSWORD": "writer0123456789abcdef0123456789",
    "CLICKHOUSE_READER_PASSWORD": "reader0123456789abcdef0123456789",
    "COLLECTOR_INGEST_TOKEN": "ingest-0123456789abcdef",
    "OTLP_SENDER_TOKEN": "sender-0123456789abcdef",
    "ALERT_WEBHOOK_URL_FILE": "./deploy/alertmanager/webhook-url.example",
    "SYNCSIGHT_API_TOKENS": "viewer-0123456789abcdef:viewer,admin-0123456789abcdef:admin",
    "OTLP_TLS_DIR": "./deploy/otel-collector",
    "PROMETHEUS_API_TOKEN_FILE": "./deploy/alertmanager/webhook-url.example",
    "GRAFANA_ADMIN_PASSWORD": "grafana0123456789abcdef0123456789",
    "SIGNING_KEY_FILE": "./deploy/syncsight/signing-key.pem",
}

_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


class MissingVariable(ValueError):
    """A required ``${NAME:?message}`` that the environment does not provide."""


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def strings(node: Any) -> Iterator[str]:
    """Every string (keys and values) in a parsed YAML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def references(text: str) -> list[tuple[str, str]]:
    """``(name, operator)`` of every ``${NAME…}`` or ``$NAME`` in ``text`` (``$$`` is a literal)."""
    found = []
    for match in _REFERENCE.finditer(text):
        if match.group(0) == "$$":
            continue
        found.append((match.group("name") or match.group("bare"), match.group("op") or ""))
    return found


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with Compose's interpolation applied, raising ``MissingVariable`` like Compose."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op") or "", match.group("arg") or ""
        value = env.get(name)
        missing = value is None or (op.startswith(":") and value == "")
        if op in (":?", "?") and missing:
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-") and missing:
            return arg
        return value or ""

    return _REFERENCE.sub(substitute, text)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a mapping, whichever form the file uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def parse_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of an env file, comments and blanks skipped."""
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def compose_client() -> list[str] | None:
    """The Compose v2 client (``docker compose`` plugin or standalone), or None when absent."""
    docker = shutil.which("docker")
    if docker and _answers([docker, "compose", "version"]):
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone and _answers([standalone, "version"], needs="v2"):
        return [standalone]
    return None


def _answers(command: list[str], *, needs: str = "") -> bool:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return False
    return result.returncode == 0 and needs in result.stdout
