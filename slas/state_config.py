"""What the business state was derived with, and what a change of it re-derives.

The state keeper stores a fingerprint of the configuration its rows follow (``CONFIG_KEY``: the
SLA definitions, the lineage hops, every calendar, the state tables' layout and the blocking
rule's revision); when it differs from the running configuration, every timer is re-derived. A
site that adds a legal entity's calendar before the entity's traffic arrives (a new subsidiary)
changes no stored row, yet that re-derivation took 3-6 minutes at 10M spans, with no alert
evaluated meanwhile (benchmarks/history/startup-and-hostile-input.md,
"Retention at start-up"). So the keeper also stores
what the fingerprint was made of (``CALENDARS_KEY``: the rest, and a digest per entity calendar),
and a change of entity calendars alone re-derives nothing when no state row belongs to those
entities (``moved_entities``, ``ENTITIES_WITH_STATE``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Final

from lineage.rules import LineageRules
from slas import blocking
from slas.calendars import CalendarBook, EntityCalendar
from slas.definitions import SlaDefinition
from warehouse.schema import CLOSE_ITEMS, EVENT_DIMENSIONS, SLA_TIMERS

CONFIG_KEY: Final = "sla_timers_config"
CALENDARS_KEY: Final = "sla_timers_calendars"

STATE_TABLES: Final = (SLA_TIMERS, CLOSE_ITEMS, EVENT_DIMENSIONS)
"""The tables a derivation writes: part of the configuration fingerprint, so that a table added
here is filled by re-deriving everything once."""

ENTITIES_WITH_STATE: Final = " UNION ALL ".join(
    f"SELECT 1 FROM (SELECT 1 FROM {table} WHERE LegalEntity IN {{entities:Array(String)}} LIMIT 1)"
    for table in STATE_TABLES
)
"""A row for each state table holding a row of one of ``entities``."""


def config_fingerprint(
    definitions: Sequence[SlaDefinition],
    calendars: CalendarBook,
    rules: LineageRules,
    *,
    item_storage: object,
) -> str:
    """Changes whenever a definition, a calendar or a hop changes what a state row holds."""
    entities = sorted(calendars.calendars.items())
    text = repr(
        (
            tuple(definitions),
            rules.hops,
            [(name, _calendar_text(calendar)) for name, calendar in entities],
            _calendar_text(calendars.default),
            STATE_TABLES,
            item_storage,
            blocking.RULE_REVISION,
        )
    )
    return _digest(text, 32)


def calendars_record(
    definitions: Sequence[SlaDefinition],
    calendars: CalendarBook,
    rules: LineageRules,
    *,
    item_storage: object,
) -> str:
    """``CALENDARS_KEY``'s value: the whole fingerprint it goes with, the fingerprint of
    everything but the entity calendars (the default calendar included), and a digest of each
    entity calendar."""
    whole = config_fingerprint(definitions, calendars, rules, item_storage=item_storage)
    shared = config_fingerprint(
        definitions, CalendarBook({}, calendars.default), rules, item_storage=item_storage
    )
    entities = {
        name: _digest(_calendar_text(calendar), 16)
        for name, calendar in sorted(calendars.calendars.items())
    }
    return json.dumps({"config": whole, "shared": shared, "entities": entities}, sort_keys=True)


def moved_entities(stored: str | None, stored_config: str, current: str) -> set[str] | None:
    """The legal entities whose calendar differs between the stored ``calendars_record`` and the
    current one (added, removed or changed), when nothing else differs; None when anything else
    does, when no record was stored (state derived before it was kept) or the record is not the
    stored fingerprint's (``stored_config``: written otherwise), and when no entity calendar
    differs (then the fingerprint changed for a reason the record does not hold)."""
    if stored is None:
        return None
    try:
        before, now = json.loads(stored), json.loads(current)
        if before["config"] != stored_config or before["shared"] != now["shared"]:
            return None
        old: Mapping[str, str] = before["entities"]
        new: Mapping[str, str] = now["entities"]
    except (ValueError, KeyError, TypeError):
        return None
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)} or None


def _calendar_text(calendar: EntityCalendar) -> str:
    """What of a calendar moves deadlines (its holidays in order: set order is per process)."""
    return repr(
        (
            calendar.time_zone,
            calendar.working_days,
            calendar.working_hours,
            calendar.holiday_country,
            calendar.holiday_subdivision,
            sorted(calendar.custom_holidays),
        )
    )


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]
