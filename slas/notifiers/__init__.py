"""Notification channels: each renders alert changes into HTTP messages (pure); ``slas.dispatch``
posts them, remembers what was delivered and backs off when a channel fails."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from slas.alerts import Alert, Change


@dataclass(frozen=True)
class Message:
    """One HTTP POST of JSON ``body`` to ``url``; ``covers`` are the changes it tells, ``pushes``
    the fingerprints of the firing alerts it carries (a resending channel's, changed or not)."""

    url: str
    body: Any
    covers: tuple[Change, ...]
    pushes: tuple[str, ...] = ()

    @property
    def destination(self) -> str:
        """``url`` fit for a log line: scheme and host only, since webhook URLs (Slack's above
        all) carry their credential in the path or the user part."""
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or '?'}{port}/…"


class Channel(Protocol):
    """A place alerts go. ``resends_firing``: it wants every firing alert again periodically."""

    @property
    def name(self) -> str: ...

    @property
    def resends_firing(self) -> bool: ...

    def render(
        self, changes: Sequence[Change], firing: Sequence[Alert], *, now: datetime
    ) -> list[Message]:
        """The messages that tell ``changes`` (and, for a resending channel, ``firing``)."""
        ...
