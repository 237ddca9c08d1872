"""Per-contract bookkeeping while a contract's lifecycle is generated: ids, events and timers."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from simulator.events import BusinessEvent, ObjectIds
from simulator.history import SlaDefinition, TimerRun
from simulator.population import EntitySetup
from simulator.trouble import Blocker


class ContractIds:
    """Enterprise ids of one contract's objects, numbered within the contract."""

    def __init__(self, entity_code: str, number: int) -> None:
        self._stem = f"{entity_code}-{number:05d}"
        self.contract = f"CTR-{self._stem}"
        self.project = f"PRJ-{self._stem}"
        self._time_entries = 0
        self._expenses = 0
        self._billing_events = 0
        self._journals = 0

    def obligation(self, index: int) -> str:
        return f"POB-{self._stem}-{index}"

    def revenue_schedule(self, index: int) -> str:
        return f"RS-{self._stem}-{index}"

    def milestone(self, index: int) -> str:
        return f"MS-{self._stem}-{index}"

    def next_time_entry(self) -> str:
        self._time_entries += 1
        return f"TE-{self._stem}-{self._time_entries:05d}"

    def next_expense(self) -> str:
        self._expenses += 1
        return f"EX-{self._stem}-{self._expenses:04d}"

    def next_billing_event(self) -> tuple[str, str]:
        """A billing event id and the ERP invoice number reserved for it."""
        self._billing_events += 1
        return (
            f"BE-{self._stem}-{self._billing_events:03d}",
            f"INV-{self._stem}-{self._billing_events:03d}",
        )

    def next_journal(self) -> str:
        self._journals += 1
        return f"JE-{self._stem}-{self._journals:03d}"


class ContractRecorder:
    """Plans each event's deliveries and keeps the events and SLA timers of one contract."""

    def __init__(self, setup: EntitySetup, rng: random.Random, end: datetime) -> None:
        self.setup = setup
        self.calendar = setup.calendar
        self.rng = rng
        self.end = end
        self.events: list[BusinessEvent] = []
        self.timers: list[TimerRun] = []
        self._planner = setup.planner(rng, end)

    def record(
        self,
        event_type: str,
        object_id: str,
        object_ids: ObjectIds,
        first_at: datetime,
        *,
        amount: float | None = None,
        upstream: Sequence[BusinessEvent] = (),
        blockers: Sequence[Blocker] = (),
        period: str | None = None,
        posts_into_period: bool = False,
    ) -> BusinessEvent | None:
        """The event keyed by ``object_id``, or ``None`` when it is first seen after the end."""
        deliveries = self._planner.deliver(
            event_type,
            first_at,
            blockers=blockers,
            period=period,
            posts_into_period=posts_into_period,
        )
        if not deliveries:
            return None
        event = BusinessEvent(
            event_id=f"{event_type}:{object_id}",
            event_type=event_type,
            object_ids=object_ids,
            deliveries=deliveries,
            amount=amount,
            currency=None if amount is None else self.setup.entity.currency,
            upstream_event_ids=tuple(event.event_id for event in upstream),
        )
        self.events.append(event)
        return event

    def time(
        self,
        sla: SlaDefinition,
        key_type: str,
        key: str,
        start: BusinessEvent,
        stop: BusinessEvent | None,
    ) -> None:
        """Record an SLA timer when its start event took effect."""
        if start.succeeded_at is not None:
            self.timers.append(TimerRun(sla, key_type, key, start, stop))

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))
