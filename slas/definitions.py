"""Business SLA definitions: what starts and stops a timer, its key, target, thresholds, owner.

The four defaults (README, Business SLAs) apply unless the TOML file overrides them by name (partially, or
with ``enabled = false``) or adds new ones (``syncsight.config_model`` reads that file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from domain import semconv as sc
from slas.calendars import EntityCalendar

SEVERITIES: Final = ("critical", "error", "warning", "info")
DEFAULT_WARNING_THRESHOLDS: Final = (0.5, 0.75)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhm])")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*[dhm]\s*)+$")


class DefinitionError(ValueError):
    """An SLA definition that cannot be evaluated: ``field``, and ``reason`` naming the value."""

    def __init__(self, reason: str, *, field: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class BusinessDuration:
    """A target in business time: business days (of the entity's calendar) plus business hours."""

    days: float = 0.0
    hours: float = 0.0

    @classmethod
    def parse(cls, text: str) -> BusinessDuration:
        """``"2d"``, ``"36h"``, ``"1d 4h"``, ``"90m"``; ``DefinitionError`` otherwise."""
        if not _DURATION.match(text):
            raise DefinitionError(
                "expected business days/hours/minutes such as '2d', '36h', '1d 4h' or '90m'",
                field="target",
            )
        days = hours = 0.0
        for number, unit in _DURATION_PART.findall(text):
            value = float(number)
            if unit == "d":
                days += value
            elif unit == "h":
                hours += value
            else:
                hours += value / 60
        if days == 0 and hours == 0:
            raise DefinitionError("must be longer than zero", field="target")
        return cls(days, hours)

    def seconds(self, calendar: EntityCalendar) -> float:
        """Business seconds of this target in ``calendar`` (a business day is its working day)."""
        return self.days * calendar.business_day_seconds + self.hours * 3600.0

    def __str__(self) -> str:
        parts = []
        if self.days:
            parts.append(f"{self.days:g}d")
        if self.hours:
            parts.append(f"{self.hours:g}h")
        return " ".join(parts)


@dataclass(frozen=True)
class SlaDefinition:
    """One business SLA.

    A timer runs per start event that took effect, keyed by the start's object of one of
    ``key_types`` (see ``slas.queries`` for start events that reach their key through the object
    graph); the first successful stop event of the same key at or after the start stops it.
    ``same_period``: the stop must also post into the period of the start event.
    """

    name: str
    start_event_types: tuple[str, ...]
    stop_event_types: tuple[str, ...]
    key_types: tuple[str, ...]
    target: BusinessDuration
    warning_thresholds: tuple[float, ...] = DEFAULT_WARNING_THRESHOLDS
    same_period: bool = False
    legal_entities: tuple[str, ...] = ()
    """Only timers of these legal entities (empty: all)."""
    customers: tuple[str, ...] = ()
    """Only timers of these customers (empty: all)."""
    severity: str = "warning"
    owner: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        validate(self)

    @property
    def event_types(self) -> tuple[str, ...]:
        return self.start_event_types + self.stop_event_types


def validate(definition: SlaDefinition) -> None:
    """Raise ``DefinitionError`` naming the first field that cannot work."""
    if not NAME.fullmatch(definition.name):
        raise DefinitionError(
            f"{definition.name!r}: expected letters, digits, '-', '_' or '.' (at most 100)",
            field="name",
        )
    for field_name, types in (
        ("start", definition.start_event_types),
        ("stop", definition.stop_event_types),
    ):
        if not types:
            raise DefinitionError("expected at least one event type", field=field_name)
        for event_type in types:
            if event_type not in sc.EVENT_TYPES:
                raise DefinitionError(
                    f"unknown event type {event_type!r}; expected one of "
                    + ", ".join(sc.EVENT_TYPES),
                    field=field_name,
                )
    both = sorted(set(definition.start_event_types) & set(definition.stop_event_types))
    if both:
        raise DefinitionError(
            f"start and stop both name {', '.join(both)}; a timer needs two", field="start"
        )
    if not definition.key_types:
        raise DefinitionError("expected at least one object type", field="key")
    for key_type in definition.key_types:
        if key_type not in sc.OBJECT_TYPES or key_type in sc.DIMENSION_OBJECT_TYPES:
            keyable = [t for t in sc.OBJECT_TYPES if t not in sc.DIMENSION_OBJECT_TYPES]
            raise DefinitionError(
                f"{key_type!r} cannot correlate a timer; expected one of " + ", ".join(keyable),
                field="key",
            )
    thresholds = definition.warning_thresholds
    if any(not 0 < t < 1 for t in thresholds) or list(thresholds) != sorted(set(thresholds)):
        raise DefinitionError(
            f"{list(thresholds)}: expected ascending shares between 0 and 1, such as [0.5, 0.75]",
            field="warning_thresholds",
        )
    if definition.severity not in SEVERITIES:
        raise DefinitionError(
            f"{definition.severity!r}: expected one of {', '.join(SEVERITIES)}",
            field="severity",
        )


TIME_TO_PROJECT_CREATION = SlaDefinition(
    name="time-to-project-creation",
    start_event_types=(sc.CONTRACT_SIGNED,),
    stop_event_types=(sc.PROJECT_ACTIVATED,),
    key_types=(sc.CONTRACT,),
    target=BusinessDuration(days=2),
    severity="warning",
    owner="sales-operations",
    description="A signed contract has an active project in the PSA.",
)
TIME_TO_BILL_READINESS = SlaDefinition(
    name="time-to-bill-readiness",
    start_event_types=(sc.TIME_APPROVED, sc.MILESTONE_COMPLETED),
    stop_event_types=(sc.BILLING_READY,),
    key_types=(sc.TIME_ENTRY, sc.MILESTONE),
    target=BusinessDuration(days=3),
    severity="warning",
    owner="delivery-operations",
    description="Approved time and completed milestones are in a released billing event.",
)
TIME_TO_INVOICE_POSTING = SlaDefinition(
    name="time-to-invoice-posting",
    start_event_types=(sc.BILLING_READY,),
    stop_event_types=(sc.INVOICE_POSTED,),
    key_types=(sc.BILLING_EVENT,),
    target=BusinessDuration(days=1),
    severity="critical",
    owner="billing-operations",
    description="A bill-ready billing event is posted as an invoice in the ERP.",
)
TIME_TO_REVENUE_POSTING = SlaDefinition(
    name="time-to-revenue-posting",
    start_event_types=(sc.INVOICE_POSTED, sc.MILESTONE_COMPLETED),
    stop_event_types=(sc.REVENUE_POSTED,),
    key_types=(sc.OBLIGATION,),
    target=BusinessDuration(days=2),
    same_period=True,
    severity="critical",
    owner="revenue-accounting",
    description="Invoiced or completed work is recognised as revenue, inside the same period.",
)
DEFAULT_SLAS: Final = (
    TIME_TO_PROJECT_CREATION,
    TIME_TO_BILL_READINESS,
    TIME_TO_INVOICE_POSTING,
    TIME_TO_REVENUE_POSTING,
)
