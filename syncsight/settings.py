"""Process settings: one pydantic-settings class, environment prefix ``SYNCSIGHT_``.

Built once by the CLI (the entry point) and passed down; nothing reads the environment elsewhere.
Every setting has a default that is safe for ``syncsight demo`` on a laptop.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from warehouse.client import validate_url

DATA_DIR = Path(".syncsight")


def default_clickhouse_url() -> str:
    """``chdb://`` + the absolute path of ``./.syncsight/data`` (created when first opened)."""
    return f"chdb://{(DATA_DIR / 'data').resolve()}"


class Settings(BaseSettings):
    """Everything a syncsight process can be told through ``SYNCSIGHT_*`` variables or flags."""

    model_config = SettingsConfigDict(env_prefix="SYNCSIGHT_", extra="forbid")

    clickhouse_url: str = Field(
        default_factory=default_clickhouse_url,
        description="ClickHouse to use: chdb:///absolute/path (embedded, the default), "
        "chdb://memory, or http(s)://user:password@host:port/database for a server.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP API and OTLP/HTTP bind.")
    port: int = Field(default=4318, ge=0, le=65535, description="OTLP/HTTP and REST API port.")
    grpc_port: int = Field(default=4317, ge=0, le=65535, description="OTLP/gRPC port.")
    config: Path | None = Field(
        default=None,
        description="Optional TOML file: correlation rules, SLAs, calendars, notifications.",
    )

    @field_validator("clickhouse_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        return validate_url(value)
