"""Close risk summed in ClickHouse: what each item is at ``as_of`` (posted in time, posted into
another period, blocked, waiting, …) worked out by SQL over the items' latest versions known at
``known_at``, the money summed per legal entity, period, currency and reason there, and only the
rows an answer shows or projects sent back: each group's ten largest items at risk, and the items
still waiting for their posting before the close (the projection of open items stays in Python,
over those items only). The answer ``slas.close_state.items_at`` and ``slas.close_risk.assess``
give over every item row is the oracle (``CloseRiskAnswers(from_sums=False)``).

``item_state_sql`` is ``slas.close_state.blocking_step``'s rule in SQL: the blocked-invoice answer
narrows its read with it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import numpy as np

from domain.instants import utc
from domain.money import from_units, units_of
from domain.periods import period_number
from slas.business_time import clock_for_span, epoch_seconds
from slas.calendars import CalendarBook
from slas.close_risk import (
    BLOCKED,
    CONTRIBUTORS,
    NOT_POSTED,
    OTHER_PERIOD,
    POSTED_LATE,
    PROJECTED_LATE,
    EntityRisk,
    level_of,
    projected_posting,
    projection_history,
)
from slas.item_rows import INVOICE
from slas.snapshot import F64Array
from warehouse.schema import CLOSE_ITEMS

WAITING: Final = "waiting"
"""Not posted, not blocked, its stage under way: at risk only if projected after the close."""

ITEM_COLUMNS: Final = (
    "ItemType, ItemId, Kind, LegalEntity, Currency, Amount, DuePeriod, StageEventId, StageFirstAt,"
    " StageEffectiveAt, PostingEventId, PostingType, PostingFirstAt, PostingEffectiveAt,"
    " PostedPeriod, UpstreamEventId, UpstreamEventType, UpstreamFirstAt, Invoice, Customer"
)
"""``slas.close_state.ITEMS_AT``'s columns, in its order (what ``items_at`` reads)."""


@dataclass(frozen=True)
class ItemStateSql:
    """SQL expressions over ``close_items``' columns for an item's state at the instant ``at``."""

    posted: str
    blocked: str
    waiting: str
    other_period: str
    stage_held: str
    """Its stage event attempted and not in effect (an own step that holds a blocked item)."""
    posting_held: str
    """An invoice item's posting attempted and not in effect (the other own step)."""
    upstream_held: str
    """The failure upstream of it attempted (it holds a blocked item too)."""


def item_state_sql(at: str) -> ItemStateSql:
    """``slas.close_state.item_blocking_step`` and ``items_at``'s posted / blocked / waiting in SQL:
    an item is posted when its posting took effect by ``at``; held (settled items never are) by its
    stage event attempted and not in effect, else by its invoice posting attempted and not in
    effect, else by the failure upstream of it attempted by then. Periods compare as text: the
    state stores them as ``domain.periods.period_text`` spells them (``slas.item_rows``)."""

    def reached(column: str) -> str:
        return f"ifNull({column} <= {at}, 0)"

    invoice = f"Kind = '{INVOICE}'"
    posted = reached("PostingEffectiveAt")
    settled = f"if({invoice}, {posted}, {reached('StageEffectiveAt')})"
    stage_held = f"notEmpty(StageEventId) AND {reached('StageFirstAt')} AND NOT {reached('StageEffectiveAt')}"
    posting_held = (
        f"{invoice} AND notEmpty(PostingEventId) AND {reached('PostingFirstAt')} AND NOT {posted}"
    )
    upstream = f"notEmpty(UpstreamEventId) AND {reached('UpstreamFirstAt')}"
    held = f"(NOT {settled} AND ({stage_held} OR {posting_held} OR {upstream}))"
    blocked = f"(NOT {posted} AND {held})"
    return ItemStateSql(
        posted=posted,
        blocked=blocked,
        waiting=f"(NOT {posted} AND NOT {blocked} AND {invoice} AND {reached('StageEffectiveAt')})",
        other_period=f"({posted} AND PostedPeriod != DuePeriod)",
        stage_held=f"({stage_held})",
        posting_held=f"({posting_held})",
        upstream_held=f"({upstream})",
    )


