"""Instants are aware UTC datetimes everywhere inside syncsight; this is where one becomes so."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The Unix epoch as an aware UTC instant: where epoch seconds and microseconds count from, and
the watermark of what was never derived or recorded."""


def utc(instant: datetime) -> datetime:
    """``instant`` as an aware UTC datetime (the driver returns naive UTC for some engines)."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
