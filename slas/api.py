"""REST API of the SLA feature: SLA summaries and their trend, timers, close risk and alerts under
``/api/v1``. Without ``as_of`` every answer comes from the live evaluation the service's evaluator
keeps current; the ``X-Syncsight-As-Of`` header names the instant an answer describes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Response

from slas.alerts import FIRING, RESOLVED, Alert
from slas.business_time import epoch_seconds
from slas.calendars import parse_period
from slas.close_risk import close_risk_report
from slas.evaluation import Evaluation, Evaluations, timer_views
from slas.models import (
    AlertOut,
    AlertSummaryOut,
    CloseRiskOut,
    SlaOut,
    TimerKey,
    TimerOut,
    TrendPointOut,
    TrendSlaOut,
)
from slas.timers import STATES, attainment_history, summarize
from warehouse.pool import ClientPool

_URGENCY = np.array([3, 0, 1, 2])
"""Sort order of the states met, breached, at_risk, on_track: the most urgent first."""

AS_OF_HEADER = "X-Syncsight-As-Of"
AsOf = Annotated[
    datetime | None,
    Query(
        description="Evaluate as of this instant (RFC 3339; naive means UTC). Default: the live "
        "evaluation, redone every SYNCSIGHT_SLA_INTERVAL; the X-Syncsight-As-Of header names the "
        "instant an answer describes."
    ),
]
AlertStatus = Annotated[str | None, Query(description="firing or resolved")]
DeliveredAlerts = Callable[[], dict[str, dict[str, Alert]]]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The range of the engine's DateTime64(9) (nanoseconds in an Int64), which every as_of is bound as.
EARLIEST_AS_OF = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_AS_OF = datetime(2262, 4, 11, tzinfo=UTC)


def _as_of_in_range(as_of: datetime) -> datetime:
    """``as_of`` in UTC, or 422 naming the value and the range the engine can store."""
    instant = _utc(as_of)
    if not EARLIEST_AS_OF <= instant < LATEST_AS_OF:
        raise HTTPException(
            status_code=422,
            detail=f"as_of={instant.isoformat()}: expected an instant from "
            f"{EARLIEST_AS_OF.date()} to before {LATEST_AS_OF.date()}",
        )
    return instant


def slas_router(
    pool: ClientPool,
    evaluations: Evaluations,
    *,
    alerts: Callable[[], list[Alert]] | None = None,
    delivered: DeliveredAlerts | None = None,
) -> APIRouter:
    router = APIRouter(tags=["slas"])
    by_name = {d.name: d for d in evaluations.definitions}

    def evaluation_at(as_of: datetime | None, response: Response) -> Evaluation:
        evaluation = evaluations.at(None if as_of is None else _as_of_in_range(as_of))
        response.headers[AS_OF_HEADER] = evaluation.as_of.isoformat().replace("+00:00", "Z")
        return evaluation

    @router.get(
        "/slas", response_model=list[SlaOut], summary="Every SLA: timers by state, attainment"
    )
    def list_slas(response: Response, as_of: AsOf = None) -> list[SlaOut]:
        out = []
        for definition, evaluated in evaluation_at(as_of, response).timers.values():
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
        "/slas/trend",
        response_model=list[TrendPointOut],
        summary="Attainment of every SLA at weekly points up to as_of, from one evaluation",
    )
    def trend(
        response: Response,
        as_of: AsOf = None,
        weeks: Annotated[int, Query(ge=1, le=104, description="Weekly points before as_of.")] = 6,
    ) -> list[TrendPointOut]:
        evaluation = evaluation_at(as_of, response)
        moments = [evaluation.as_of - timedelta(weeks=back) for back in range(weeks, -1, -1)]
        instants = np.array([epoch_seconds(moment) for moment in moments])
        histories = {
            name: attainment_history(evaluated, instants)
            for name, (_, evaluated) in evaluation.timers.items()
        }
        return [
            TrendPointOut(
                as_of=moment,
                slas=[
                    TrendSlaOut(
                        name=name,
                        counts={"met": points[index].met, "breached": points[index].breached},
                        attainment=points[index].attainment,
                    )
                    for name, points in histories.items()
                ],
            )
            for index, moment in enumerate(moments)
        ]

    @router.get(
        "/slas/{name}/timers",
        response_model=list[TimerOut],
        summary="Timers of one SLA, the most urgent first",
    )
    def list_timers(
        name: str,
        response: Response,
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
        evaluated = evaluation_at(as_of, response).timers[name][1]
        keep = np.ones(len(evaluated), dtype=bool)
        if state is not None:
            keep &= evaluated.state == STATES.index(state)
        if legal_entity is not None:
            keep &= evaluated.timers.legal_entity == evaluated.timers.entity_code(legal_entity)
        rows = np.flatnonzero(keep)
        order = np.lexsort((evaluated.deadline[rows], _URGENCY[evaluated.state[rows]]))
        views = timer_views(pool.client(), evaluated, rows[order][:limit], evaluations.ids)
        return [TimerOut(key=TimerKey(type=v.key_type, id=v.key_id), **_fields(v)) for v in views]

    @router.get(
        "/close-risk",
        response_model=list[CloseRiskOut],
        summary="Per legal entity: money that may miss the period's close",
    )
    def close_risk(
        response: Response,
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
        evaluation = evaluation_at(as_of, response)
        report = close_risk_report(
            pool.client(), evaluation, evaluations.calendars, period, evaluations.ids
        )
        return [CloseRiskOut.model_validate(entity) for entity in report]

    def current_alerts(status: str | None, legal_entity: str | None) -> list[Alert]:
        if status is not None and status not in (FIRING, RESOLVED):
            raise HTTPException(422, f"status={status!r}: expected firing or resolved")
        return [
            alert
            for alert in (alerts() if alerts else [])
            if (status is None or alert.status == status)
            and (legal_entity is None or alert.labels.get("legal_entity") == legal_entity)
        ]

    @router.get(
        "/alerts",
        response_model=list[AlertOut],
        summary="Firing and recently resolved alerts, firing first, the newest first",
    )
    def list_alerts(
        status: AlertStatus = None,
        legal_entity: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100_000, description="At most this many.")] = 1000,
    ) -> list[AlertOut]:
        chosen = sorted(
            current_alerts(status, legal_entity),
            key=lambda a: (a.status != FIRING, -a.starts_at.timestamp()),
        )[:limit]
        channels = delivered() if delivered else {}
        return [
            AlertOut(
                fingerprint=alert.fingerprint,
                status=alert.status,
                labels=alert.labels,
                annotations=alert.annotations,
                starts_at=alert.starts_at,
                ends_at=alert.ends_at,
                notified=sorted(
                    name
                    for name, sent in channels.items()
                    if (got := sent.get(alert.fingerprint)) is not None
                    and got.status == alert.status
                ),
            )
            for alert in chosen
        ]

    @router.get(
        "/alerts/summary",
        response_model=AlertSummaryOut,
        summary="How many alerts fire and were resolved, by SLA and severity",
    )
    def alert_summary(legal_entity: str | None = None) -> AlertSummaryOut:
        chosen = current_alerts(None, legal_entity)
        by_sla: dict[str, dict[str, int]] = {}
        by_severity: dict[str, int] = {}
        for alert in chosen:
            counts = by_sla.setdefault(alert.labels.get("sla", ""), {FIRING: 0, RESOLVED: 0})
            counts[alert.status] = counts.get(alert.status, 0) + 1
            if alert.status == FIRING:
                severity = alert.labels.get("severity", "")
                by_severity[severity] = by_severity.get(severity, 0) + 1
        return AlertSummaryOut(
            firing=sum(alert.status == FIRING for alert in chosen),
            resolved=sum(alert.status == RESOLVED for alert in chosen),
            by_sla=dict(sorted(by_sla.items())),
            by_severity=dict(sorted(by_severity.items())),
        )

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