_AS_OF = "{as_of:DateTime64(6, 'UTC')}"
_STATE = item_state_sql(_AS_OF)
_DEADLINE = (
    "arrayElement({deadlines:Array(DateTime64(6, 'UTC'))},"
    " (indexOf({entities:Array(String)}, LegalEntity) - 1) * length({periods_due:Array(String)})"
    " + indexOf({periods_due:Array(String)}, DuePeriod))"
)
"""The close deadline of the item's legal entity and due period: ``deadlines`` holds one per
entity of ``entities`` and period of ``periods_due``, entity by entity (each lookup runs once
per distinct value of the low-cardinality columns, not per row)."""
_IN_TIME = f"({_STATE.posted} AND PostedPeriod = DuePeriod AND PostingEffectiveAt <= deadline)"
_REASON = (
    f"if({_AS_OF} >= deadline,"
    f" multiIf({_IN_TIME}, '', {_STATE.blocked}, '{BLOCKED}', {_STATE.other_period},"
    f" '{OTHER_PERIOD}', {_STATE.posted}, '{POSTED_LATE}', '{NOT_POSTED}'),"
    f" multiIf({_STATE.blocked}, '{BLOCKED}', {_STATE.other_period}, '{OTHER_PERIOD}',"
    f" {_STATE.waiting}, '{WAITING}', ''))"
)
"""Why an item due in a period is at risk at ``as_of`` ('' when it is not; ``WAITING`` when only
the projection can tell): ``slas.close_risk.assess``'s reasons, realised from the close deadline
on, before it blocked or posted into another period."""


def sums_sql(items_at: str) -> str:
    """Per legal entity, due period, currency and reason: how many items, their exact money, the
    earliest instant an invoice stage among them took effect, the ``CONTRIBUTORS`` largest items
    as (minus the amount, item type, item id) when the reason puts them at risk, and every item
    as (item type, item id, stage took effect, amount) when it is ``WAITING``.
    ``items_at``: the items (``slas.close_state.ITEMS_AT``)."""
    started = f"Kind = '{INVOICE}' AND ifNull(StageEffectiveAt <= {_AS_OF}, 0)"
    return f"""
SELECT LegalEntity, DuePeriod, Currency, reason, count(), sum(ifNull(Amount, 0)),
    minIf(StageEffectiveAt, {started}),
    groupArraySortedIf({CONTRIBUTORS})((-toFloat64(ifNull(Amount, 0)), ItemType, ItemId),
                                       reason NOT IN ('', '{WAITING}')),
    groupArrayIf((ItemType, ItemId, StageEffectiveAt, Amount), reason = '{WAITING}')
FROM (
    SELECT ItemType, ItemId, LegalEntity, DuePeriod, Currency, Amount, Kind, StageEffectiveAt,
        {_DEADLINE} AS deadline, {_REASON} AS reason
    FROM ({items_at})
)
GROUP BY LegalEntity, DuePeriod, Currency, reason
"""


ROWS_OF = f"""
SELECT {ITEM_COLUMNS}
FROM {CLOSE_ITEMS}
WHERE KnownAt <= {{known_at:DateTime64(3, 'UTC')}}
  AND ItemType IN {{types:Array(String)}} AND ItemId IN {{ids:Array(String)}}
ORDER BY ItemType, ItemId, KnownAt DESC
LIMIT 1 BY ItemType, ItemId
"""
"""The latest versions known at ``known_at`` of the items of ``types`` and ``ids`` (the
contributors an answer shows: a superset when an id has two types), in ``ITEM_COLUMNS``, found
through the primary key."""

PAIRS = f"""
SELECT DISTINCT toString(LegalEntity), toString(DuePeriod)
FROM {CLOSE_ITEMS}
WHERE KnownAt <= {{known_at:DateTime64(3, 'UTC')}} AND StageFirstAt <= {_AS_OF}
  AND (empty({{periods:Array(String)}}) OR DuePeriod IN {{periods:Array(String)}})
"""
"""Every (legal entity, due period) some version known at ``known_at`` of an item begun by
``as_of`` names: a superset of the pairs assessed, whose close deadlines the sums compare with."""


Key = tuple[str, str]
"""An item: its type and id."""


@dataclass
class _Group:
    """One legal entity's items due in one period, as the sums report them."""

    due: dict[str, int]
    at_risk: dict[str, int]
    earliest_started: float | None
    risky: list[tuple[str, float, Key]]
    """(reason, minus the amount, item) of the largest items at risk of each currency and
    reason."""
    waiting: list[tuple[Key, str, Any, Any]]
    """(item, currency, its stage took effect, amount) of the items waiting for their posting."""


