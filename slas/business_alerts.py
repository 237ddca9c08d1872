"""Alerts on money rather than timers: ``CloseRisk`` while a legal entity's open period is at or
above a close-risk level, ``BlockedMoney`` while its blocked invoice value in one currency exceeds
the threshold configured for it. Both resolve when the answer falls back. The rules are the ones
the close-risk and blocked-invoice answers use (``slas.close_state``, ``slas.impact_answers``);
this module only turns their answers into alerts for the evaluator's one dispatch path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from domain.money import money_text
from domain.periods import periods_back
from lineage.impact import BlockedItem, totals
from lineage.owners import OwnerRouting
from slas.alerts import Alert
from slas.close_risk import LEVELS
from slas.close_state import CloseRiskAnswers
from slas.config import BusinessAlertConfig
from slas.impact_answers import BlockedInvoiceAnswers

CLOSE_RISK: Final = "CloseRisk"
BLOCKED_MONEY: Final = "BlockedMoney"
LEVEL_SEVERITY: Final = {"medium": "warning", "high": "error", "critical": "critical"}
OPEN_PERIODS_BACK: Final = 2
"""Periods before the current month still checked for an open close (a close day up to 31
business days after period end lies at most two months later)."""


def open_period_candidates(now: datetime) -> list[str]:
    """``YYYY-MM`` of the current month and the ``OPEN_PERIODS_BACK`` before it, oldest first."""
    return periods_back(now, OPEN_PERIODS_BACK + 1)[::-1]


def close_risk_owner(entry: Mapping[str, Any], owners: OwnerRouting) -> str:
    """The team owning the fix of the largest contributor that failed (contributors come largest
    first); the default team when none failed (the risk is lateness, not an error)."""
    for contributor in entry.get("contributors", []):
        if contributor.get("error_category"):
            return owners.owner_of(str(contributor["error_category"]))
    return owners.default


def blocked_money_owner(items: Iterable[BlockedItem], owners: OwnerRouting) -> str:
    """The team whose fixes hold the most of ``items``' money (an item counts for the owner of
    its first blocker; the default team for an item without one)."""
    held: dict[str, Decimal] = {}
    for item in items:
        owner = item.blocked_by[0].owner if item.blocked_by else owners.default
        held[owner] = held.get(owner, Decimal(0)) + (item.amount or Decimal(0))
    return min(held, key=lambda owner: (-held[owner], owner), default=owners.default)


def close_risk_alerts(
    report: Iterable[Mapping[str, Any]],
    *,
    from_level: str,
    now: datetime,
    public_url: str,
    owners: OwnerRouting | None = None,
) -> list[Alert]:
    """A ``CloseRisk`` alert per entry of a close-risk report whose close is still ahead of
    ``now`` and whose level is ``from_level`` or above. The level is a label: a rise fires the
    new level and resolves the old one."""
    owners = owners or OwnerRouting()
    lowest = LEVELS.index(from_level)
    alerts = []
    for entry in report:
        level = str(entry["level"])
        if LEVELS.index(level) < lowest or datetime.fromisoformat(entry["close_deadline"]) <= now:
            continue
        entity, period = str(entry["legal_entity"]) or "unknown", str(entry["period"])
        materiality = money_text(entry["materiality"])
        at_risk = ", ".join(
            f"{money_text(amount)} {code}" for code, amount in entry["amount_at_risk"].items()
        )
        alerts.append(
            Alert(
                labels={
                    "alertname": CLOSE_RISK,
                    "legal_entity": entity,
                    "period": period,
                    "level": level,
                    "severity": LEVEL_SEVERITY.get(level, "warning"),
                    "owner": close_risk_owner(entry, owners),
                },
                annotations={
                    "summary": f"close risk {level}: {entity} {period}",
                    "description": (
                        f"{entity} has {at_risk or 'nothing'} at risk for the {period} close "
                        f"(materiality {materiality}); the books close "
                        f"{entry['close_date']}, {entry['business_days_left']:g} business days left."
                    ),
                    "amount_at_risk": at_risk,
                    "materiality": materiality,
                    "close_deadline": str(entry["close_deadline"]),
                    "business_days_left": f"{entry['business_days_left']:g}",
                },
                starts_at=now,
                crossed_at=now,
                generator_url=f"{public_url}/api/v1/close-risk?period={period}",
            )
        )
    return alerts


def blocked_money_alerts(
    items: Sequence[BlockedItem],
    thresholds: Mapping[str, Mapping[str, Decimal]],
    *,
    now: datetime,
    public_url: str,
    owners: OwnerRouting | None = None,
) -> list[Alert]:
    """A ``BlockedMoney`` alert per (legal entity, currency) whose blocked invoice value exceeds
    the entity's threshold in that currency; currencies are never added together."""
    owners = owners or OwnerRouting()
    alerts = []
    for entity, limits in sorted(thresholds.items()):
        own = [item for item in items if item.legal_entity == entity]
        for currency, blocked in totals(own).items():
            limit = limits.get(currency)
            if limit is None or blocked <= limit:
                continue
            in_currency = [item for item in own if item.currency == currency]
            count = len(in_currency)
            alerts.append(
                Alert(
                    labels={
                        "alertname": BLOCKED_MONEY,
                        "legal_entity": entity,
                        "currency": currency,
                        "severity": "warning",
                        "owner": blocked_money_owner(in_currency, owners),
                    },
                    annotations={
                        "summary": f"{money_text(blocked)} {currency} blocked at {entity}",
                        "description": (
                            f"{count} invoice-level item(s) of {entity} hold "
                            f"{money_text(blocked)} {currency}, over the threshold of "
                            f"{money_text(limit)} {currency}."
                        ),
                        "blocked_amount": money_text(blocked),
                        "threshold_amount": money_text(limit),
                        "items": str(count),
                    },
                    starts_at=now,
                    crossed_at=now,
                    generator_url=(
                        f"{public_url}/api/v1/impact/blocked-invoices?legal_entity={entity}"
                    ),
                )
            )
    return alerts


