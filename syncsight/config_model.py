"""The TOML configuration file as pydantic models, one per table, each turning into the domain
values the features use (``CorrelationRules``, ``LineageRules``, ``OwnerRouting``, SLA
definitions, calendars, notification routes). Every refusal is a pydantic error whose location
(plus ``ctx["at"]`` for checks that span keys) names the key; ``syncsight.config_file`` turns it
into ``file:line: table: field: reason``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    RootModel,
    StrictBool,
    model_validator,
)
from pydantic_core import PydanticCustomError

from domain import semconv as sc
from lineage.owners import UNROUTED, OwnerRouting
from lineage.rules import Hop, LineageRules
from slas.alert_groups import EACH, TIMER_ALERT_MODES
from slas.calendars import DEFAULT_CALENDAR, WEEKDAY_NAMES, EntityCalendar
from slas.close_risk import LEVELS
from slas.config import BusinessAlertConfig, NotificationConfig, OwnerChannels
from slas.definitions import (
    DEFAULT_SLAS,
    NAME,
    BusinessDuration,
    DefinitionError,
    SlaDefinition,
)
from slas.objectives import DEFAULT_WINDOW, Objective, ObjectiveBook
from slas.telemetry import DEFAULT_BOUND, SilenceBounds
from warehouse.correlation_rules import ATTRIBUTE_KEY, CorrelationRules

_EVENT_TYPE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,99}$")
_CATEGORY: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
_HOUR: Final = re.compile(r"^(\d{1,2}):(\d{2})$")
_HOURS_EXAMPLE: Final = "expected 'HH:MM-HH:MM' such as '09:00-17:30'"
_CURRENCY: Final = re.compile(r"^[A-Z]{3}$")
_SYSTEM_PAIR: Final = re.compile(r"^[a-z0-9_.\-]+->[a-z0-9_.\-]+$")


def config_error(message: str, *at: str | int) -> PydanticCustomError:
    """A refusal raised by a check over a whole table: ``at`` names the key inside it."""
    return PydanticCustomError("config", message, {"at": at})


def undotted(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Undo TOML's nesting of unquoted dotted keys: ``a.b.id = "x"`` arrives as ``{"a": {…}}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(undotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Table(BaseModel):
    """One table of the file: unknown keys are refused naming the keys it knows."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    KIND: ClassVar[str] = "key"

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [field.alias or name for name, field in cls.model_fields.items()]
            unknown = sorted(set(data) - set(known))
            if unknown:
                raise config_error(
                    f"unknown {cls.KIND}; expected one of {', '.join(known)}", unknown[0]
                )
        return data


# Values: each validator takes what TOML gives and returns the domain's type, or raises ValueError
# whose text is the expectation (the file, line, key and value are added around it).


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _positive(what: str) -> Any:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"expected a positive {what}")
        return float(value)

    return check


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a positive amount such as 50000 or '50000.00'")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("expected a positive amount such as 50000 or '50000.00'") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError("expected a positive amount such as 50000 or '50000.00'")
    return amount


