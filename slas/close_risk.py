"""Close risk per legal entity and period: the money that will not (or did not) post by the close.

Before the close deadline an item is at risk when it is blocked (its stage event failed), when it
posted into another period, or when it is still open and the historical business-time
distribution of its remaining stage projects its posting after the deadline. From the deadline
on, the risk is realised: every item not posted into the period by the deadline counts. The level
compares the largest per-currency amount at risk with the entity's materiality. Amounts are
summed exactly, per currency (the float amounts only order the contributors).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import numpy as np
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.money import from_units
from domain.periods import period_number, period_text
from slas.business_time import BusinessClock, clock_for_span, epoch_seconds, from_epoch_seconds
from slas.calendars import CalendarBook
from slas.close_items import INVOICE_ITEM, ITEM_OBJECT_TYPES, CloseItems, close_items
from slas.id_cache import IdCache
from slas.queries import event_errors
from slas.reference_evaluation import Evaluation
from slas.snapshot import F64Array, I64Array

LEVELS: Final = ("low", "medium", "high", "critical")
LEVEL_SHARES: Final = (0.10, 0.50, 1.0)
"""Shares of materiality from which the level is medium, high, critical."""
PROJECTION_QUANTILE: Final = 0.5
CONTRIBUTORS: Final = 10
MIN_SAMPLES: Final = 20
"""Completed stages of one entity needed to use its own distribution rather than the firm's."""

BLOCKED, OTHER_PERIOD, PROJECTED_LATE, POSTED_LATE, NOT_POSTED = (
    "blocked",
    "posted_in_other_period",
    "projected_after_close",
    "posted_after_close",
    "not_posted_by_close",
)


@dataclass(frozen=True)
class EntityRisk:
    """Close risk of one legal entity for one period; ``contributors`` are item rows."""

    legal_entity: str
    period: str
    close_date: date
    close_deadline: datetime
    business_days_left: float
    materiality: Decimal
    amount_due: dict[str, Decimal]
    amount_at_risk: dict[str, Decimal]
    level: str
    contributors: list[tuple[int, str, float | None]]
    """(item row, reason, projected posting as epoch seconds or None), largest amount first."""


def level_of(amount_at_risk: Mapping[str, Decimal], materiality: Decimal) -> str:
    """low / medium / high / critical by the largest amount at risk as a share of materiality."""
    largest = max(amount_at_risk.values(), default=Decimal(0))
    share = float(largest / materiality) if materiality > 0 else 0.0
    return LEVELS[int(np.searchsorted(LEVEL_SHARES, share, side="right"))]


def remaining_after(durations: F64Array, elapsed: F64Array, quantile: float) -> F64Array:
    """Projected business seconds still to go for items already waiting ``elapsed``.

    Among completed stages longer than the wait so far, the ``quantile`` of what they took beyond
    it (nearest rank); infinite when none took that long (the item is unusually late).
    """
    ordered = np.sort(durations)
    first_longer = np.searchsorted(ordered, elapsed, side="right")
    longer = len(ordered) - first_longer
    pick = first_longer + np.floor(quantile * np.maximum(longer - 1, 0)).astype(np.int64)
    taken = ordered[np.clip(pick, 0, max(len(ordered) - 1, 0))] if len(ordered) else elapsed
    return np.where(longer > 0, taken - elapsed, np.inf)


