"""Close risk from sums: each legal entity's items due in a period as the state sums report them
(``slas.close_item_pieces``: the money due and at risk per currency, each reason's largest items
at risk and the items still waiting for their posting), assessed like ``slas.close_risk.assess``
(the projection of open items stays in Python, over the waiting items only). The answer
``slas.close_state.items_at`` and ``slas.close_risk.assess`` give over every item row is the
oracle (``CloseRiskAnswers(from_sums=False)``).

``item_state_sql`` is ``slas.close_state.blocking_step``'s rule in SQL: the blocked-invoice answer
narrows its read with it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import numpy as np

from domain.money import from_units, units_of
from domain.periods import period_number
from slas.business_time import clock_for_span, epoch_seconds
from slas.calendars import CalendarBook
from slas.close_risk import (
    CONTRIBUTORS,
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

ASSESSED_COLUMNS: Final = (
    "ItemType, ItemId, Kind, LegalEntity, Currency, Amount, DuePeriod, StageEventId, StageFirstAt,"
    " StageEffectiveAt, PostingEventId, PostingType, PostingFirstAt, PostingEffectiveAt,"
    " PostedPeriod, UpstreamEventId, UpstreamEventType, UpstreamFirstAt"
)
"""What ``slas.close_state.items_at`` reads of an item row: ``ITEM_COLUMNS`` but the invoice and
the customer (close risk's rows need no more)."""
ITEM_COLUMNS: Final = f"{ASSESSED_COLUMNS}, Invoice, Customer"
"""``slas.close_state.ITEMS_AT``'s columns, in its order (``items_at`` reads the
``ASSESSED_COLUMNS`` first)."""


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


def item_state_sql(at: str, *, invoices_only: bool = False) -> ItemStateSql:
    """``slas.close_state.item_blocking_step`` and ``items_at``'s posted / blocked / waiting in SQL:
    an item is posted when its posting took effect by ``at``; held (settled items never are) by its
    stage event attempted and not in effect, else by its invoice posting attempted and not in
    effect, else by the failure upstream of it attempted by then. Periods compare as text: the
    state stores them as ``domain.periods.period_text`` spells them (``slas.item_rows``).
    ``invoices_only``: for a statement that reads invoice-level items only, the same states
    without the tests of the item's kind (an invoice is settled when posted): less for the
    engine to analyse."""

    def reached(column: str) -> str:
        return f"ifNull({column} <= {at}, 0)"

    invoice = "" if invoices_only else f"Kind = '{INVOICE}' AND "
    posted = reached("PostingEffectiveAt")
    stage_held = f"notEmpty(StageEventId) AND {reached('StageFirstAt')} AND NOT {reached('StageEffectiveAt')}"
    posting_held = (
        f"{invoice}notEmpty(PostingEventId) AND {reached('PostingFirstAt')} AND NOT {posted}"
    )
    upstream = f"notEmpty(UpstreamEventId) AND {reached('UpstreamFirstAt')}"
    any_held = f"({stage_held} OR {posting_held} OR {upstream})"
    if invoices_only:
        blocked = f"(NOT {posted} AND {any_held})"
    else:
        settled = f"if(Kind = '{INVOICE}', {posted}, {reached('StageEffectiveAt')})"
        blocked = f"(NOT {posted} AND (NOT {settled} AND {any_held}))"
    return ItemStateSql(
        posted=posted,
        blocked=blocked,
        waiting=f"(NOT {posted} AND NOT {blocked} AND {invoice}{reached('StageEffectiveAt')})",
        other_period=f"({posted} AND PostedPeriod != DuePeriod)",
        stage_held=f"({stage_held})",
        posting_held=f"({posting_held})",
        upstream_held=f"({upstream})",
    )


ROWS_OF = f"""
SELECT {ASSESSED_COLUMNS}
FROM {CLOSE_ITEMS}
WHERE KnownAt <= {{known_at:DateTime64(3, 'UTC')}}
  AND ItemType IN {{types:Array(String)}} AND ItemId IN {{ids:Array(String)}}
ORDER BY ItemType, ItemId, KnownAt DESC
LIMIT 1 BY ItemType, ItemId
"""
"""The latest versions known at ``known_at`` of the items of ``types`` and ``ids`` (the
contributors an answer shows: a superset when an id has two types), in ``ASSESSED_COLUMNS``, found
through the primary key."""

Key = tuple[str, str]
"""An item: its type and id."""


@dataclass
class Group:
    """One legal entity's items due in one period, as the sums report them
    (``slas.close_item_pieces.groups_at``): exact money in ten-thousandths per currency."""

    due: dict[str, int]
    at_risk: dict[str, int]
    earliest_started: float | None
    risky: list[tuple[str, float, Key]]
    """(reason, minus the amount, item) of the largest items at risk of each currency and
    reason."""
    waiting: list[tuple[Key, str, int, Any]]
    """(item, currency, its stage took effect in epoch microseconds, amount) of the items waiting
    for their posting."""
    versions: dict[Key, datetime] = field(default_factory=dict)
    """The version (its ``KnownAt``) of each item in ``risky`` that puts it at risk: its row is
    ``slas.close_item_pieces.VERSION_ROWS``'."""


def assess_group(
    group: Group,
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
        started = np.array([s for _, _, s, _ in group.waiting], dtype=np.int64) / 1e6
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


def assessed_pairs(groups: Iterable[tuple[str, str]], period: str | None) -> list[tuple[str, str]]:
    """The (entity, period) pairs an answer reports, in ``assess``'s order: by period (every one
    with items due when none is asked, oldest first), then entity."""
    if period is not None:
        return sorted((e, p) for e, p in groups if period_number(p) == period_number(period))
    return sorted(
        ((e, p) for e, p in groups if period_number(p)), key=lambda k: (period_number(k[1]), k[0])
    )
