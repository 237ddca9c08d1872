"""Prometheus metrics of the SLA evaluator, in a registry of their own: what each tick did, how far
the business state trails the clock, whether this process holds the evaluator lease."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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
            "How far the business state trailed the clock after the last tick (its watermark's "
            "age, settle time included).",
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
        self.unresolved = Counter(
            "syncsight_evaluator_unresolved_events",
            "Business events stored without any non-dimension object id: no timer or item can "
            "be keyed on them (each is logged once).",
            registry=r,
        )
        self.errors = Counter(
            "syncsight_evaluator_errors", "Evaluator ticks that failed.", registry=r
        )
        self.lease_held = Gauge(
            "syncsight_evaluator_lease_held",
            "1 while this process holds the evaluator lease (evaluates and notifies).",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
