"""Business events as the middleware delivers them: deliveries (one trace each) and attempts.

An attempt is one call to the target system and becomes the CLIENT span that carries the event's
``biz.*`` attributes; a delivery is one trace, the first one or a later replay of the same event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from domain import semconv

ObjectIds = Mapping[str, str | tuple[str, ...]]
"""Enterprise ids by object type (``semconv.PROJECT`` …); array-valued ids are tuples."""


@dataclass(frozen=True, slots=True)
class SyncError:
    """Why the target system refused an attempt."""

    category: str
    code: str
    message: str
    exception_type: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to the target system (the CLIENT span)."""

    number: int
    started_at: datetime
    ended_at: datetime
    outcome: str
    period: str | None
    error: SyncError | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == semconv.SUCCESS


@dataclass(frozen=True, slots=True)
class Delivery:
    """One trace: the middleware received the event (first time or as a replay) and tried it."""

    received_at: datetime
    attempts: tuple[Attempt, ...]
    is_replay: bool


@dataclass(frozen=True, slots=True)
class BusinessEvent:
    """A business event with every delivery of it up to the end of the scenario."""

    event_id: str
    event_type: str
    object_ids: ObjectIds
    deliveries: tuple[Delivery, ...]
    amount: float | None = None
    currency: str | None = None
    upstream_event_ids: tuple[str, ...] = ()
    """Events whose message this one consumed; their spans are linked from this one's."""

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        return tuple(attempt for delivery in self.deliveries for attempt in delivery.attempts)

    @property
    def first_seen_at(self) -> datetime:
        return self.deliveries[0].received_at

    @property
    def latest_attempt(self) -> Attempt:
        return self.deliveries[-1].attempts[-1]

    @property
    def successful_attempt(self) -> Attempt | None:
        """The first successful attempt; an event has at most one, it is never delivered again."""
        latest = self.latest_attempt
        return latest if latest.succeeded else None

    @property
    def succeeded_at(self) -> datetime | None:
        """When the event took effect in the target system: its successful CLIENT span's start."""
        attempt = self.successful_attempt
        return attempt.started_at if attempt else None

    @property
    def is_failed(self) -> bool:
        """The latest attempt is not a success (what a failed event is, README: Close risk)."""
        return not self.latest_attempt.succeeded

    @property
    def ever_failed(self) -> bool:
        return any(not attempt.succeeded for attempt in self.attempts)

    @property
    def error_categories(self) -> tuple[str, ...]:
        """Distinct error categories over all attempts, in the order they first happened."""
        seen: dict[str, None] = {}
        for attempt in self.attempts:
            if attempt.error is not None:
                seen.setdefault(attempt.error.category, None)
        return tuple(seen)

    def span_count(self) -> int:
        """Spans the emitter writes: per delivery a consumer, validate and map span, and attempts."""
        return sum(3 + len(delivery.attempts) for delivery in self.deliveries)
