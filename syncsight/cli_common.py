"""What every ``syncsight`` command shares: the options that override settings, one clear error
line and exit code 2 (``fail``), settings built from the environment and the flags, the REST
client of the read commands, and the engine's connection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from syncsight.config_file import ConfigFileError, FileConfig, load_config
from syncsight.settings import Settings
from warehouse.client import ClickHouseURLError, chdb_data_path, chdb_directory_holder, connect

if TYPE_CHECKING:
    from rest_client.client import ApiClient

console = Console(stderr=True)

ClickHouseURLOption = Annotated[
    str | None,
    typer.Option(
        "--clickhouse-url",
        help="ClickHouse URL (overrides SYNCSIGHT_CLICKHOUSE_URL): chdb:///path, chdb://memory "
        "or http(s)://user:pass@host:8123/db.",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="TOML config file (overrides SYNCSIGHT_CONFIG).", show_default=False
    ),
]
HostOption = Annotated[
    str | None,
    typer.Option("--host", help="Bind address (overrides SYNCSIGHT_HOST).", show_default=False),
]
PortOption = Annotated[
    int | None,
    typer.Option(
        "--port", help="OTLP/HTTP + API port (overrides SYNCSIGHT_PORT).", show_default=False
    ),
]
GrpcPortOption = Annotated[
    int | None,
    typer.Option(
        "--grpc-port", help="OTLP/gRPC port (overrides SYNCSIGHT_GRPC_PORT).", show_default=False
    ),
]

ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        help="Base URL of the syncsight API (overrides SYNCSIGHT_API_URL; default "
        "http://127.0.0.1:4318).",
        show_default=False,
    ),
]
ApiTokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", help="API bearer token (overrides SYNCSIGHT_API_TOKEN).", show_default=False
    ),
]


def fail(message: str) -> NoReturn:
    """Print one clear line and exit non-zero."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def build_settings(**flags: Any) -> Settings:
    """Settings from the environment, with the flags that were given taking precedence."""
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        fail(describe_validation_error(error, given))


def describe_validation_error(error: ValidationError, flags: dict[str, Any]) -> str:
    """One line per problem naming the setting (as flag or variable), the value and the rule."""
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        source = f"--{field.replace('_', '-')}" if field in flags else f"SYNCSIGHT_{field.upper()}"
        message = str(problem["msg"]).removeprefix("Value error, ")
        if f"SYNCSIGHT_{field.upper()}=" in message:  # our validators name setting and value
            lines.append(message.replace(f"SYNCSIGHT_{field.upper()}=", f"{source}="))
        else:
            lines.append(f"{source}={problem.get('input')!r}: {message}")
    return "; ".join(lines)


def load_file_config(settings: Settings) -> FileConfig:
    """The TOML config named by the settings, or a clean exit naming what is wrong with it."""
    try:
        return load_config(settings.config)
    except ConfigFileError as error:
        fail(str(error))


CLI_TIMEOUT_SECONDS = 120.0
"""A lineage of a large object or a quarter's SLA evaluation may take a while on a laptop."""


def api_client(api_url: str | None, api_token: str | None) -> ApiClient:
    """The REST client of the CLI's read commands, from the settings and their flags."""
    from rest_client.client import ApiClient

    settings = build_settings(api_url=api_url, api_token=api_token)
    return ApiClient(
        base_url=settings.api_url,
        token=settings.api_token.get_secret_value(),
        timeout=CLI_TIMEOUT_SECONDS,
    )


def refuse_held_directory(settings: Settings) -> None:
    """Stop with one line when another process holds the embedded engine's directory (the engine
    itself says only BAD_ARGUMENTS then, after a traceback)."""
    directory = chdb_data_path(settings.clickhouse_url)
    holder = None if directory is None else chdb_directory_holder(directory)
    if holder is not None:
        fail(
            f"cannot open ClickHouse at {settings.clickhouse_url!r}: {holder} holds this "
            "embedded directory, and the engine opens a directory in one process only; stop it "
            "(a running `syncsight serve`?), or ask that service through its REST API with an "
            "admin token (a rebuild: POST /api/v1/admin/rebuild; a day's seal: POST "
            "/api/v1/admin/ledger/seal?day=YYYY-MM-DD)"
        )


def connect_or_fail(settings: Settings) -> Any:
    try:
        return connect(settings.clickhouse_url)
    except ClickHouseURLError as error:
        fail(str(error))
    except Exception as error:  # the driver's errors vary by engine; the message says enough
        from syncsight.redaction import Redactor, secrets_of

        refuse_held_directory(settings)
        hide = Redactor(secrets_of(settings))
        fail(hide(f"cannot open ClickHouse at {settings.clickhouse_url!r}: {error}"))