class BusinessAlerts:
    """The evaluator's source of ``CloseRisk`` and ``BlockedMoney`` alerts at an instant.

    Close risk and blocked money read every item due in the open periods (and every blocked
    item), not only what arrived since the last tick, so they are worked out afresh at most once
    per ``every``; in between the evaluator gets the same alerts again.
    """

    def __init__(
        self,
        close_risk: CloseRiskAnswers,
        blocked: BlockedInvoiceAnswers,
        config: BusinessAlertConfig,
        owners: OwnerRouting,
        *,
        public_url: str,
        every: timedelta = timedelta(0),
    ) -> None:
        self._close_risk = close_risk
        self._blocked = blocked
        self._config = config
        self._owners = owners
        self._public_url = public_url
        self._every = every
        self._last: tuple[datetime, list[Alert]] | None = None

    def alerts(self, now: datetime) -> list[Alert]:
        """What should fire at ``now`` (as worked out at most ``every`` ago)."""
        if self._last is not None and timedelta(0) <= now - self._last[0] < self._every:
            return list(self._last[1])
        wanted = self._evaluate(now)
        self._last = (now, wanted)
        return list(wanted)

    def _evaluate(self, now: datetime) -> list[Alert]:
        """Each read is bounded by the open periods, or skipped when its alert is off."""
        wanted: list[Alert] = []
        if self._config.close_risk_from:
            for period in open_period_candidates(now):
                _, report = self._close_risk.report(period, now, None)
                wanted += close_risk_alerts(
                    report,
                    from_level=self._config.close_risk_from,
                    now=now,
                    public_url=self._public_url,
                    owners=self._owners,
                )
        if self._config.blocked_money:
            _, found = self._blocked.report(
                period=None, legal_entity=None, as_of=now, known_at=None
            )
            wanted += blocked_money_alerts(
                found.items,
                self._config.blocked_money,
                now=now,
                public_url=self._public_url,
                owners=self._owners,
            )
        return wanted
