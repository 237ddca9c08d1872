"""Service-level objectives of the SLAs (pure): per SLA and legal entity a share of timers that must
be met over a window of business time, its error budget, and the multi-window burn-rate rule that
fires ``SlaBudgetBurn`` while the budget burns too fast (``slas.objective_answers`` reads the counts).

Burn rate is the SRE workbook's: the share of timers breached in a window divided by the share the
objective allows (1 - objective); 1 spends the budget exactly over the objective's window. An alert
needs both windows of a tier above the tier's factor: the long window says the burn is significant,
the short one (a twelfth of it) that it is still going on, so the alert resolves soon after it stops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from slas.alerts import Alert
from slas.calendars import EntityCalendar
from slas.definitions import BusinessDuration

BUDGET_BURN: Final = "SlaBudgetBurn"
DEFAULT_WINDOW: Final = BusinessDuration(days=20)
"""Four working weeks: the business-time counterpart of the SRE workbook's 28 calendar days."""
SHORT_WINDOW_DIVISOR: Final = 12
"""The short window of a tier is a twelfth of its long one (the workbook's 1 h / 5 min)."""


@dataclass(frozen=True)
class Objective:
    """``share`` of the timers that end in ``window`` (business time, ending at the instant asked
    about) must be met; the rest, (1 - share) of them, is the error budget."""

    share: float
    window: BusinessDuration = DEFAULT_WINDOW


@dataclass(frozen=True)
class BurnTier:
    """One pair of windows: ``long`` business time, and a twelfth of it.

    The tier fires when both windows burn faster than ``factor`` = ``budget_share`` x objective
    window / long window (the rate that spends ``budget_share`` of the budget within the long
    window), and never below 1 (slower than 1 the budget lasts the whole window).
    """

    name: str
    long: BusinessDuration
    budget_share: float
    severity: str

    def windows(self, calendar: EntityCalendar) -> tuple[float, float]:
        """Business seconds of the long and the short window in ``calendar``."""
        long = self.long.seconds(calendar)
        return long, long / SHORT_WINDOW_DIVISOR

    def factor(self, objective: Objective, calendar: EntityCalendar) -> float:
        window = objective.window.seconds(calendar)
        return max(1.0, self.budget_share * window / self.long.seconds(calendar))


BURN_TIERS: Final = (
    BurnTier("fast", BusinessDuration(days=1), budget_share=0.10, severity="critical"),
    BurnTier("slow", BusinessDuration(days=5), budget_share=0.25, severity="warning"),
)
"""Fast: a tenth of the budget gone within one business day (2x for a 20-day window), watched over
1 business day and its twelfth (2 business hours of a 24-hour day). Slow: a quarter within a
business week (1x for 20 days), watched over 5 business days and 10 hours. Timers take business
days, so the workbook's 1 hour / 5 minutes would hold a handful of decisions at most."""

WINDOWS: Final = 1 + 2 * len(BURN_TIERS)
"""Windows an answer counts: the objective's, then each tier's long and short one."""


@dataclass(frozen=True)
class ObjectiveBook:
    """The objective of each SLA (``by_sla``) and the legal entities' own (``by_entity``: SLA →
    entity → objective); an SLA without any has no budget and never fires ``SlaBudgetBurn``."""

    by_sla: Mapping[str, Objective] = field(default_factory=dict)
    by_entity: Mapping[str, Mapping[str, Objective]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.by_sla) or any(self.by_entity.values())

    @property
    def slas(self) -> list[str]:
        """SLAs with an objective for at least one legal entity, sorted."""
        return sorted(set(self.by_sla) | {s for s, own in self.by_entity.items() if own})

    def objective(self, sla: str, legal_entity: str) -> Objective | None:
        own = self.by_entity.get(sla, {}).get(legal_entity)
        return own if own is not None else self.by_sla.get(sla)


@dataclass(frozen=True)
class Counts:
    """Timers met and breached that ended within one window."""

    met: int
    breached: int

    @property
    def total(self) -> int:
        return self.met + self.breached


def burn_rate(counts: Counts, objective: Objective) -> float:
    """Breached share of ``counts`` over the share ``objective`` allows (0 without timers)."""
    if not counts.total:
        return 0.0
    return (counts.breached / counts.total) / (1.0 - objective.share)


def window_seconds(objective: Objective, calendar: EntityCalendar) -> list[float]:
    """Business seconds of the windows an answer counts, in this order: the objective's window,
    then each tier's long and short window (``BURN_TIERS``)."""
    seconds = [objective.window.seconds(calendar)]
    for tier in BURN_TIERS:
        seconds.extend(tier.windows(calendar))
    return seconds


