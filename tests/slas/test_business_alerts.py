"""CloseRisk and BlockedMoney alerts from close-risk reports and blocked items (pure), how the one
reconcile step and the Slack channel treat them, and the source on the real engine."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.objects import ObjectRef
from lineage.impact import BlockedItem, Blocker
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas.alerts import FIRE, FIRING, RESOLVED, Change, reconcile
from slas.business_alerts import (
    BLOCKED_MONEY,
    CLOSE_RISK,
    BusinessAlerts,
    blocked_money_alerts,
    close_risk_alerts,
    open_period_candidates,
)
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.close_state import CloseRiskAnswers
from slas.config import BusinessAlertConfig
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BlockedInvoiceAnswers
from slas.notifiers.slack import SlackChannel, digest_message
from tests.slas.events import at, event, retried, span_rows
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.spans import OTEL_TRACES_COLUMNS

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
URL = "https://syncsight.example.com"


def entry(entity: str, level: str, *, period: str = "2026-12", closes_in_days: float = 20) -> Any:
    """One entry of ``GET /api/v1/close-risk``, as ``slas.close_risk.render_report`` writes it."""
    return {
        "legal_entity": entity,
        "period": period,
        "close_date": (NOW + timedelta(days=closes_in_days)).date().isoformat(),
        "close_deadline": (NOW + timedelta(days=closes_in_days)).isoformat(),
        "business_days_left": 14.0,
        "amount_due": {"EUR": Decimal("300000.0000")},
        "amount_at_risk": {"EUR": Decimal("200000.0000")},
        "materiality": Decimal(250000),
        "level": level,
        "contributors": [],
    }


def blocker(owner: str) -> Blocker:
    return Blocker("post:1", "invoice.posted", "validation", "E1", owner, None)


def item(
    entity: str,
    amount: str,
    currency: str = "EUR",
    name: str = "BE-1",
    owners: tuple[str, ...] = (),
) -> BlockedItem:
    return BlockedItem(
        object=ObjectRef("billing_event", name),
        invoice=None,
        stage="invoice.posted",
        amount=Decimal(amount),
        currency=currency,
        legal_entity=entity,
        period="2026-12",
        blocked_by=tuple(blocker(owner) for owner in owners),
    )


class TestCloseRiskAlerts:
    def test_an_open_period_at_or_above_the_level_fires_with_its_level(self) -> None:
        """Labels: alertname, legal_entity, period, level, severity; low never fires."""
        report = [entry("LE-DE01", "high"), entry("LE-UK01", "low"), entry("LE-US01", "medium")]
        alerts = close_risk_alerts(report, from_level="medium", now=NOW, public_url=URL)
        assert [a.labels for a in alerts] == [
            {
                "alertname": CLOSE_RISK,
                "legal_entity": "LE-DE01",
                "period": "2026-12",
                "level": "high",
                "severity": "error",
                "owner": "integration team",
            },
            {
                "alertname": CLOSE_RISK,
                "legal_entity": "LE-US01",
                "period": "2026-12",
                "level": "medium",
                "severity": "warning",
                "owner": "integration team",
            },
        ]
        assert alerts[0].annotations["amount_at_risk"] == "200000.00 EUR"
        assert alerts[0].generator_url == f"{URL}/api/v1/close-risk?period=2026-12"

    def test_amounts_and_materiality_are_exact_strings(self) -> None:
        """1234567.8912 at risk reads 1234567.8912, not 1234567.89; materiality is not %g."""
        report = entry("LE-DE01", "high")
        report["amount_at_risk"] = {"EUR": Decimal("1234567.8912"), "USD": Decimal("0.3000")}
        report["materiality"] = Decimal("1500000.5")
        (alert,) = close_risk_alerts([report], from_level="medium", now=NOW, public_url=URL)
        assert alert.annotations["amount_at_risk"] == "1234567.8912 EUR, 0.30 USD"
        assert alert.annotations["materiality"] == "1500000.50"

    def test_a_higher_from_level_keeps_medium_quiet(self) -> None:
        """from_level = high: a medium entity does not fire."""
        report = [entry("LE-US01", "medium"), entry("LE-DE01", "critical")]
        alerts = close_risk_alerts(report, from_level="high", now=NOW, public_url=URL)
        assert [(a.labels["legal_entity"], a.labels["severity"]) for a in alerts] == [
            ("LE-DE01", "critical")
        ]

    def test_a_period_whose_close_has_passed_does_not_fire(self) -> None:
        """Only open periods: the realised risk of a closed period is history, not an alert."""
        report = [entry("LE-DE01", "critical", period="2026-10", closes_in_days=-30)]
        assert close_risk_alerts(report, from_level="medium", now=NOW, public_url=URL) == []

    def test_a_rise_fires_the_new_level_and_resolves_the_old(self) -> None:
        """medium → high: the medium alert resolves and a high one fires; falling to low resolves."""
        medium = close_risk_alerts(
            [entry("LE-DE01", "medium")], from_level="medium", now=NOW, public_url=URL
        )
        record, _ = reconcile({}, medium, now=NOW)
        later = NOW + timedelta(minutes=1)
        high = close_risk_alerts(
            [entry("LE-DE01", "high")], from_level="medium", now=later, public_url=URL
        )
        record, changed = reconcile(record, high, now=later)
        assert sorted((a.labels["level"], a.status) for a in record.values()) == [
            ("high", FIRING),
            ("medium", RESOLVED),
        ]
        assert len(changed) == 2
        fallen = close_risk_alerts(
            [entry("LE-DE01", "low")], from_level="medium", now=later, public_url=URL
        )
        record, _ = reconcile(record, fallen, now=later)
        assert {a.status for a in record.values()} == {RESOLVED}

    def test_the_candidate_periods_cross_a_year_end(self) -> None:
        """The current month and the two before it, oldest first."""
        assert open_period_candidates(datetime(2027, 1, 3, tzinfo=UTC)) == [
            "2026-11",
            "2026-12",
            "2027-01",
        ]


class TestBlockedMoneyAlerts:
    def test_money_over_the_entitys_threshold_fires_per_currency(self) -> None:
        """Decimal totals per (entity, currency), compared with that currency's threshold."""
        items = [
            item("LE-DE01", "60000.10", name="BE-1"),
            item("LE-DE01", "40000.00", name="BE-2"),
            item("LE-DE01", "999999", "USD", name="BE-3"),
            item("LE-UK01", "500000", name="BE-4"),
        ]
        thresholds = {"LE-DE01": {"EUR": Decimal("100000")}}
        (alert,) = blocked_money_alerts(items, thresholds, now=NOW, public_url=URL)
        assert alert.labels == {
            "alertname": BLOCKED_MONEY,
            "legal_entity": "LE-DE01",
            "currency": "EUR",
            "severity": "warning",
            "owner": "integration team",
        }
        assert alert.annotations["blocked_amount"] == "100000.10"
        assert alert.annotations["threshold_amount"] == "100000.00"
        assert alert.annotations["items"] == "2"

    def test_many_small_amounts_add_up_exactly(self) -> None:
        """Three items of 0.1 over a threshold of 0.3: no float makes it 0.30000000000000004."""
        items = [item("LE-DE01", "0.1", name=f"BE-{n}") for n in range(3)]
        assert (
            blocked_money_alerts(
                items, {"LE-DE01": {"EUR": Decimal("0.3")}}, now=NOW, public_url=URL
            )
            == []
        )
        (alert,) = blocked_money_alerts(
            items, {"LE-DE01": {"EUR": Decimal("0.2999")}}, now=NOW, public_url=URL
        )
        assert alert.annotations["blocked_amount"] == "0.30"

    def test_currencies_are_never_added_together(self) -> None:
        """60k EUR and 60k USD against a 100k threshold in each: nothing fires."""
        items = [item("LE-DE01", "60000"), item("LE-DE01", "60000", "USD", name="BE-2")]
        thresholds = {"LE-DE01": {"EUR": Decimal("100000"), "USD": Decimal("100000")}}
        assert blocked_money_alerts(items, thresholds, now=NOW, public_url=URL) == []

    def test_exactly_the_threshold_does_not_fire(self) -> None:
        """Exceeding means more than the threshold."""
        thresholds = {"LE-DE01": {"EUR": Decimal("100000.00")}}
        items = [item("LE-DE01", "100000.00")]
        assert blocked_money_alerts(items, thresholds, now=NOW, public_url=URL) == []


