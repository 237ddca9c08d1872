"""The people and clients of each legal entity: consultants, customers, and new customers' ERP set-up.

Existing customers were set up in the ERP before the quarter; customers won during the quarter are
synced from the CRM to the ERP when they are onboarded, and some of those syncs fail for missing
master data, which later blocks their invoices.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from domain import semconv
from simulator.business_time import BusinessCalendar
from simulator.events import BusinessEvent
from simulator.firm import ROLE_WEIGHTS, ROLES, Consultant, LegalEntity, Scale
from simulator.trouble import (
    Blocker,
    DeliveryPlanner,
    customer_not_in_erp,
    tax_registration_missing,
)

NEW_CUSTOMER_SHARE: Final = 0.3
FAILED_CUSTOMER_SYNC_SHARE: Final = 0.25
FIXED_CUSTOMER_SYNC_SHARE: Final = 0.65


@dataclass(frozen=True, slots=True)
class Customer:
    """A client account of one legal entity; ``sync`` is its ERP set-up when won this quarter."""

    id: str
    legal_entity_id: str
    sync: BusinessEvent | None

    @property
    def onboarded_at(self) -> datetime | None:
        return self.sync.first_seen_at if self.sync else None

    def invoicing_blocker(self) -> Blocker | None:
        """Invoices for the customer fail with master_data until its ERP set-up succeeds."""
        if self.sync is None:
            return None
        error = customer_not_in_erp(self.id, self.legal_entity_id)
        return Blocker(error, self.sync.succeeded_at)


@dataclass(frozen=True, slots=True)
class EntitySetup:
    """One legal entity with its calendar, consultants and customers for a scenario."""

    entity: LegalEntity
    calendar: BusinessCalendar
    consultants: tuple[Consultant, ...]
    customers: tuple[Customer, ...]
    customer_cumulative_weights: tuple[float, ...]

    def close_deadline(self, period: str) -> datetime:
        return self.calendar.close_deadline(period, self.entity.close_day)

    def planner(self, rng: random.Random, end: datetime) -> DeliveryPlanner:
        return DeliveryPlanner(rng, self.calendar, end, self.close_deadline, self.entity.id)


def build_entity_setup(
    *, seed: int, entity: LegalEntity, scale: Scale, start: datetime, end: datetime
) -> EntitySetup:
    """Consultants and customers of ``entity``, drawn from their own seeded generators."""
    years = range(start.year - 1, end.year + 2)
    calendar = BusinessCalendar.for_country(
        entity.time_zone, entity.holiday_country, years, entity.holiday_subdivision
    )
    consultants = _consultants(random.Random(f"{seed}:{entity.code}:consultants"), entity, scale)
    rng = random.Random(f"{seed}:{entity.code}:customers")
    customers: list[Customer] = []
    weights: list[float] = []
    planner = DeliveryPlanner(rng, calendar, end, lambda _period: end, entity.id)
    for number in range(1, scale.customers_per_entity + 1):
        customer_id = f"CUS-{entity.code}-{number:04d}"
        sync = None
        if rng.random() < NEW_CUSTOMER_SHARE:
            sync = _customer_sync(rng, planner, calendar, entity, customer_id, start, end)
        customers.append(Customer(customer_id, entity.id, sync))
        # A few key accounts place most of the work, as in any consulting book of business.
        weights.append(rng.paretovariate(1.3))
    return EntitySetup(
        entity,
        calendar,
        consultants,
        tuple(customers),
        tuple(itertools.accumulate(weights)),
    )


def _consultants(rng: random.Random, entity: LegalEntity, scale: Scale) -> tuple[Consultant, ...]:
    consultants = []
    for number in range(1, scale.consultants_per_entity + 1):
        role = rng.choices(ROLES, weights=ROLE_WEIGHTS)[0]
        rate = 5 * round(rng.randint(role.lowest_rate, role.highest_rate) / 5)
        consultants.append(Consultant(f"EMP-{entity.code}-{number:05d}", role.name, rate))
    return tuple(consultants)


def _customer_sync(
    rng: random.Random,
    planner: DeliveryPlanner,
    calendar: BusinessCalendar,
    entity: LegalEntity,
    customer_id: str,
    start: datetime,
    end: datetime,
) -> BusinessEvent:
    latest = end - timedelta(days=21)
    onboarding = start + (latest - start) * rng.random() ** 1.4
    first_at = calendar.office_time_from(onboarding, rng.uniform(0, 2))
    blockers: list[Blocker] = []
    if rng.random() < FAILED_CUSTOMER_SYNC_SHARE:
        fixed = rng.random() < FIXED_CUSTOMER_SYNC_SHARE
        cleared_at = calendar.add_business_hours(first_at, rng.uniform(40, 300)) if fixed else None
        blockers.append(Blocker(tax_registration_missing(customer_id), cleared_at))
    deliveries = planner.deliver(semconv.CUSTOMER_SYNCED, first_at, blockers=blockers)
    return BusinessEvent(
        event_id=f"{semconv.CUSTOMER_SYNCED}:{customer_id}",
        event_type=semconv.CUSTOMER_SYNCED,
        object_ids={semconv.CUSTOMER: customer_id, semconv.LEGAL_ENTITY: entity.id},
        deliveries=deliveries,
    )