def _strings(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError("expected a string or a list of strings")
    return tuple(items)


def _event_type(value: Any) -> str:
    if not isinstance(value, str) or not _EVENT_TYPE.match(value):
        raise ValueError(f"not an event type (letters, digits, _ . -; e.g. {sc.INVOICE_POSTED!r})")
    return value


def _event_types(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError("expected an event type or a list of them")
    return tuple(_event_type(item) for item in items)


def _object_type(value: Any) -> str:
    if not isinstance(value, str) or value not in sc.OBJECT_TYPES:
        raise ValueError(f"unknown object type; expected one of {', '.join(sc.OBJECT_TYPES)}")
    return value


def _traversable_type(value: Any) -> str:
    if isinstance(value, str) and value in sc.DIMENSION_OBJECT_TYPES:
        raise ValueError(f"{value} is a dimension (a filter and group-by), never a hop")
    if not isinstance(value, str) or value not in sc.OBJECT_TYPES:
        traversable = [t for t in sc.OBJECT_TYPES if t not in sc.DIMENSION_OBJECT_TYPES]
        raise ValueError(f"unknown object type; expected one of {', '.join(traversable)}")
    return value


def _http_url(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError("expected an http(s) URL")
    return value.rstrip("/")


String = Annotated[str, BeforeValidator(_string)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
EventType = Annotated[str, BeforeValidator(_event_type)]
EventTypes = Annotated[tuple[str, ...], BeforeValidator(_event_types)]
TraversableType = Annotated[str, BeforeValidator(_traversable_type)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
Days = Annotated[float, BeforeValidator(_positive("number of days"))]


# [correlation]


def _attribute_key(value: Any) -> str:
    if not isinstance(value, str) or not ATTRIBUTE_KEY.match(value):
        raise ValueError(
            "attribute keys may contain letters, digits and _ . : / - @ only (1 to 200 characters)"
        )
    return value


def _undotted_table(value: Any) -> Any:
    return undotted(value) if isinstance(value, dict) else value


class CorrelationTable(
    RootModel[
        Annotated[
            dict[
                Annotated[str, BeforeValidator(_attribute_key)],
                Annotated[str, BeforeValidator(_object_type)],
            ],
            BeforeValidator(_undotted_table),
        ]
    ]
):
    """``"salesforce.opportunity.id" = "contract"``: span attribute key → object type."""

    model_config = ConfigDict(frozen=True, strict=True)

    def rules(self) -> CorrelationRules:
        return CorrelationRules.from_mapping(self.root)


# [lineage] and [owners]


class HopTable(Table):
    """``[[lineage.hops]]``: ``event_type`` is fed through ``via`` ids by events ``from``."""

    event_type: EventType
    via: TraversableType
    feeders: EventTypes = Field(alias="from")
    required: StrictBool = True
    as_of_root: StrictBool = False

    def hop(self) -> Hop:
        return Hop(self.event_type, self.via, self.feeders, self.required, self.as_of_root)


def _stuck_after_table(value: Any) -> Any:
    """``stuck_after_days = 7`` is short for ``stuck_after_days.default = 7``."""
    return undotted(value) if isinstance(value, dict) else {"default": value}


def _stuck_after_key(value: Any) -> str:
    return "default" if value == "default" else _event_type(value)


class LineageTable(Table):
    """``[lineage]``: hops, producers, source and posting event types added to the defaults."""

    hops: list[HopTable] = Field(default_factory=list)
    producers: dict[TraversableType, EventTypes] = Field(default_factory=dict)
    source_event_types: EventTypes = ()
    posting_event_types: EventTypes = ()
    stuck_after_days: Annotated[
        dict[Annotated[str, BeforeValidator(_stuck_after_key)], Days],
        BeforeValidator(_stuck_after_table),
    ] = Field(default_factory=dict)

    def rules(self) -> LineageRules:
        by_type = dict(self.stuck_after_days)
        return LineageRules.default().extended(
            hops=[table.hop() for table in self.hops],
            producers=self.producers,
            source_event_types=self.source_event_types,
            posting_event_types=self.posting_event_types,
            stuck_after_days=by_type.pop("default", None),
            stuck_after_days_by_type=by_type,
        )


def _category(value: Any) -> str:
    if not isinstance(value, str) or not _CATEGORY.match(value):
        raise ValueError(
            "not an error category (letters, digits, _ . -); known: "
            + ", ".join(sc.ERROR_CATEGORIES)
        )
    return value


def _team(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a team name (a string)")
    return value.strip()


class OwnersTable(
    RootModel[
        dict[Annotated[str, BeforeValidator(_category)], Annotated[str, BeforeValidator(_team)]]
    ]
):
    """``[owners]``: error category = "team"; ``default`` owns the categories nobody was named for."""

    model_config = ConfigDict(frozen=True, strict=True)

    def routing(self) -> OwnerRouting:
        teams = dict(self.root)
        return OwnerRouting.configured(teams, default=teams.pop("default", UNROUTED))


# [[slas]]


def _target(value: Any) -> BusinessDuration:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = f"{value}d"
    if not isinstance(value, str):
        raise ValueError("expected a string such as '2d'")
    try:
        return BusinessDuration.parse(value)
    except DefinitionError as error:
        raise ValueError(error.reason) from None


def _sla_name(value: Any) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ValueError("expected letters, digits, '-', '_' or '.' (at most 100)")
    return value


def _thresholds(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise ValueError("expected a list of numbers")
    return tuple(float(v) for v in value)


def _objective_share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError("expected the share of timers to meet, between 0 and 1, such as 0.95")
    return float(value)


ObjectiveShare = Annotated[float, BeforeValidator(_objective_share)]
Window = Annotated[BusinessDuration, BeforeValidator(_target)]


class EntityObjectiveTable(Table):
    """``[slas.entity_objectives."<legal entity>"]``: the entity's own objective and window; a key
    left out is the SLA's."""

    objective: ObjectiveShare | None = None
    window: Window | None = None


class SlaTable(Table):
    """One ``[[slas]]`` table: a new SLA, or keys that override a default of the same name.

    ``objective`` (share met) over ``window`` (business time, default 20 business days) gives the
    SLA an error budget and ``SlaBudgetBurn`` alerts; ``entity_objectives`` per legal entity.
    """

    name: Annotated[str, BeforeValidator(_sla_name)]
    start: Strings | None = None
    stop: Strings | None = None
    key: Strings | None = None
    target: Annotated[BusinessDuration, BeforeValidator(_target)] | None = None
    warning_thresholds: Annotated[tuple[float, ...], BeforeValidator(_thresholds)] | None = None
    same_period: StrictBool | None = None
    legal_entities: Strings | None = None
    customers: Strings | None = None
    severity: String | None = None
    owner: String | None = None
    description: String | None = None
    enabled: StrictBool = True
    objective: ObjectiveShare | None = None
    window: Window | None = None
    entity_objectives: dict[str, EntityObjectiveTable] = Field(default_factory=dict)

    _OBJECTIVE_KEYS: ClassVar = {"enabled", "objective", "window", "entity_objectives"}
    _DOMAIN_NAMES: ClassVar = {
        "start": "start_event_types",
        "stop": "stop_event_types",
        "key": "key_types",
    }

    def definition(self, base: SlaDefinition | None) -> SlaDefinition:
        """``base`` with this table's keys, or a new SLA; ``DefinitionError`` names the field."""
        changes = {
            self._DOMAIN_NAMES.get(key, key): getattr(self, key)
            for key in self.model_fields_set - self._OBJECTIVE_KEYS
        }
        if base is not None:
            return replace(base, **changes)
        missing = [key for key in ("start", "stop", "key", "target") if getattr(self, key) is None]
        if missing:
            raise DefinitionError(
                f"a new SLA needs {', '.join(missing)} (only the defaults can be partly overridden)",
                field=missing[0],
            )
        return SlaDefinition(**changes)

    def objectives(
        self, base: Objective | None, index: int
    ) -> tuple[Objective | None, dict[str, Objective]]:
        """The SLA's objective (this table's over ``base``) and its legal entities' own."""
        if self.window is not None and self.objective is None and base is None:
            raise config_error(
                "a window needs an objective (a share such as 0.95)", index, "window"
            )
        own = base
        if self.objective is not None or self.window is not None:
            own = Objective(
                self.objective if self.objective is not None else base.share if base else 0.0,
                self.window or (base.window if base else DEFAULT_WINDOW),
            )
        entities = {}
        for entity, table in self.entity_objectives.items():
            share = table.objective if table.objective is not None else own.share if own else None
            if share is None:
                raise config_error(
                    "no objective to inherit: give the entity or the SLA an objective",
                    index,
                    "entity_objectives",
                    entity,
                    "objective",
                )
            entities[entity] = Objective(
                share, table.window or (own.window if own else DEFAULT_WINDOW)
            )
        return own, entities


class SlaTables(RootModel[list[SlaTable]]):
    """The ``[[slas]]`` array: the four default SLAs (README, Business SLAs), overridden, disabled or joined by new ones."""

    model_config = ConfigDict(frozen=True, strict=True)
    _definitions: tuple[SlaDefinition, ...] = PrivateAttr(default=DEFAULT_SLAS)
    _objectives: ObjectiveBook = PrivateAttr(default_factory=ObjectiveBook)

    @model_validator(mode="after")
    def _build(self) -> SlaTables:
        definitions = {d.name: d for d in DEFAULT_SLAS}
        by_sla: dict[str, Objective] = {}
        by_entity: dict[str, dict[str, Objective]] = {}
        for index, table in enumerate(self.root):
            if not table.enabled:
                definitions.pop(table.name, None)
                by_sla.pop(table.name, None)
                by_entity.pop(table.name, None)
                continue
            try:
                definitions[table.name] = table.definition(definitions.get(table.name))
            except DefinitionError as error:
                raise config_error(error.reason, index, error.field) from None
            own, entities = table.objectives(by_sla.get(table.name), index)
            if own is not None:
                by_sla[table.name] = own
            by_entity.setdefault(table.name, {}).update(entities)
        self._definitions = tuple(definitions.values())
        self._objectives = ObjectiveBook(by_sla, {s: e for s, e in by_entity.items() if e})
        return self

    @property
    def objectives(self) -> ObjectiveBook:
        return self._objectives

    @property
    def definitions(self) -> tuple[SlaDefinition, ...]:
        return self._definitions


# [calendars]


def _time_zone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as 'Europe/Berlin'") from None
    return str(value)


def _working_days(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or any(str(d).lower()[:3] not in WEEKDAY_NAMES for d in value):
        raise ValueError(f"expected a list of day names from {', '.join(WEEKDAY_NAMES)}")
    return tuple(sorted({WEEKDAY_NAMES.index(str(d).lower()[:3]) for d in value}))


def _working_hours(value: Any) -> tuple[float, float]:
    text = "-".join(map(str, value)) if isinstance(value, list) else value
    parts = text.split("-") if isinstance(text, str) else []
    matches = [_HOUR.match(part.strip()) for part in parts]
    if len(parts) != 2 or not all(matches):
        raise ValueError(_HOURS_EXAMPLE)
    opens, closes = (int(m[1]) + int(m[2]) / 60 for m in matches if m)
    if not 0 <= opens < closes <= 24:
        raise ValueError("expected an opening before the closing, within 00:00-24:00")
    return opens, closes


def _holiday_region(value: Any) -> str | None:
    if not isinstance(value, str):
        raise ValueError("expected a string such as 'DE' (or '' for none)")
    return value or None


def _dates(value: Any) -> frozenset[date]:
    if not isinstance(value, list):
        raise ValueError("expected a list of dates such as [2026-12-24]")
    try:
        return frozenset(v if isinstance(v, date) else date.fromisoformat(str(v)) for v in value)
    except ValueError:
        raise ValueError("expected ISO dates such as 2026-12-24") from None


def _close_day(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 31:
        raise ValueError("expected a business day number from 0 to 31")
    return value


class CalendarTable(Table):
    """``[calendars.default]`` or ``[calendars."<legal entity>"]``; keys left out are inherited."""

    time_zone: Annotated[str, BeforeValidator(_time_zone)] | None = None
    working_days: Annotated[tuple[int, ...], BeforeValidator(_working_days)] | None = None
    working_hours: Annotated[tuple[float, float], BeforeValidator(_working_hours)] | None = None
    holiday_country: Annotated[str | None, BeforeValidator(_holiday_region)] = None
    holiday_subdivision: Annotated[str | None, BeforeValidator(_holiday_region)] = None
    holidays: Annotated[frozenset[date], BeforeValidator(_dates)] | None = None
    close_day: Annotated[int, BeforeValidator(_close_day)] | None = None
    materiality: Annotated[Decimal, BeforeValidator(_money)] | None = None

    def applied_to(self, base: EntityCalendar) -> EntityCalendar:
        """``base`` with the keys this table sets."""
        changes = {
            "custom_holidays" if key == "holidays" else key: getattr(self, key)
            for key in self.model_fields_set
        }
        return replace(base, **changes)


class CalendarsTable(RootModel[dict[str, CalendarTable]]):
    """``[calendars]``: the default calendar and one per legal entity, which inherits from it."""

    model_config = ConfigDict(frozen=True, strict=True)
    _default: EntityCalendar = PrivateAttr(default=DEFAULT_CALENDAR)
    _entities: dict[str, EntityCalendar] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _build(self) -> CalendarsTable:
        default_table = self.root.get("default")
        self._default = (
            default_table.applied_to(DEFAULT_CALENDAR) if default_table else DEFAULT_CALENDAR
        )
        self._entities = {
            name: table.applied_to(self._default)
            for name, table in self.root.items()
            if name != "default"
        }
        for name, calendar in {"default": self._default, **self._entities}.items():
            if not calendar.holiday_country:
                continue
            try:
                holidays.country_holidays(
                    calendar.holiday_country, subdiv=calendar.holiday_subdivision, years=[2025]
                )
            except NotImplementedError:
                key = "holiday_subdivision" if calendar.holiday_subdivision else "holiday_country"
                raise config_error(
                    f"{calendar.holiday_country!r} (subdivision {calendar.holiday_subdivision!r}): "
                    "not known to the holidays package",
                    name,
                    key,
                ) from None
        return self

    @property
    def default(self) -> EntityCalendar:
        return self._default

    @property
    def entities(self) -> dict[str, EntityCalendar]:
        return dict(self._entities)


# [notifications]


class UrlTable(Table):
    """``[notifications.alertmanager]`` and ``[notifications.webhook]``."""

    url: HttpUrl


class SlackTable(Table):
    """``[notifications.slack]``."""

    webhook_url: HttpUrl


class OwnerChannelsTable(Table):
    """``[notifications.owners."<team>"]``: the team's own webhook and Slack channel."""

    webhook_url: HttpUrl = ""
    slack_webhook_url: HttpUrl = ""

    def channels(self) -> OwnerChannels:
        return OwnerChannels(self.webhook_url, self.slack_webhook_url)


def _timer_alert_mode(value: Any) -> str:
    if not isinstance(value, str) or value not in TIMER_ALERT_MODES:
        raise ValueError(
            f"expected {' or '.join(repr(m) for m in TIMER_ALERT_MODES)} (one alert per timer, "
            "or one per SLA, legal entity, severity and owner)"
        )
    return value


class NotificationsTable(Table):
    """``[notifications]``: each channel optional; the environment overrides these."""

    alertmanager: UrlTable | None = None
    webhook: UrlTable | None = None
    slack: SlackTable | None = None
    public_url: HttpUrl = ""
    resend_seconds: Annotated[float, BeforeValidator(_positive("number"))] = 60.0
    owners: dict[Annotated[str, BeforeValidator(_team)], OwnerChannelsTable] = Field(
        default_factory=dict
    )
    timer_alerts: Annotated[str, BeforeValidator(_timer_alert_mode)] = EACH

    def config(self) -> NotificationConfig:
        return NotificationConfig(
            alertmanager_url=self.alertmanager.url if self.alertmanager else "",
            webhook_url=self.webhook.url if self.webhook else "",
            slack_webhook_url=self.slack.webhook_url if self.slack else "",
            public_url=self.public_url,
            resend_seconds=self.resend_seconds,
            owners={team: table.channels() for team, table in self.owners.items()},
            timer_alerts=self.timer_alerts,
        )


# [alerts]


def _level(value: Any) -> str:
    if value == "off":
        return ""
    if not isinstance(value, str) or value not in LEVELS[1:]:
        raise ValueError(f"expected one of {', '.join(LEVELS[1:])} or 'off'")
    return value


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise ValueError("expected an ISO 4217 currency code such as 'EUR'")
    return value


class CloseRiskAlertTable(Table):
    """``[alerts.close_risk]``: the level from which ``CloseRisk`` fires."""

    from_level: Annotated[str, BeforeValidator(_level)] = "medium"


class AlertsTable(Table):
    """``[alerts]``: close-risk and blocked-money alerts (the SLA alerts need no table)."""

    close_risk: CloseRiskAlertTable = Field(default_factory=CloseRiskAlertTable)
    blocked_money: dict[
        str,
        dict[
            Annotated[str, BeforeValidator(_currency)], Annotated[Decimal, BeforeValidator(_money)]
        ],
    ] = Field(default_factory=dict)

    def config(self) -> BusinessAlertConfig:
        return BusinessAlertConfig(
            close_risk_from=self.close_risk.from_level,
            blocked_money={entity: dict(limits) for entity, limits in self.blocked_money.items()},
        )


# [telemetry]


def _stream(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected 'default', a source pair such as 'psa->erp' or a service name")
    if "->" in value and not _SYSTEM_PAIR.match(value):
        raise ValueError("expected a source pair in lower case such as 'psa->erp'")
    return value


class TelemetryTable(Table):
    """``[telemetry]``: ``silence`` maps 'default', source pairs and service names to the longest
    silence tolerated, in business time of the default calendar."""

    silence: Annotated[
        dict[
            Annotated[str, BeforeValidator(_stream)],
            Annotated[BusinessDuration, BeforeValidator(_target)],
        ],
        BeforeValidator(_undotted_table),
    ] = Field(default_factory=dict)

    def bounds(self) -> SilenceBounds:
        by_stream = dict(self.silence)
        default = by_stream.pop(DEFAULT_BOUND, None)
        return SilenceBounds(default, by_stream) if default else SilenceBounds(by_stream=by_stream)


class ConfigDocument(Table):
    """The whole file; every table is optional."""

    KIND: ClassVar[str] = "table"

    correlation: CorrelationTable = Field(default_factory=lambda: CorrelationTable({}))
    lineage: LineageTable = Field(default_factory=LineageTable)
    owners: OwnersTable = Field(default_factory=lambda: OwnersTable({}))
    slas: SlaTables = Field(default_factory=lambda: SlaTables([]))
    calendars: CalendarsTable = Field(default_factory=lambda: CalendarsTable({}))
    notifications: NotificationsTable = Field(default_factory=NotificationsTable)
    alerts: AlertsTable = Field(default_factory=AlertsTable)
    telemetry: TelemetryTable = Field(default_factory=TelemetryTable)