class TestOwners:
    def test_close_risk_belongs_to_the_owner_of_its_largest_failed_contributor(self) -> None:
        """Contributors come largest first; the first with an error category routes the alert."""
        report = entry("LE-DE01", "high")
        report["contributors"] = [
            {"amount": Decimal(9000), "error_category": None},
            {"amount": Decimal(5000), "error_category": "master_data"},
            {"amount": Decimal(1000), "error_category": "auth"},
        ]
        (alert,) = close_risk_alerts(
            [report],
            from_level="medium",
            now=NOW,
            public_url=URL,
            owners=OwnerRouting.configured({"master_data": "mdm-team"}),
        )
        assert alert.labels["owner"] == "mdm-team"

    def test_blocked_money_belongs_to_whoever_holds_the_most_of_it(self) -> None:
        """70k behind the platform team's fixes (two items) beats 60k behind finance's (one)."""
        items = [
            item("LE-DE01", "60000", name="BE-1", owners=("finance operations",)),
            item("LE-DE01", "30000", name="BE-2", owners=("integration platform team",)),
            item("LE-DE01", "40000", name="BE-3", owners=("integration platform team",)),
        ]
        (alert,) = blocked_money_alerts(
            items, {"LE-DE01": {"EUR": Decimal("1000")}}, now=NOW, public_url=URL
        )
        assert alert.labels["owner"] == "integration platform team"


