"""One factory for every ClickHouse connection: ``chdb://`` runs the engine in-process, ``http(s)://``
talks to a server. The scheme is the only thing that differs; the SQL is the same on both."""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

logger = logging.getLogger(__name__)

SUPPORTED_SCHEMES = ("chdb", "http", "https")

# Settings every session gets: readers see a consistent UTC clock whatever the host zone is, and
# the materialized views must be allowed to run while an insert block is still being written.
SESSION_SETTINGS: dict[str, Any] = {
    "session_timezone": "UTC",
}


EMBEDDED_ENGINE_OPTIONS: dict[str, int] = {
    "mark_cache_size": 256 << 20,
    "primary_index_cache_size": 64 << 20,
    "index_mark_cache_size": 32 << 20,
    "compiled_expression_cache_size": 32 << 20,
    "query_condition_cache_size": 16 << 20,
}
"""Server caches of the embedded engine, sized for one process beside syncsight: ClickHouse's
defaults (5 GiB each for marks and primary indexes) suit a server with the machine to itself, and
in-process they grew the service's memory with every part its reads touched. The first client of
an engine sets them; later clients of the same data path share that engine."""

READ_LIMIT_ERRORS = ("TIMEOUT_EXCEEDED", "MEMORY_LIMIT_EXCEEDED", "TOO_MANY_ROWS_OR_BYTES")
"""Names of the engine errors a query over its ``ReadLimits`` raises."""


@dataclass(frozen=True)
class ReadLimits:
    """What one API read may cost the engine; the ingest writer never runs under them."""

    max_execution_seconds: float
    max_memory_bytes: int
    max_result_rows: int

    def settings(self) -> dict[str, Any]:
        """The ClickHouse settings that enforce the limits (a read over them fails)."""
        return {
            "max_execution_time": self.max_execution_seconds,
            "max_memory_usage": self.max_memory_bytes,
            "max_result_rows": self.max_result_rows,
            "result_overflow_mode": "throw",
        }


class ClickHouseURLError(ValueError):
    """A ClickHouse URL that names no engine we can open."""


def validate_url(url: str) -> str:
    """Return ``url`` when its scheme is one we support, else raise a message naming the value."""
    scheme = urlsplit(url).scheme
    if scheme not in SUPPORTED_SCHEMES:
        raise ClickHouseURLError(
            f"SYNCSIGHT_CLICKHOUSE_URL={redact(url)!r}: unsupported scheme {scheme!r}; expected "
            "chdb:///absolute/path, chdb://memory or http(s)://user:pass@host:port/database"
        )
    if scheme == "chdb":
        parts = urlsplit(url)
        if parts.netloc not in ("", "memory"):
            raise ClickHouseURLError(
                f"SYNCSIGHT_CLICKHOUSE_URL={redact(url)!r}: a chdb URL is chdb:///absolute/path or "
                "chdb://memory"
            )
    return url


def chdb_data_path(url: str) -> Path | None:
    """The on-disk data directory of a ``chdb:///path`` URL, or None for other engines."""
    parts = urlsplit(url)
    if parts.scheme != "chdb" or parts.netloc == "memory":
        return None
    return Path(parts.path)


def held_by_another_process(data_path: Path) -> bool:
    """Whether a running engine holds the embedded directory: ClickHouse keeps an exclusive
    ``flock`` on its ``status`` file while it runs (another process's ``syncsight serve``).
    Ask it only after opening failed: this process's own engine holds the lock too."""
    try:
        descriptor = os.open(data_path / "status", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return False
    finally:
        os.close(descriptor)


def connect(
    url: str, *, database: str | None = None, read_limits: ReadLimits | None = None
) -> Client:
    """Open a client for ``url``; for ``chdb:///path`` the data directory is created on demand.

    ``database`` overrides the database of the URL (tests use one database per test on one engine);
    ``read_limits`` bound every query of the client.
    """
    validate_url(url)
    data_path = chdb_data_path(url)
    if data_path is not None:
        data_path.mkdir(parents=True, exist_ok=True)
    session = dict(SESSION_SETTINGS) | (read_limits.settings() if read_limits else {})
    kwargs: dict[str, Any] = {"dsn": url, "settings": session}
    if urlsplit(url).scheme == "chdb":
        kwargs["chdb_options"] = EMBEDDED_ENGINE_OPTIONS
    if database is not None:
        kwargs["database"] = database
    client = clickhouse_connect.get_client(**kwargs)
    logger.debug("connected to ClickHouse %s (server %s)", redact(url), client.server_version)
    return client


def redact(url: str) -> str:
    """``url`` with any password replaced, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def describe_database(url: str, *, database: str | None = None) -> str:
    """Which database ``url`` (and the ``database`` override) names, without any password: an
    embedded engine by its absolute data path, a server by user, host, port and database."""
    parts = urlsplit(url)
    data_path = chdb_data_path(url)
    if parts.scheme == "chdb":
        engine = f"chdb://{data_path.resolve()}" if data_path is not None else "chdb://memory"
        return f"{engine} database {database}" if database else engine
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    name = database or parts.path.strip("/") or "default"
    return f"{parts.scheme}://{user}{parts.hostname}{port}/{name}"
