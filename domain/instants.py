"""Instants are aware UTC datetimes everywhere inside syncsight; this is where one becomes so."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(instant: datetime) -> datetime:
    """``instant`` as an aware UTC datetime (the driver returns naive UTC for some engines)."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
