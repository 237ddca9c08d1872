"""REST API of the SLA feature: SLA summaries and their trend, timers, objectives, close risk and alerts under
``/api/v1``. SLA answers are SQL over the timer state at ``as_of`` (event time, default now) and
``known_at`` (knowledge time, default the state's watermark); the ``X-Syncsight-As-Of`` and
``X-Syncsight-Known-At`` headers name the instants an answer describes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from domain.answer_headers import AS_OF_HEADER, KNOWN_AT_HEADER
from domain.periods import PERIOD_PATTERN, parse_period
from lineage.impact import BlockedCursor
from lineage.ledger_api import in_range
from lineage.models import BlockedInvoicesOut, StreamSilenceOut, TelemetrySilenceOut, blocked_json
from slas.alerts import FIRING, RESOLVED, Alert, annotations_of
from slas.close_state import CloseRiskAnswers
from slas.impact_answers import BlockedInvoiceAnswers
from slas.models import (
    AlertOut,
    AlertSummaryOut,
    BurnRateOut,
    CloseRiskOut,
    ObjectiveOut,
    SlaOut,
    TimerKey,
    TimerOut,
    TrendPointOut,
    TrendSlaOut,
)
from slas.objective_answers import ObjectiveAnswers
from slas.objectives import ObjectiveStatus
from slas.telemetry import StreamSilence, TelemetrySilence
from slas.timer_answers import TimerAnswers
from slas.timers import STATES
from warehouse.python_heap import collection_paused

BLOCKED_PAGE_ITEMS = 1000
"""A blocked-invoice page's items unless asked otherwise
(benchmarks/history/business-state-answers.md, "Blocked invoices, a page at a time")."""
KnownAt = Annotated[
    datetime | None,
    Query(
        description="Count only what syncsight had stored by this instant (RFC 3339; naive means "
        "UTC). Default and upper bound: how far the timer state is complete (the "
        "X-Syncsight-Known-At header). An answer for a past known_at never changes."
    ),
]
SlaAsOf = Annotated[
    datetime | None,
    Query(
        description="The state at this instant, in event time (RFC 3339; naive means UTC). "
        "Default: now; the X-Syncsight-As-Of header names the instant an answer describes."
    ),
]
AlertStatus = Annotated[str | None, Query(description="firing or resolved")]
DeliveredAlerts = Callable[[], dict[str, dict[str, Alert]]]


def _stamp(response: Response, as_of: datetime, known_at: datetime) -> None:
    response.headers[AS_OF_HEADER] = _iso(as_of)
    response.headers[KNOWN_AT_HEADER] = _iso(known_at)


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def slas_router(
    answers: TimerAnswers,
    close_risk: CloseRiskAnswers,
    blocked: BlockedInvoiceAnswers,
    *,
    alerts: Callable[[], list[Alert]] | None = None,
    delivered: DeliveredAlerts | None = None,
    silence: TelemetrySilence | None = None,
    objectives: ObjectiveAnswers | None = None,
) -> APIRouter:
    router = APIRouter(tags=["slas"])
    by_name = {d.name: d for d in answers.definitions}

    def moment(as_of: datetime | None) -> datetime:
        return in_range(as_of, "as_of") if as_of is not None else datetime.now(UTC)

    def knowledge(known_at: datetime | None) -> datetime | None:
        return None if known_at is None else in_range(known_at, "known_at")

    @router.get(
        "/slas", response_model=list[SlaOut], summary="Every SLA: timers by state, attainment"
    )
    def list_slas(
        response: Response, as_of: SlaAsOf = None, known_at: KnownAt = None
    ) -> list[SlaOut]:
        answer = answers.summaries(moment(as_of), knowledge(known_at))
        _stamp(response, answer.as_of, answer.known_at)
        return [
            SlaOut(
                name=summary.name,
                target=summary.target,
                counts=summary.counts,
                attainment=summary.attainment,
                p50_business_hours=summary.p50_business_hours,
                p95_business_hours=summary.p95_business_hours,
                owner=by_name[summary.name].owner,
                severity=by_name[summary.name].severity,
                description=by_name[summary.name].description,
            )
            for summary in answer.summaries
        ]

    @router.get(
        "/slas/trend",
        response_model=list[TrendPointOut],
        summary="Attainment of every SLA at weekly points up to as_of",
    )
    def trend(
        response: Response,
        as_of: SlaAsOf = None,
        known_at: KnownAt = None,
        weeks: Annotated[int, Query(ge=1, le=104, description="Weekly points before as_of.")] = 6,
    ) -> list[TrendPointOut]:
        at = moment(as_of)
        # every point is an as_of of its own: the first one in range too, or none is answered
        in_range(at - timedelta(weeks=weeks), f"as_of minus {weeks} weeks")
        moments = [at - timedelta(weeks=back) for back in range(weeks, -1, -1)]
        known, histories = answers.trend(at, knowledge(known_at), moments)
        _stamp(response, at, known)
        return [
            TrendPointOut(
                as_of=point_at,
                slas=[
                    TrendSlaOut(
                        name=name,
                        counts={"met": points[index].met, "breached": points[index].breached},
                        attainment=points[index].attainment,
                    )
                    for name, points in histories.items()
                ],
            )
            for index, point_at in enumerate(moments)
        ]

    @router.get(
        "/slas/objectives",
        response_model=list[ObjectiveOut],
        summary="Per SLA with an objective and legal entity: error budget left and burn rates",
    )
    def list_objectives(
        response: Response, as_of: SlaAsOf = None, known_at: KnownAt = None
    ) -> list[ObjectiveOut]:
        at = moment(as_of)
        if objectives is None:
            _stamp(response, at, answers.known_at(knowledge(known_at)))
            return []
        known, statuses = objectives.report(at, knowledge(known_at))
        _stamp(response, at, known)
        return [objective_out(status) for status in statuses]

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
        as_of: SlaAsOf = None,
        known_at: KnownAt = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    ) -> list[TimerOut]:
        if name not in by_name:
            raise HTTPException(404, f"unknown SLA {name!r}; known: {', '.join(by_name)}")
        if state is not None and state not in STATES:
            raise HTTPException(422, f"state={state!r}: expected one of {', '.join(STATES)}")
        at = moment(as_of)
        known, listings = answers.timers(
            by_name[name],
            at,
            knowledge(known_at),
            state=state,
            legal_entity=legal_entity,
            limit=limit,
        )
        _stamp(response, at, known)
        return [
            TimerOut(key=TimerKey(type=v.key_type, id=v.key_id), **_fields(v)) for v in listings
        ]

    @router.get(
        "/close-risk",
        response_model=list[CloseRiskOut],
        summary="Per legal entity: money that may miss the period's close",
    )
    def list_close_risk(
        response: Response,
        period: Annotated[
            str | None,
            Query(
                pattern=r"^[0-9]{4}-[0-9]{2}$",
                description="YYYY-MM; without it, every period with items due, by legal entity and period.",
            ),
        ] = None,
        as_of: SlaAsOf = None,
        known_at: KnownAt = None,
        legal_entity: Annotated[
            str | None,
            Query(description="Only this legal entity's rows (none when it has no items due)."),
        ] = None,
    ) -> list[CloseRiskOut]:
        try:
            if period is not None:
                parse_period(period)
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        at = moment(as_of)
        known, report = close_risk.report(period, at, knowledge(known_at))
        _stamp(response, at, known)
        return [
            CloseRiskOut.model_validate(entity)
            for entity in report
            if legal_entity is None or entity["legal_entity"] == legal_entity
        ]

    def blocked_page(
        *,
        period: str | None,
        legal_entity: str | None,
        as_of: datetime,
        known_at: datetime | None,
        limit: int,
        after: BlockedCursor | None,
    ) -> tuple[datetime, bytes, str | None]:
        """The known_at a page describes, its JSON and the cursor of the next page (None: the
        last): the answer's items live only while this runs."""
        known, result = blocked.report(
            period=period,
            legal_entity=legal_entity,
            as_of=as_of,
            known_at=known_at,
            limit=limit,
            after=None if after is None else after.key,
        )
        following = None
        if result.more and result.items:
            following = BlockedCursor.after(
                result.items[-1],
                as_of=as_of,
                known_at=known,
                period=period,
                legal_entity=legal_entity,
            ).text()
        return known, blocked_json(result, as_of, following), following

    @router.get(
        "/impact/blocked-invoices",
        response_model=BlockedInvoicesOut,
        summary="Invoice-level items held by failures, their value and who owns each fix, a page "
        "at a time",
        description="`total` and `count` cover every blocked item; `items` is one page of them, "
        'the largest first. When more follow, `next_cursor` (and the `Link: <…>; rel="next"` '
        "header) names the next page; it carries the answer's as_of and known_at, so every page "
        "of an answer describes the same instants while ingest goes on.",
    )
    def blocked_invoices(
        request: Request,
        period: Annotated[
            str | None, Query(pattern=PERIOD_PATTERN, description="Fiscal period, YYYY-MM.")
        ] = None,
        legal_entity: str | None = None,
        as_of: SlaAsOf = None,
        known_at: KnownAt = None,
        limit: Annotated[
            int,
            Query(
                ge=1,
                le=100_000,
                description="Most items in this page (`total` and `count` still cover every "
                "blocked item).",
            ),
        ] = BLOCKED_PAGE_ITEMS,
        cursor: Annotated[
            str | None,
            Query(
                max_length=2000,
                description="`next_cursor` of the previous page, with the same period and "
                "legal_entity (as_of and known_at are the cursor's; give none or the same).",
            ),
        ] = None,
    ) -> Response:
        # the JSON written from the answer's values (``blocked_json``), not validated and
        # serialised model by model: a page may list thousands; the schema is still the model's
        at, asked_known_at = moment(as_of), knowledge(known_at)
        after = None
        if cursor is not None:  # the cursor's instants: every page describes the first one's
            try:
                after = BlockedCursor.parse(cursor)
            except ValueError as error:
                raise HTTPException(422, str(error)) from None
            conflict = after.conflict(
                period=period,
                legal_entity=legal_entity,
                as_of=None if as_of is None else at,
                known_at=asked_known_at,
            )
            if conflict is not None:
                raise HTTPException(422, conflict)
            at = in_range(after.as_of, "cursor's as_of")
            asked_known_at = in_range(after.known_at, "cursor's known_at")
        with collection_paused():  # the page's thousands of objects are freed before it ends
            known, body, following = blocked_page(
                period=period,
                legal_entity=legal_entity,
                as_of=at,
                known_at=asked_known_at,
                limit=limit,
                after=after,
            )
        response = Response(body, media_type="application/json")
        _stamp(response, at, known)
        if following is not None:
            query = request.url.include_query_params(cursor=following).query
            response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
        return response

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
                annotations=annotations_of(alert),
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

    if silence is not None:

        @router.get(
            "/telemetry/silence",
            response_model=TelemetrySilenceOut,
            summary="How long each source pair and service has sent no business event, in "
            "business time, against its learnt cadence and configured bound",
        )
        def telemetry_silence() -> TelemetrySilenceOut:
            now = datetime.now(UTC)
            streams = [silence_out(stream) for stream in silence.streams(now)]
            return TelemetrySilenceOut(
                as_of=now, missing=sum(s.missing for s in streams), streams=streams
            )

    return router