@dataclass(frozen=True)
class TierBurn:
    """One tier's burn rates over its two windows (business hours) and whether it fires."""

    tier: str
    window: str
    """The long window as configured (``1d``): the alert's ``window`` label."""
    severity: str
    long_window_hours: float
    short_window_hours: float
    factor: float
    long_burn: float
    short_burn: float

    @property
    def firing(self) -> bool:
        return self.long_burn > self.factor and self.short_burn > self.factor


@dataclass(frozen=True)
class ObjectiveStatus:
    """Where one SLA stands against its objective in one legal entity."""

    sla: str
    legal_entity: str
    objective: Objective
    window_hours: float
    met: int
    breached: int
    burns: tuple[TierBurn, ...]

    @property
    def attainment(self) -> float | None:
        total = self.met + self.breached
        return self.met / total if total else None

    @property
    def budget(self) -> float:
        """Timers that may breach in the window: (1 - objective) x timers ended in it."""
        return (1.0 - self.objective.share) * (self.met + self.breached)

    @property
    def budget_left(self) -> float | None:
        """Share of the budget not spent (negative once overspent); None without timers."""
        if not self.met + self.breached:
            return None
        return 1.0 - self.breached / self.budget


def objective_status(
    sla: str,
    legal_entity: str,
    objective: Objective,
    calendar: EntityCalendar,
    counts: Sequence[Counts],
) -> ObjectiveStatus:
    """The status from ``counts`` per window, in the order of ``window_seconds``."""
    seconds = window_seconds(objective, calendar)
    if len(counts) != len(seconds):
        raise ValueError(f"expected counts for {len(seconds)} windows, got {len(counts)}")
    burns = tuple(
        TierBurn(
            tier=tier.name,
            window=str(tier.long),
            severity=tier.severity,
            long_window_hours=seconds[1 + 2 * index] / 3600,
            short_window_hours=seconds[2 + 2 * index] / 3600,
            factor=tier.factor(objective, calendar),
            long_burn=burn_rate(counts[1 + 2 * index], objective),
            short_burn=burn_rate(counts[2 + 2 * index], objective),
        )
        for index, tier in enumerate(BURN_TIERS)
        if seconds[1 + 2 * index] < seconds[0]
    )
    return ObjectiveStatus(
        sla=sla,
        legal_entity=legal_entity,
        objective=objective,
        window_hours=seconds[0] / 3600,
        met=counts[0].met,
        breached=counts[0].breached,
        burns=burns,
    )


def budget_burn_alerts(
    statuses: Sequence[ObjectiveStatus],
    owners: Mapping[str, str],
    *,
    now: datetime,
    public_url: str,
) -> list[Alert]:
    """A ``SlaBudgetBurn`` alert per SLA, legal entity and tier whose two windows both burn faster
    than the tier's factor. ``owners``: SLA → its owner (the SLA alerts' ``owner`` label)."""
    alerts = []
    for status in statuses:
        for burn in status.burns:
            if not burn.firing:
                continue
            entity = status.legal_entity or "unknown"
            left = status.budget_left
            alerts.append(
                Alert(
                    labels={
                        "alertname": BUDGET_BURN,
                        "sla": status.sla,
                        "legal_entity": entity,
                        "window": burn.window,
                        "severity": burn.severity,
                        "owner": owners.get(status.sla) or "unassigned",
                    },
                    annotations={
                        "summary": (
                            f"{status.sla} burns its error budget {burn.long_burn:.1f}x at {entity}"
                        ),
                        "description": (
                            f"{status.sla} at {entity}: {burn.long_burn:.1f}x over the last "
                            f"{_hours(burn.long_window_hours)} and {burn.short_burn:.1f}x over "
                            f"the last {_hours(burn.short_window_hours)} of business time, above "
                            f"{burn.factor:g}x; objective {status.objective.share:.2%} over "
                            f"{status.objective.window}, "
                            + (
                                "no timer ended in it yet."
                                if left is None
                                else f"{left:.0%} of its error budget left."
                            )
                        ),
                        "long_burn_rate": f"{burn.long_burn:.2f}",
                        "short_burn_rate": f"{burn.short_burn:.2f}",
                        "factor": f"{burn.factor:g}",
                        "short_window": _hours(burn.short_window_hours),
                        "objective": f"{status.objective.share:g}",
                        "budget_left": "" if left is None else f"{left:.4f}",
                    },
                    starts_at=now,
                    crossed_at=now,
                    generator_url=f"{public_url}/api/v1/slas/objectives",
                )
            )
    return alerts


def _hours(hours: float) -> str:
    """Business hours as a label: ``24h``, ``2h``, ``40m``."""
    if hours >= 1 and float(hours).is_integer():
        return f"{hours:g}h"
    return f"{hours * 60:.0f}m"
