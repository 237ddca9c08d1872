"""Alerts from timers: identity by labels, thresholds once per cycle, resolution, staleness."""

from __future__ import annotations

import gc
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from slas.alerts import (
    AT_RISK_ALERT,
    BREACHED_ALERT,
    ESCALATE,
    FIRE,
    FIRING,
    RESOLVE,
    RESOLVED,
    Alert,
    Change,
    TimerAlertFacts,
    TimerAnnotations,
    annotations_of,
    fingerprint,
    pending,
    reconcile,
    timer_alert,
)

T0 = datetime(2026, 9, 7, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=1)


def facts(**changes: object) -> TimerAlertFacts:
    base = TimerAlertFacts(
        sla="time-to-invoice-posting",
        severity="critical",
        owner="billing-operations",
        legal_entity="LE-DE01",
        object_type="billing_event",
        object_id="BE-1",
        start_event_id="billing.ready:BE-1",
        started_at=T0,
        deadline=T0 + timedelta(days=1),
        elapsed_hours=13.0,
        target_hours=24.0,
        threshold=0.5,
        crossed_at=T0 + timedelta(hours=12),
        breached=False,
        amount=Decimal("1200"),
        currency="EUR",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def alert_at(threshold: float, *, breached: bool = False, hours: float = 13) -> Alert:
    crossed = T0 + timedelta(hours=24 if breached else 24 * threshold)
    return timer_alert(
        facts(threshold=threshold, breached=breached, elapsed_hours=hours, crossed_at=crossed),
        public_url="https://syncsight.example",
    )


class TestIdentity:
    def test_fingerprint_ignores_label_order(self) -> None:
        """The fingerprint is a function of the label set, like Alertmanager's."""
        labels = {"alertname": "SlaBreached", "sla": "x", "object_id": "BE-1"}
        reordered = dict(reversed(list(labels.items())))
        assert fingerprint(labels) == fingerprint(reordered)
        assert len(fingerprint(labels)) == 16
        assert fingerprint(labels) != fingerprint({**labels, "object_id": "BE-2"})

    def test_elapsed_time_moves_annotations_not_labels(self) -> None:
        """A later evaluation of the same timer is the same alert."""
        early, later = alert_at(0.5, hours=13), alert_at(0.5, hours=14)
        assert early.fingerprint == later.fingerprint
        assert (
            early.annotations["elapsed_business_hours"]
            != later.annotations["elapsed_business_hours"]
        )

    def test_labels_name_the_timer_and_annotations_what_changes(self) -> None:
        """alertname, sla, legal_entity, severity, owner, object and cycle; a lineage link."""
        alert = alert_at(1.0, breached=True, hours=30)
        assert alert.labels == {
            "alertname": BREACHED_ALERT,
            "sla": "time-to-invoice-posting",
            "legal_entity": "LE-DE01",
            "severity": "critical",
            "owner": "billing-operations",
            "object_type": "billing_event",
            "object_id": "BE-1",
            "cycle": "billing.ready:BE-1",
        }
        assert alert.annotations["lineage_url"] == (
            "https://syncsight.example/api/v1/lineage/billing_event/BE-1"
        )
        assert alert.annotations["amount"] == "1200.00"
        assert alert.starts_at == T0 + timedelta(hours=24)

    def test_the_amount_annotation_is_the_exact_amount(self) -> None:
        """A timer's 1234567.8912 is annotated as 1234567.8912, not rounded to the cent."""
        alert = timer_alert(facts(amount=Decimal("1234567.8912")), public_url="https://x")
        assert alert.annotations["amount"] == "1234567.8912"

    def test_at_risk_is_a_warning_whatever_the_sla_severity(self) -> None:
        """Only a breach carries the SLA's own severity."""
        assert alert_at(0.5).labels["severity"] == "warning"
        assert alert_at(0.5).name == AT_RISK_ALERT


class TestOncePerThreshold:
    def test_a_timer_cycle_notifies_each_threshold_once(self) -> None:
        """50 %, 50 %, 75 %, 75 %, breach, stop: fire, -, escalate, -, breach, resolve."""
        record: dict[str, Alert] = {}
        delivered: dict[str, Alert] = {}
        told: list[list[tuple[str, str, bool]]] = []
        evaluations = [
            [alert_at(0.5, hours=13)],
            [alert_at(0.5, hours=14)],
            [alert_at(0.75, hours=19)],
            [alert_at(0.75, hours=20)],
            [alert_at(1.0, breached=True, hours=25)],
            [],
        ]
        for step, wanted in enumerate(evaluations):
            now = T0 + timedelta(hours=13 + step * 4)
            record, _ = reconcile(record, wanted, now=now)
            changes = pending(record, delivered, now=now, grace=timedelta(days=9))
            told.append(sorted((c.kind, c.alert.name, c.superseded) for c in changes))
            delivered.update({c.alert.fingerprint: c.alert for c in changes})
        assert told == [
            [(FIRE, AT_RISK_ALERT, False)],
            [],
            [(ESCALATE, AT_RISK_ALERT, False)],
            [],
            sorted([(FIRE, BREACHED_ALERT, False), (RESOLVE, AT_RISK_ALERT, True)]),
            [(RESOLVE, BREACHED_ALERT, False)],
        ]

    def test_an_escalation_keeps_the_first_start(self) -> None:
        """The alert started when the first threshold was crossed."""
        record, _ = reconcile({}, [alert_at(0.5)], now=T0)
        record, changed = reconcile(record, [alert_at(0.75)], now=T0)
        (alert,) = record.values()
        assert changed == {alert.fingerprint}
        assert (alert.threshold, alert.starts_at) == (0.75, T0 + timedelta(hours=12))

    def test_a_resolved_alert_ends_now(self) -> None:
        """No longer wanted: resolved with the evaluation's instant as its end."""
        record, _ = reconcile({}, [alert_at(0.5)], now=T0)
        later = T0 + timedelta(hours=2)
        record, _ = reconcile(record, [], now=later)
        (alert,) = record.values()
        assert (alert.status, alert.ends_at) == (RESOLVED, later)


class TestHeldCompactly:
    """The evaluator holds every open timer's alert between ticks (85,862 at the large quarter):
    an alert keeps its facts and labels, not a spelt copy of its annotations, and its copies keep
    its fingerprint rather than a process-wide cache of label sets."""

    def test_the_annotations_are_spelt_when_read_and_equal_the_dict_they_spell(self) -> None:
        alert = alert_at(0.5)
        assert isinstance(alert.annotations, TimerAnnotations)
        spelt = annotations_of(alert)
        assert type(spelt) is dict
        assert alert.annotations == spelt
        assert spelt == alert.annotations
        assert dict(alert.annotations) == spelt
        assert len(alert.annotations) == len(spelt) == 11
        assert json.loads(json.dumps(spelt)) == spelt
        assert (
            spelt["summary"] == "time-to-invoice-posting past 50% of its target: billing_event BE-1"
        )
        assert alert.annotations.get("currency") == "EUR"

    def test_an_alert_keeps_no_dict_of_its_annotations(self) -> None:
        """The alert's referents: its labels are the only dict it holds."""
        alert = alert_at(0.75)
        held = [r for r in gc.get_referents(alert) if isinstance(r, dict)]
        assert held == [alert.labels]
        assert not hasattr(alert, "__dict__")

    def test_a_copy_keeps_the_fingerprint_without_working_it_out_again(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        alert = alert_at(0.5)
        first = alert.fingerprint
        calls: list[object] = []

        def counted(labels: dict[str, str]) -> str:
            calls.append(labels)
            return fingerprint(labels)

        monkeypatch.setattr("slas.alerts.fingerprint", counted)
        record, _ = reconcile({first: alert}, [alert_at(0.75)], now=T0)
        (escalated,) = record.values()
        assert escalated.resolved(T0).fingerprint == escalated.fingerprint
        assert len(calls) == 1  # the new alert object's own, once; not its copies'
        other = alert.replaced(labels={**alert.labels, "sla": "other"})
        assert other.fingerprint != first
        assert len(calls) == 2

    def test_the_record_holds_a_wanted_alert_itself_when_its_start_and_level_stand(self) -> None:
        """An alert wanted again (a restart reading the record back, a full read of every
        timer) is recorded as the object the evaluator holds, not a copy of it; one that
        escalated is a copy keeping the first start."""
        first, _ = reconcile({}, [alert_at(0.5)], now=T0)
        again = alert_at(0.5, hours=14)
        record, changed = reconcile(first, [again], now=T0)
        assert next(iter(record.values())) is again
        assert changed == set()
        escalated = alert_at(0.75)
        record, _ = reconcile(record, [escalated], now=T0)
        (kept,) = record.values()
        assert kept is not escalated
        assert kept.starts_at == again.starts_at


class TestReconcileWhatChanged:
    def test_reconciling_only_what_changed_gives_the_record_of_reconciling_everything(
        self,
    ) -> None:
        """Forty evaluations of up to 30 timers, each evaluation holding some of the last one's
        alert objects, building others again (same labels, new object) and dropping or adding
        some, thresholds rising and falling: given the last evaluation's alerts, the record and
        the changes are those of reconciling everything, step by step."""
        draw = random.Random(3)
        shares = (0.5, 0.75, 1.0)
        full: dict[str, Alert] = {}
        delta: dict[str, Alert] = {}
        before: list[Alert] | None = None
        changes = 0
        for step in range(40):
            now = T0 + timedelta(hours=step)
            wanted: list[Alert] = []
            for timer in range(30):
                held = [a for a in before or () if a.labels["object_id"] == f"BE-{timer}"]
                roll = draw.random()
                if held and roll < 0.6:
                    wanted += held  # the same object as last time
                elif roll < 0.85:
                    share = draw.choice(shares)
                    wanted.append(
                        timer_alert(
                            facts(
                                object_id=f"BE-{timer}",
                                start_event_id=f"billing.ready:BE-{timer}",
                                threshold=share,
                                breached=share == 1.0,
                                crossed_at=now,
                            ),
                            public_url="https://syncsight.example",
                        )
                    )
            full, full_changed = reconcile(full, wanted, now=now)
            delta, delta_changed = reconcile(delta, wanted, now=now, before=before)
            assert delta == full, step
            assert delta_changed == full_changed, step
            changes += len(full_changed)
            before = wanted
        assert changes > 100
        assert any(a.status == RESOLVED for a in full.values())
        assert any(a.threshold == 1.0 and a.status == FIRING for a in full.values())

    def test_the_same_alert_objects_change_nothing(self) -> None:
        """Handed the very alerts of the last evaluation, the record stands as it is."""
        wanted = [alert_at(0.5), alert_at(1.0, breached=True)]
        record, _ = reconcile({}, wanted, now=T0)
        again, changed = reconcile(record, wanted, now=T0 + timedelta(hours=1), before=wanted)
        assert (again, changed) == (record, set())


class TestPending:
    def test_a_channel_is_owed_only_a_resolution_it_saw_firing(self) -> None:
        """A channel added after an alert resolved hears nothing about it."""
        resolved = alert_at(0.5).resolved(T0)
        assert pending({resolved.fingerprint: resolved}, {}, now=T0, grace=GRACE) == []

    @pytest.mark.parametrize(
        ("crossed_minutes_ago", "stale"), [(0.5, False), (59 / 60, False), (5, True), (600, True)]
    )
    def test_a_threshold_crossed_before_the_grace_period_is_stale(
        self, crossed_minutes_ago: float, stale: bool
    ) -> None:
        """Backfill and late data show up as stale changes (sent as one digest)."""
        alert = replace(alert_at(0.5), crossed_at=T0 - timedelta(minutes=crossed_minutes_ago))
        (change,) = pending({alert.fingerprint: alert}, {}, now=T0, grace=GRACE)
        assert change == Change(FIRE, alert, stale=stale)

    def test_what_was_delivered_is_not_owed_again(self) -> None:
        """After a restart the delivered state (from ClickHouse) silences repeats."""
        alert = alert_at(0.75)
        told = {alert.fingerprint: replace(alert, status=FIRING)}
        assert pending({alert.fingerprint: alert}, told, now=T0, grace=GRACE) == []