def silence_out(stream: StreamSilence) -> StreamSilenceOut:
    """One stream's silence as the API tells it (business hours)."""
    learnt = stream.learnt_seconds
    return StreamSilenceOut(
        kind=stream.kind,
        stream=stream.name,
        last_seen=stream.last_seen,
        silence_business_hours=round(stream.silence_seconds / 3600, 3),
        limit_business_hours=round(stream.limit_seconds / 3600, 3),
        learnt_business_hours=None if learnt is None else round(learnt / 3600, 3),
        bound_business_hours=round(stream.bound_seconds / 3600, 3),
        missing=stream.missing,
    )


def objective_out(status: ObjectiveStatus) -> ObjectiveOut:
    """One SLA's error budget in one legal entity as the API tells it (business hours)."""
    left = status.budget_left
    return ObjectiveOut(
        sla=status.sla,
        legal_entity=status.legal_entity,
        objective=status.objective.share,
        window=str(status.objective.window),
        window_business_hours=round(status.window_hours, 3),
        met=status.met,
        breached=status.breached,
        attainment=None if status.attainment is None else round(status.attainment, 4),
        error_budget=round(status.budget, 3),
        budget_left=None if left is None else round(left, 4),
        burn_rates=[
            BurnRateOut(
                tier=burn.tier,
                window=burn.window,
                severity=burn.severity,
                long_window_business_hours=round(burn.long_window_hours, 3),
                short_window_business_hours=round(burn.short_window_hours, 3),
                factor=round(burn.factor, 3),
                long_burn_rate=round(burn.long_burn, 3),
                short_burn_rate=round(burn.short_burn, 3),
                firing=burn.firing,
            )
            for burn in status.burns
        ],
    )


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
