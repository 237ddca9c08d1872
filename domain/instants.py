"""Instants are aware UTC datetimes everywhere inside syncsight; this is where one becomes so, and
the one range of instants an answer is asked for (``as_of``, ``known_at`` and their kin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The Unix epoch as an aware UTC instant: where epoch seconds and microseconds count from, and
the watermark of what was never derived or recorded."""

LATEST: Final = datetime(2262, 1, 1, tzinfo=UTC)
"""The first instant no answer is asked for: the engine's DateTime64(9) (nanoseconds in an Int64)
ends on 2262-04-11, and the state tables' "not settled yet" (``warehouse.schema.HELD_UNTIL``) is
2262-01-01, so an ``as_of`` from then on would find every held item settled."""


def utc(instant: datetime) -> datetime:
    """``instant`` as an aware UTC datetime (the driver returns naive UTC for some engines)."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def asked_instant(instant: datetime, name: str) -> datetime:
    """``instant`` in UTC (naive means UTC) when an answer can be asked for it: from the epoch
    (an OTLP span's time and a row's knowledge time count from it, so nothing happened or was
    stored before) to before ``LATEST``. Else ``ValueError`` naming ``name``, the value and the
    range, which every route answers as its 422."""
    asked = utc(instant)
    if not EPOCH <= asked < LATEST:
        raise ValueError(
            f"{name}={asked.isoformat()}: expected an instant from {EPOCH.date()} to before "
            f"{LATEST.date()}"
        )
    return asked