class TestSlack:
    def test_a_business_alert_is_told_by_its_summary(self) -> None:
        """No timer labels: the message is the alert's name, summary and description."""
        alerts = close_risk_alerts(
            [entry("LE-DE01", "high")], from_level="medium", now=NOW, public_url=URL
        )
        (message,) = SlackChannel("https://hooks.example.com/x").render(
            [Change(FIRE, alerts[0])], [], now=NOW
        )
        assert message.body["text"].startswith(":red_circle: CloseRisk firing: close risk high")
        digest = digest_message([Change(FIRE, alerts[0], stale=True)])
        assert "1 other alerts were already firing" in digest["text"]


def knowledge_now() -> datetime:
    """Knowledge time is the wall clock; the events are in September 2026."""
    time.sleep(0.002)
    return datetime.now(UTC)


class TestOnTheEngine:
    def test_a_failed_posting_fires_both_and_its_success_resolves_them_at_the_next_refresh(
        self, client: Client
    ) -> None:
        """Stored events through the business state: 200,000 EUR blocked fires CloseRisk (high)
        and BlockedMoney; once the posting succeeds, the answers worked out within ``every``
        still stand, and the next refresh has nothing to fire."""
        migrate(client, CorrelationRules.default())
        project = {sc.PROJECT: "PRJ-1"}
        activated = event(sc.PROJECT_ACTIVATED, "PRJ-1", project, at(), legal_entity="LE-DE01")
        ready = event(
            sc.BILLING_READY,
            "BE-1",
            {sc.BILLING_EVENT: "BE-1", **project},
            at(hours=1),
            amount=200000.0,
        )
        posting = event(
            sc.INVOICE_POSTED,
            "INV-1",
            {sc.INVOICE: "INV-1", sc.BILLING_EVENT: "BE-1", **project},
            at(hours=2),
            outcome=sc.FAILED,
            amount=200000.0,
            legal_entity="LE-DE01",
        )
        client.insert(
            "otel_traces", span_rows([activated, ready, posting]), column_names=OTEL_TRACES_COLUMNS
        )
        book = CalendarBook()
        state = BusinessState(lambda: client, DEFAULT_SLAS, book, settle=timedelta(milliseconds=1))
        state.tick(knowledge_now())
        source = BusinessAlerts(
            CloseRiskAnswers(lambda: client, book, state),
            BlockedInvoiceAnswers(lambda: client, LineageRules.default(), OwnerRouting(), state),
            BusinessAlertConfig(blocked_money={"LE-DE01": {"EUR": Decimal("100000")}}),
            OwnerRouting(),
            public_url=URL,
            every=timedelta(minutes=1),
        )
        now = at(days=1)
        fired = source.alerts(now)
        assert sorted((a.name, a.labels.get("level", "")) for a in fired) == [
            (BLOCKED_MONEY, ""),
            (CLOSE_RISK, "high"),
        ]
        assert {a.labels["owner"] for a in fired} == {"integration team"}
        posted = retried(posting, (at(days=1, hours=1), sc.SUCCESS, "2026-09"))
        client.insert("otel_traces", span_rows([posted]), column_names=OTEL_TRACES_COLUMNS)
        state.tick(knowledge_now())
        assert source.alerts(now + timedelta(seconds=30)) == fired
        assert source.alerts(now + timedelta(hours=2)) == []