def assess(
    items: CloseItems,
    legal_entities: tuple[str, ...],
    currencies: tuple[str, ...],
    calendars: CalendarBook,
    period: str,
    as_of: datetime,
    stage_durations: dict[int, F64Array] | None = None,
) -> list[EntityRisk]:
    """Close risk of every legal entity with items due in ``period``, at ``as_of``.

    ``stage_durations``: business seconds of completed invoice stages by legal entity code (the
    projection's history); worked out from ``items`` when not given.
    """
    now = epoch_seconds(as_of)
    due = items.due_period == period_number(period)
    if stage_durations is None:
        stage_durations = _stage_durations(items, legal_entities, calendars, now)
    risks = []
    for code in np.unique(items.legal_entity[due]).tolist():
        name = legal_entities[code - 1] if code else ""
        calendar = calendars.for_entity(name)
        deadline_at = calendar.close_deadline(period)
        deadline = epoch_seconds(deadline_at)
        rows = np.flatnonzero(due & (items.legal_entity == code))
        # the clock spans the waiting items' stages (the only ones projected), as the answers
        # from sums know them (``slas.close_item_pieces``)
        waiting = ~items.posted[rows] & ~items.blocked[rows] & (items.stage_started_us[rows] >= 0)
        waiting_since = items.stage_started_us[rows][waiting] / 1e6
        earliest = min(now, deadline, float(waiting_since.min()) if len(waiting_since) else now)
        clock = clock_for_span(calendar, earliest, max(now, deadline))
        in_time = (
            items.posted[rows]
            & (items.posted_period[rows] == period_number(period))
            & (items.posted_us[rows] / 1e6 <= deadline)
        )
        projected = np.full(len(rows), np.nan)
        if now >= deadline:
            at_risk = ~in_time
            reasons = _realised_reasons(items, rows, period_number(period))
        else:
            durations = projection_history(stage_durations, code)
            at_risk, reasons, projected = _projected(items, rows, clock, now, deadline, durations)
        amount_due = _by_currency(items, rows, np.ones(len(rows), dtype=bool), currencies)
        amount_at_risk = _by_currency(items, rows, at_risk, currencies)
        risky = rows[at_risk]
        order = np.argsort(-np.nan_to_num(items.amount[risky]), kind="stable")[:CONTRIBUTORS]
        positions = np.flatnonzero(at_risk)[order]
        left = float(clock.elapsed(np.array([now]), np.array([deadline]))[0])
        risks.append(
            EntityRisk(
                legal_entity=name,
                period=period,
                close_date=calendar.close_date(period),
                close_deadline=deadline_at,
                business_days_left=round(left / calendar.business_day_seconds, 2),
                materiality=calendar.materiality,
                amount_due=amount_due,
                amount_at_risk=amount_at_risk,
                level=level_of(amount_at_risk, calendar.materiality),
                contributors=[
                    (
                        int(rows[p]),
                        str(reasons[p]),
                        None if np.isnan(projected[p]) else float(projected[p]),
                    )
                    for p in positions.tolist()
                ],
            )
        )
    return sorted(risks, key=lambda r: r.legal_entity)


def _projected(
    items: CloseItems,
    rows: I64Array,
    clock: BusinessClock,
    now: float,
    deadline: float,
    durations: F64Array,
) -> tuple[Any, Any, F64Array]:
    posted = items.posted[rows]
    blocked = items.blocked[rows]
    other_period = posted & (items.posted_period[rows] != items.due_period[rows])
    waiting = ~posted & ~blocked & (items.stage_started_us[rows] >= 0)
    started = items.stage_started_us[rows][waiting] / 1e6
    projected = np.full(len(rows), np.nan)
    projected[waiting] = projected_posting(clock, started, now, durations)
    late = waiting & (np.nan_to_num(projected, nan=-np.inf) > deadline)
    reasons = np.select([blocked, other_period, late], [BLOCKED, OTHER_PERIOD, PROJECTED_LATE], "")
    return blocked | other_period | late, reasons, projected


def projection_history(stage_durations: Mapping[Any, F64Array], entity: Any) -> F64Array:
    """The completed stages an entity's open items are projected from: its own when it has at
    least ``MIN_SAMPLES``, else the firm's pooled."""
    own = stage_durations.get(entity, np.zeros(0))
    if len(own) >= MIN_SAMPLES:
        return own
    pooled: F64Array = (
        np.concatenate(list(stage_durations.values())) if stage_durations else np.zeros(0)
    )
    return pooled


def projected_posting(
    clock: BusinessClock, started: F64Array, now: float, durations: F64Array
) -> F64Array:
    """When each open stage begun at ``started`` (epoch seconds) is projected to post, seen at
    ``now``: ``remaining_after`` the business time it has waited, against the completed stages'
    ``durations``; infinite when none took that long."""
    elapsed = clock.elapsed(started, np.full(len(started), now))
    remaining = remaining_after(durations, elapsed, PROJECTION_QUANTILE)
    finite = np.isfinite(remaining)
    at = np.full(len(started), np.inf)
    if finite.any():
        at[finite] = clock.advance(np.full(int(finite.sum()), now), remaining[finite])
    projected: F64Array = np.where(np.isnan(at), np.inf, at)
    return projected


def _realised_reasons(items: CloseItems, rows: I64Array, period: int) -> Any:
    posted = items.posted[rows]
    other = posted & (items.posted_period[rows] != period)
    return np.select(
        [items.blocked[rows], other, posted], [BLOCKED, OTHER_PERIOD, POSTED_LATE], NOT_POSTED
    )


