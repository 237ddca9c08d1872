"""What the SLA features take from the configuration: definitions, legal-entity calendars,
notification routes, business alerts, telemetry silence bounds and SLA objectives (``syncsight.config_model``
reads them from the TOML file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from slas.alert_groups import EACH
from slas.calendars import DEFAULT_CALENDAR, CalendarBook, EntityCalendar
from slas.definitions import DEFAULT_SLAS, SlaDefinition
from slas.objectives import ObjectiveBook
from slas.telemetry import SilenceBounds


@dataclass(frozen=True)
class OwnerChannels:
    """Where one owner's alerts go besides the shared channels; each URL optional."""

    webhook_url: str = ""
    slack_webhook_url: str = ""


@dataclass(frozen=True)
class NotificationConfig:
    """Where alerts go; each channel is optional. Environment settings override these (not the
    per-owner channels, ``owners``: team → its channels)."""

    alertmanager_url: str = ""
    webhook_url: str = ""
    slack_webhook_url: str = ""
    public_url: str = ""
    resend_seconds: float = 60.0
    owners: Mapping[str, OwnerChannels] = field(default_factory=dict)
    timer_alerts: str = EACH
    """One alert per at-risk or breached timer (``each``) or per group of them (``grouped``:
    ``slas.alert_groups``)."""


@dataclass(frozen=True)
class BusinessAlertConfig:
    """Close-risk and blocked-money alerts (``[alerts]`` of the TOML file).

    ``close_risk_from``: the close-risk level from which an open period of a legal entity fires
    ``CloseRisk`` ("" turns it off). ``blocked_money``: legal entity → currency → the blocked
    invoice value above which ``BlockedMoney`` fires; entities not named never fire (the default).
    """

    close_risk_from: str = "medium"
    blocked_money: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)


@dataclass(frozen=True)
class SlaConfig:
    """SLA definitions, legal-entity calendars and notification routes.

    No legal entity has a calendar of its own until the file gives it one: the others use
    ``default_calendar``.
    """

    definitions: tuple[SlaDefinition, ...] = DEFAULT_SLAS
    calendars: dict[str, EntityCalendar] = field(default_factory=dict)
    default_calendar: EntityCalendar = DEFAULT_CALENDAR
    notifications: NotificationConfig = field(default_factory=NotificationConfig)
    alerts: BusinessAlertConfig = field(default_factory=BusinessAlertConfig)
    silence: SilenceBounds = field(default_factory=SilenceBounds)
    objectives: ObjectiveBook = field(default_factory=ObjectiveBook)

    def calendar_book(self) -> CalendarBook:
        return CalendarBook(self.calendars, self.default_calendar)