def _micros_seconds(value: Any) -> float:
    return round(utc(value).timestamp() * 1_000_000) / 1e6


def groups_of(rows: Iterable[Sequence[Any]]) -> dict[tuple[str, str], _Group]:
    """The sums' rows gathered per (legal entity, due period)."""
    groups: dict[tuple[str, str], _Group] = {}
    for entity, due, currency, reason, _, amount, earliest, risky, waiting in rows:
        group = groups.setdefault((str(entity), str(due)), _Group({}, {}, None, [], []))
        units = units_of(Decimal(amount))
        group.due[str(currency)] = group.due.get(str(currency), 0) + units
        if reason and reason != WAITING:
            group.at_risk[str(currency)] = group.at_risk.get(str(currency), 0) + units
        if earliest is not None and int(utc(earliest).timestamp()) > 0:
            seconds = _micros_seconds(earliest)
            if group.earliest_started is None or seconds < group.earliest_started:
                group.earliest_started = seconds
        group.risky.extend((str(reason), float(minus), (str(t), str(i))) for minus, t, i in risky)
        group.waiting.extend(
            ((str(t), str(i)), str(currency), started, value) for t, i, started, value in waiting
        )
    return groups


def assess_group(
    group: _Group,
    entity: str,
    period: str,
    calendars: CalendarBook,
    as_of: datetime,
    durations: dict[str, F64Array],
) -> tuple[EntityRisk, list[tuple[Key, str, float | None]]]:
    """``slas.close_risk.assess`` of one entity and period from its sums: the projection of the
    waiting items (their stage's business time so far against the completed stages' ``durations``
    by entity, the firm's pooled when the entity has fewer than ``MIN_SAMPLES``), the money at
    risk, the level and the ``CONTRIBUTORS`` largest items at risk as (item, reason, projected
    posting as epoch seconds or None)."""
    calendar = calendars.for_entity(entity)
    deadline_at = calendar.close_deadline(period)
    deadline, now = epoch_seconds(deadline_at), epoch_seconds(as_of)
    earliest = min(now, deadline, group.earliest_started if group.earliest_started else now)
    clock = clock_for_span(calendar, earliest, max(now, deadline))
    at_risk = dict(group.at_risk)
    # (minus the amount, item, reason, projected posting): sorted, the order of assess's
    # contributors (largest amount first, then the item's type and id)
    candidates: list[tuple[float, Key, str, float | None]] = [
        (minus, key, reason, None) for reason, minus, key in group.risky
    ]
    if group.waiting and now < deadline:
        started = np.array([_micros_seconds(s) for _, _, s, _ in group.waiting])
        history = projection_history(durations, entity)
        projected = projected_posting(clock, started, now, history)
        for (key, currency, _, amount), when in zip(group.waiting, projected.tolist(), strict=True):
            if when > deadline:
                units = 0 if amount is None else units_of(amount)
                at_risk[currency] = at_risk.get(currency, 0) + units
                minus = -float(amount if amount is not None else 0)
                candidates.append((minus, key, PROJECTED_LATE, when))
    candidates.sort(key=lambda c: (c[0], c[1]))
    amount_at_risk = {c: from_units(u) for c, u in sorted(at_risk.items())}
    left = float(clock.elapsed(np.array([now]), np.array([deadline]))[0])
    risk = EntityRisk(
        legal_entity=entity,
        period=period,
        close_date=calendar.close_date(period),
        close_deadline=deadline_at,
        business_days_left=round(left / calendar.business_day_seconds, 2),
        materiality=calendar.materiality,
        amount_due={c: from_units(u) for c, u in sorted(group.due.items())},
        amount_at_risk=amount_at_risk,
        level=level_of(amount_at_risk, calendar.materiality),
        contributors=[],
    )
    return risk, [(key, reason, when) for _, key, reason, when in candidates[:CONTRIBUTORS]]


def assessed_pairs(
    groups: dict[tuple[str, str], _Group], period: str | None
) -> list[tuple[str, str]]:
    """The (entity, period) pairs an answer reports, in ``assess``'s order: by period (every one
    with items due when none is asked, oldest first), then entity."""
    if period is not None:
        return sorted((e, p) for e, p in groups if period_number(p) == period_number(period))
    return sorted(
        ((e, p) for e, p in groups if period_number(p)), key=lambda k: (period_number(k[1]), k[0])
    )
