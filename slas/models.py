"""Response models of the SLA API: summaries, trend, timers, objectives, close risk and alerts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.money import Money


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
    amount: Money | None
    currency: str
    breach_reason: str = Field(description="late, wrong_period or missing for breached timers.")
    percent_elapsed: float
    start_event_id: str
    stop_event_id: str


class ContributorOut(BaseModel):
    object: TimerKey = Field(description="The item: a billing event or a revenue journal.")
    amount: Money | None
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
    amount_due: dict[str, Money] = Field(
        description="Currency → money that must post in the period."
    )
    amount_at_risk: dict[str, Money] = Field(description="Currency → money at risk of missing it.")
    materiality: Money = Field(description="The entity's materiality, in its own currency.")
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


class TrendSlaOut(BaseModel):
    name: str
    counts: dict[str, int] = Field(description="met and breached timers at the point.")
    attainment: float | None = Field(description="met / (met + breached); null without any.")


class TrendPointOut(BaseModel):
    as_of: datetime
    slas: list[TrendSlaOut]


class AlertSummaryOut(BaseModel):
    firing: int
    resolved: int = Field(description="Resolved within the last 24 hours.")
    by_sla: dict[str, dict[str, int]] = Field(description="SLA → status → count.")
    by_severity: dict[str, int] = Field(description="Severity → firing alerts.")


class BurnRateOut(BaseModel):
    tier: str = Field(description="fast or slow: the pair of windows watched.")
    window: str = Field(description="The long window in business time, as in the alert: '1d'.")
    severity: str
    long_window_business_hours: float
    short_window_business_hours: float = Field(description="A twelfth of the long window.")
    factor: float = Field(description="Both windows burning faster than this fire SlaBudgetBurn.")
    long_burn_rate: float = Field(
        description="Breached share in the long window / (1 - objective); 1 spends the budget "
        "exactly over the objective's window."
    )
    short_burn_rate: float
    firing: bool


class ObjectiveOut(BaseModel):
    sla: str
    legal_entity: str
    objective: float = Field(description="Share of timers to meet, e.g. 0.95.")
    window: str = Field(description="The objective's window in business time: '20d'.")
    window_business_hours: float
    met: int = Field(description="Timers met that were decided in the window.")
    breached: int = Field(description="Timers breached that were decided in the window.")
    attainment: float | None = Field(description="met / (met + breached); null without any.")
    error_budget: float = Field(
        description="Timers that may breach in the window: (1 - objective) x (met + breached)."
    )
    budget_left: float | None = Field(
        description="Share of the error budget not spent (negative once overspent); null "
        "without timers."
    )
    burn_rates: list[BurnRateOut]
