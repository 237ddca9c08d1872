"""``syncsight_notifications_*``: every delivery counted per channel and outcome, as /metrics shows."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry

from slas.metrics import EvaluatorMetrics, NotificationMetrics
from tests.slas.test_notifiers import AM, HOOK, NOW, SLACK, Receiver, dispatcher, make_alert


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


class TestNotificationMetrics:
    def test_a_delivery_and_a_failure_are_counted_per_channel(self) -> None:
        """The webhook is down once: Slack and Alertmanager count a sent message, the webhook a
        failure, then a retry that is sent."""
        receiver = Receiver()
        receiver.failing.add(HOOK)
        registry = CollectorRegistry()
        sender = dispatcher(receiver, metrics=NotificationMetrics(registry))
        alert = make_alert("BE-1")
        sender.dispatch({alert.fingerprint: alert}, now=NOW)
        deliveries = "syncsight_notifications_total"
        assert sample(registry, deliveries, channel="slack", outcome="sent") == 1
        assert sample(registry, deliveries, channel="alertmanager", outcome="sent") == 1
        assert sample(registry, deliveries, channel="webhook", outcome="failed") == 1
        assert sample(registry, deliveries, channel="webhook", outcome="sent") == 0
        failing = "syncsight_notifications_failures_in_a_row"
        assert sample(registry, failing, channel="webhook") == 1
        assert sample(registry, "syncsight_notifications_alerts_total", channel="slack") == 1

        receiver.failing.clear()
        sender.dispatch({alert.fingerprint: alert}, now=NOW + timedelta(seconds=6))
        assert sample(registry, deliveries, channel="webhook", outcome="retried") == 1
        assert sample(registry, deliveries, channel="webhook", outcome="sent") == 1
        assert sample(registry, failing, channel="webhook") == 0
        assert sample(
            registry, "syncsight_notifications_last_success_timestamp_seconds", channel="webhook"
        )
        assert {url for url, _ in receiver.posts} >= {HOOK, SLACK, f"{AM}/api/v2/alerts"}

    def test_every_channel_is_exported_before_its_first_delivery(self) -> None:
        """A channel that never sent shows zeros on /metrics (the evaluator's registry)."""
        metrics = EvaluatorMetrics()
        dispatcher(Receiver(), metrics=metrics.notifications)
        text = metrics.render().decode()
        for channel in ("alertmanager", "webhook", "slack"):
            for outcome in ("sent", "failed", "retried", "deferred"):
                line = (
                    f'syncsight_notifications_total{{channel="{channel}",outcome="{outcome}"}} 0.0'
                )
                assert line in text
