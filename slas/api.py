"""REST API of the SLA feature: SLA summaries, timers, close risk and alerts under ``/api/v1``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from slas.alerts import FIRING, RESOLVED, Alert
from slas.calendars import CalendarBook, parse_period
from slas.close_risk import close_risk_report
from slas.definitions import SlaDefinition
from slas.evaluation import Evaluation, EvaluationCache, evaluate, timer_views
from slas.timers import STATES, summarize
from warehouse.pool import ClientPool

_URGENCY = np.array([3, 0, 1, 2])
"""Sort order of the states met, breached, at_risk, on_track: the most urgent first."""

AsOf = Annotated[
    datetime | None,
    Query(description="Evaluate as of this instant (RFC 3339; naive means UTC). Default: now."),
]


class SlaOut(BaseModel):
    name: str
    target: str = Field(
        description="Target in business time of the entity's calendar: '2d', '36h'."
    )
    counts: dict[str, int] = Field(description="Timers by state: met, breached, at_risk, on_track.")
    attainment: float | None = Field(description="met / (met + breached); null without any.")
    p50_business_hours: float | None = Field(description="Median business hours of stopped timers.")
    p95_business_hours: float | None
    owner: str
    severity: str
    description: str


class TimerKey(BaseModel):
    type: str
    id: str


class TimerOut(BaseModel):
    key: TimerKey
    state: str
    started_at: datetime
    stopped_at: datetime | None
    deadline: datetime
    business_elapsed_hours: float
    legal_entity: str
    amount: float | None
    currency: str
    breach_reason: str = Field(description="late, wrong_period or missing for breached timers.")
    percent_elapsed: float
    start_event_id: str
    stop_event_id: str


class ContributorOut(BaseModel):
    object: TimerKey = Field(description="The item: a billing event or a revenue journal.")
    amount: float | None
    currency: str
    reason: str = Field(
        description="blocked, posted_in_other_period, projected_after_close, posted_after_close "
        "or not_posted_by_close."
    )
    failed_event_type: str | None = Field(description="The failed event holding a blocked item.")
    error_category: str | None
    error_code: str | None
    posted_period: str | None
    projected_post_at: str | None = Field(description="When the open item is projected to post.")


class CloseRiskOut(BaseModel):
    legal_entity: str
    period: str
    close_date: str = Field(description="Business day close_day after the period's last day.")
    close_deadline: str = Field(description="The end of the close day (entity time zone).")
    business_days_left: float
    amount_due: dict[str, float] = Field(
        description="Currency → money that must post in the period."
    )
    amount_at_risk: dict[str, float] = Field(description="Currency → money at risk of missing it.")
    materiality: float
    level: str = Field(description="low, medium, high or critical.")
    contributors: list[ContributorOut] = Field(description="The largest items at risk.")


class AlertOut(BaseModel):
    fingerprint: str = Field(description="Alertmanager's fingerprint of the labels.")
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    notified: list[str] = Field(description="Channels that have delivered the current status.")


def _as_of(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def slas_router(
    pool: ClientPool,
    definitions: Sequence[SlaDefinition],
    calendars: CalendarBook,
    *,
    alerts: Callable[[], list[Alert]] | None = None,
    delivered: Callable[[], dict[str, dict[str, Alert]]] | None = None,
) -> APIRouter:
    router = APIRouter(tags=["slas"])
    cache = EvaluationCache()
    by_name = {d.name: d for d in definitions}

    def evaluation_at(as_of: datetime | None) -> Evaluation:
        instant = _as_of(as_of)
        found = cache.get(instant)
        if found is None:
            found = evaluate(pool.client(), definitions, calendars, instant)
            cache.put(found)
        return found

    @router.get(
        "/slas", response_model=list[SlaOut], summary="Every SLA: timers by state, attainment"
    )
    def list_slas(as_of: AsOf = None) -> list[SlaOut]:
        evaluation = evaluation_at(as_of)
        out = []
        for definition, evaluated in evaluation.timers.values():
            summary = summarize(definition, evaluated)
            out.append(
                SlaOut(
                    name=summary.name,
                    target=summary.target,
                    counts=summary.counts,
                    attainment=summary.attainment,
                    p50_business_hours=summary.p50_business_hours,
                    p95_business_hours=summary.p95_business_hours,
                    owner=definition.owner,
                    severity=definition.severity,
                    description=definition.description,
                )
            )
        return out

    @router.get(
        "/slas/{name}/timers",
        response_model=list[TimerOut],
        summary="Timers of one SLA, the most urgent first",
    )
    def list_timers(
        name: str,
        state: Annotated[
            str | None, Query(description="met, breached, at_risk or on_track")
        ] = None,
        legal_entity: str | None = None,
        as_of: AsOf = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    ) -> list[TimerOut]:
        if name not in by_name:
            raise HTTPException(404, f"unknown SLA {name!r}; known: {', '.join(by_name)}")
        if state is not None and state not in STATES:
            raise HTTPException(422, f"state={state!r}: expected one of {', '.join(STATES)}")
        evaluated = evaluation_at(as_of).timers[name][1]
        keep = np.ones(len(evaluated), dtype=bool)
        if state is not None:
            keep &= evaluated.state == STATES.index(state)
        if legal_entity is not None:
            keep &= evaluated.timers.legal_entity == evaluated.timers.entity_code(legal_entity)
        rows = np.flatnonzero(keep)
        order = np.lexsort((evaluated.deadline[rows], _URGENCY[evaluated.state[rows]]))
        views = timer_views(pool.client(), evaluated, rows[order][:limit])
        return [TimerOut(key=TimerKey(type=v.key_type, id=v.key_id), **_fields(v)) for v in views]

    @router.get(
        "/close-risk",
        response_model=list[CloseRiskOut],
        summary="Per legal entity: money that may miss the period's close",
    )
    def close_risk(
        period: Annotated[
            str | None,
            Query(
                pattern=r"^\d{4}-\d{2}$",
                description="YYYY-MM; without it, every period with items due, by legal entity and period.",
            ),
        ] = None,
        as_of: AsOf = None,
    ) -> list[CloseRiskOut]:
        try:
            if period is not None:
                parse_period(period)
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        evaluation = evaluation_at(as_of)
        report = close_risk_report(pool.client(), evaluation, calendars, period)
        return [CloseRiskOut.model_validate(entity) for entity in report]

    @router.get(
        "/alerts", response_model=list[AlertOut], summary="Firing and recently resolved alerts"
    )
    def list_alerts(
        status: Annotated[str | None, Query(description="firing or resolved")] = None,
    ) -> list[AlertOut]:
        if status is not None and status not in (FIRING, RESOLVED):
            raise HTTPException(422, f"status={status!r}: expected firing or resolved")
        current = alerts() if alerts else []
        channels = delivered() if delivered else {}
        out = []
        for alert in sorted(current, key=lambda a: (a.status != FIRING, a.starts_at)):
            if status is not None and alert.status != status:
                continue
            told = [
                name
                for name, sent in channels.items()
                if (got := sent.get(alert.fingerprint)) is not None and got.status == alert.status
            ]
            out.append(
                AlertOut(
                    fingerprint=alert.fingerprint,
                    status=alert.status,
                    labels=alert.labels,
                    annotations=alert.annotations,
                    starts_at=alert.starts_at,
                    ends_at=alert.ends_at,
                    notified=sorted(told),
                )
            )
        return out

    return router


def _fields(view: Any) -> dict[str, Any]:
    names = (
        "state",
        "started_at",
        "stopped_at",
        "deadline",
        "business_elapsed_hours",
        "legal_entity",
        "amount",
        "currency",
        "breach_reason",
        "percent_elapsed",
        "start_event_id",
        "stop_event_id",
    )
    return {name: getattr(view, name) for name in names}
