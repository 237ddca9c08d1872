"""The Host allow-list (``SYNCSIGHT_ALLOWED_HOSTS``): every HTTP request must name, in its ``Host``
header, a name this service answers to. A web page that rebinds its own DNS name to 127.0.0.1 then
reaches nothing here, because the browser still sends the page's name as ``Host``."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
ANY_HOST = "*"


class AllowedHostError(ValueError):
    """An ``SYNCSIGHT_ALLOWED_HOSTS`` entry that is not a host name, an address, ``*.domain`` or ``*``."""


def parse_allowed_hosts(text: str) -> tuple[str, ...]:
    """``"name, *.example.com, 10.0.0.5"`` → lower-case entries; blanks are ignored."""
    entries: list[str] = []
    for number, raw in enumerate(text.split(","), start=1):
        entry = raw.strip().lower().strip("[]")
        if not entry:
            continue
        if entry != ANY_HOST and not _is_host(entry.removeprefix("*.")):
            raise AllowedHostError(
                f"entry {number} {raw.strip()!r}: expected a host name or IP address without "
                "port or scheme, *.domain for its subdomains, or * for any host"
            )
        entries.append(entry)
    return tuple(entries)


def allowed_hosts(configured: Iterable[str], *, bind_host: str, public_url: str) -> frozenset[str]:
    """The names the service answers to: the configured ones, or by default the loopback names,
    the bind address (unless it is a wildcard such as 0.0.0.0) and the host of ``public_url``."""
    hosts = set(configured)
    if hosts:
        return frozenset(hosts)
    hosts.update(LOOPBACK_NAMES)
    bind = bind_host.strip().lower().strip("[]")
    if bind not in WILDCARD_BINDS:
        hosts.add(bind)
    public_host = urlsplit(public_url).hostname if public_url else None
    if public_host:
        hosts.add(public_host.lower())
    return frozenset(hosts)


def host_name(header: str) -> str | None:
    """The name of a ``Host`` header without its port (``[::1]:4318`` → ``::1``), or None."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        rest = header[end + 1 :]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return header[1:end] or None
    name, colon, port = header.partition(":")
    if colon and not port.isdigit():
        return None
    return name or None


def host_allowed(name: str, allowed: frozenset[str]) -> bool:
    if ANY_HOST in allowed or name in allowed:
        return True
    return any(entry.startswith("*.") and name.endswith(entry[1:]) for entry in allowed)


def _is_host(text: str) -> bool:
    """An IP address, or a name without port, scheme, path, credentials or wildcard."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(text) and not any(character in text for character in "*/:@ \t")
    return True


class HostAllowList:
    """ASGI middleware: 400 for a request whose ``Host`` is missing or not allowed."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or ANY_HOST in self.allowed:
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        name = host_name(header)
        if name is not None and host_allowed(name, self.allowed):
            await self.app(scope, receive, send)
            return
        logger.info("refused Host %r for %s %s", header[:100], scope.get("method"), scope["path"])
        response = JSONResponse(
            {
                "detail": f"Host {header[:100]!r} is not one this service answers to; expected "
                "a name listed in SYNCSIGHT_ALLOWED_HOSTS (default: localhost, 127.0.0.1, ::1 "
                "and the bind address)"
            },
            status_code=400,
        )
        await response(scope, receive, send)
