"""Prometheus metrics of the SLA evaluator, in a registry of their own: what each tick did, how far
the business state trails the clock, whether this process holds the evaluator lease, and what each
notification channel delivered."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

NOTIFICATION_OUTCOMES = ("sent", "failed", "retried", "deferred")
"""``sent``: a message the channel accepted; ``failed``: a delivery that did not get through (it is
retried with back-off); ``retried``: a delivery attempted again after a failure; ``deferred``: a
message left for the next evaluation because the channel had used its share of the dispatch's time
(``slas.dispatch``)."""


class NotificationMetrics:
    """Per channel (``alertmanager``, ``webhook``, ``slack``, ``webhook:<team>``…): deliveries by
    outcome, failures in a row, the last success."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or CollectorRegistry()
        self.deliveries = Counter(
            "syncsight_notifications",
            "Notification deliveries by channel and outcome: sent (a message accepted), failed (a "
            "delivery that did not get through), retried (attempted again after a failure) or "
            "deferred (left for the next evaluation: the channel had used its time).",
            ["channel", "outcome"],
            registry=r,
        )
        self.alerts = Counter(
            "syncsight_notifications_alerts",
            "Alert changes (fired, escalated, resolved) a channel was told.",
            ["channel"],
            registry=r,
        )
        self.failing = Gauge(
            "syncsight_notifications_failures_in_a_row",
            "Deliveries that failed in a row per channel (0 once one gets through).",
            ["channel"],
            registry=r,
        )
        self.last_success = Gauge(
            "syncsight_notifications_last_success_timestamp_seconds",
            "When a channel last accepted a message (Unix time).",
            ["channel"],
            registry=r,
        )

    def channel(self, name: str) -> None:
        """Start every series of channel ``name`` at zero, so it exists before any delivery."""
        for outcome in NOTIFICATION_OUTCOMES:
            self.deliveries.labels(name, outcome)
        self.alerts.labels(name)
        self.failing.labels(name).set(0)


class EvaluatorMetrics:
    """Counters, gauges and histograms that ``/metrics`` exposes for the evaluator."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ticks = Counter(
            "syncsight_evaluator_ticks",
            "Evaluator ticks by outcome: ok, error, paused (a rebuild runs) or standby (another "
            "process holds the lease).",
            ["outcome"],
            registry=r,
        )
        self.tick_seconds = Histogram(
            "syncsight_evaluator_tick_seconds",
            "Duration of one evaluator tick (state update, alerts, notifications).",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.last_success = Gauge(
            "syncsight_evaluator_last_success_timestamp_seconds",
            "When the evaluator last completed a tick (Unix time).",
            registry=r,
        )
        self.lag_seconds = Gauge(
            "syncsight_evaluator_lag_seconds",
            "How far the business state trails the clock: the age, when scraped, of the "
            "watermark the last tick reached (settle time included); it grows while a tick "
            "runs long.",
            registry=r,
        )
        self.recorders_behind = Gauge(
            "syncsight_evaluator_recorders_behind",
            "1 while a recorder stopped short of the last tick's window (its watermark behind the "
            "business state's): the evidence packs' span copies catching up a bounded window a "
            "tick after an upgrade or a large backfill; packs read the rest from otel_traces.",
            ["recorder"],
            registry=r,
        )
        self.versions = Counter(
            "syncsight_evaluator_versions",
            "State versions written (timers and items that changed or disappeared).",
            registry=r,
        )
        self.objects = Counter(
            "syncsight_evaluator_touched_objects",
            "Objects that rows stored since the previous tick referenced.",
            registry=r,
        )
        self.paths = Counter(
            "syncsight_evaluator_window_paths",
            "Windows a tick re-derived, by how it closed their components: index (index reads "
            "of the touched components: the cost follows them) or graph (one read of the whole "
            "reference graph: the cost follows the history). graph is expected for the first "
            "derivation, a rebuild or a large backfill; in steady ingest it means the touched "
            "components outgrew the tick's budget, and ticks then slow down as history grows.",
            ["path"],
            registry=r,
        )
        self.unresolved = Counter(
            "syncsight_evaluator_unresolved_events",
            "Business events stored without any non-dimension object id: no timer or item can "
            "be keyed on them (each is logged once).",
            registry=r,
        )
        self.errors = Counter(
            "syncsight_evaluator_errors", "Evaluator ticks that failed.", registry=r
        )
        self.heartbeat_failures = Counter(
            "syncsight_evaluator_lease_heartbeat_failures",
            "Lease heartbeats written during a tick that failed (the holder may lose the lease "
            "to another replica mid-tick).",
            registry=r,
        )
        self.lease_held = Gauge(
            "syncsight_evaluator_lease_held",
            "1 while this process holds the evaluator lease (evaluates and notifies).",
            registry=r,
        )
        self.notifications = NotificationMetrics(r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