def _stage_durations(
    items: CloseItems, legal_entities: tuple[str, ...], calendars: CalendarBook, now: float
) -> dict[int, F64Array]:
    """Business seconds each completed invoice stage took (billing.ready → invoice.posted)."""
    done = (items.kind == INVOICE_ITEM) & items.posted & (items.stage_started_us >= 0)
    durations = {}
    for code in np.unique(items.legal_entity[done]).tolist():
        rows = np.flatnonzero(done & (items.legal_entity == code))
        calendar = calendars.for_entity(legal_entities[code - 1] if code else "")
        started = items.stage_started_us[rows] / 1e6
        posted = items.posted_us[rows] / 1e6
        clock = clock_for_span(calendar, float(started.min()), max(now, float(posted.max())))
        durations[code] = clock.elapsed(started, np.maximum(posted, started))
    return durations


def _by_currency(
    items: CloseItems, rows: I64Array, mask: Any, currencies: tuple[str, ...]
) -> dict[str, Decimal]:
    """The exact sum per currency: Python integers of ten-thousandths, never floats."""
    totals: dict[str, int] = {}
    for code, units in zip(
        items.currency[rows][mask].tolist(), items.amount_units[rows][mask].tolist(), strict=True
    ):
        name = currencies[code - 1] if code else ""
        totals[name] = totals.get(name, 0) + units
    return {name: from_units(total) for name, total in sorted(totals.items())}


def due_periods(items: CloseItems) -> list[str]:
    """Every period some item is due in, oldest first."""
    return [period_text(int(p)) for p in np.unique(items.due_period).tolist() if p]


def close_risk_report(
    client: Client,
    evaluation: Evaluation,
    calendars: CalendarBook,
    period: str | None,
    ids: IdCache,
) -> list[dict[str, Any]]:
    """``GET /api/v1/close-risk``: the assessment with its contributors' ids and errors, for
    ``period`` or (None) for every period with items due, entity by entity."""
    snapshot = evaluation.snapshot
    items = close_items(snapshot)
    risks = [
        risk
        for due in ([period] if period else due_periods(items))
        for risk in assess(
            items, snapshot.legal_entities, snapshot.currencies, calendars, due, evaluation.as_of
        )
    ]
    rows = [row for risk in risks for row, _, _ in risk.contributors]
    names = ids.object_ids(client, items.item[rows].tolist(), ITEM_OBJECT_TYPES)
    errors = event_errors(client, items.blocking_event[rows].tolist(), evaluation.as_of)
    return render_report(
        risks,
        items,
        snapshot.currencies,
        names={row: names.get(int(items.item[row]), ("", "")) for row in rows},
        errors={row: errors.get(int(items.blocking_event[row]), ("", "")) for row in rows},
    )


def render_report(
    risks: list[EntityRisk],
    items: CloseItems,
    currencies: tuple[str, ...],
    *,
    names: dict[int, tuple[str, str]],
    errors: dict[int, tuple[str, str]],
) -> list[dict[str, Any]]:
    """The API's close-risk entries: each risk with its contributors' ids (``names``: item row →
    object type and id) and blocking errors (item row → category and code)."""
    report = []
    for risk in risks:
        contributors = []
        for row, reason, projected in risk.contributors:
            object_type, object_id = names.get(row, ("", ""))
            category, code = errors.get(row, ("", ""))
            blocking_type = int(items.blocking_type[row])
            contributors.append(
                {
                    "object": {"type": object_type, "id": object_id},
                    "amount": None
                    if np.isnan(items.amount[row])
                    else from_units(int(items.amount_units[row])),
                    "currency": currencies[items.currency[row] - 1] if items.currency[row] else "",
                    "reason": reason,
                    "failed_event_type": sc.EVENT_TYPES[blocking_type - 1]
                    if blocking_type
                    else None,
                    "error_category": category or None,
                    "error_code": code or None,
                    "posted_period": period_text(int(items.posted_period[row])) or None,
                    "projected_post_at": None
                    if projected is None or not np.isfinite(projected)
                    else from_epoch_seconds(projected).isoformat(),
                }
            )
        report.append(
            {
                "legal_entity": risk.legal_entity,
                "period": risk.period,
                "close_date": risk.close_date.isoformat(),
                "close_deadline": risk.close_deadline.isoformat(),
                "business_days_left": risk.business_days_left,
                "amount_due": risk.amount_due,
                "amount_at_risk": risk.amount_at_risk,
                "materiality": risk.materiality,
                "level": risk.level,
                "contributors": contributors,
            }
        )
    return report
