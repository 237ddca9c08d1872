"""The pages against the API shapes the issues fix, served by a stub, for the endpoints colleagues
are still building (SLAs, close risk, alerts) and for states the quarter does not produce (no data,
a viewer token that may not download evidence)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.stub_api import stub_api

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
AS_OF = "2026-10-30T17:00:00Z"


def sla(name: str, attainment: float, breached: int, at_risk: int) -> dict[str, Any]:
    return {
        "name": name,
        "target": "1d",
        "counts": {"met": 90, "breached": breached, "at_risk": at_risk, "on_track": 4},
        "attainment": attainment,
        "p50_business_hours": 12.5,
        "p95_business_hours": 30.0,
    }


def timer(key: str, state: str, hours: float, deadline: str) -> dict[str, Any]:
    return {
        "key": {"type": "billing_event", "id": key},
        "state": state,
        "started_at": "2026-10-28T09:00:00Z",
        "stopped_at": None if state in ("at_risk", "on_track") else "2026-10-29T09:00:00Z",
        "deadline": deadline,
        "business_elapsed_hours": hours,
        "legal_entity": "LE-UK01",
        "amount": 1000.0,
    }


def risk(entity: str, period: str, level: str, amount: float, currency: str) -> dict[str, Any]:
    return {
        "legal_entity": entity,
        "period": period,
        "close_date": "2026-11-06",
        "business_days_left": 5,
        "amount_at_risk": {currency: amount},
        "materiality": {currency: 50000.0},
        "level": level,
        "contributors": [
            {"object": {"type": "billing_event", "id": f"BE-{entity}-1"}, "amount": amount, "reason": "blocked"}
        ],
    }  # fmt: skip


BLOCKED = {
    "total": {"GBP": 2000.0},
    "items": [
        {
            "object": {"type": "billing_event", "id": "BE-UK01-1"},
            "invoice": "INV-UK01-1",
            "stage": "invoice.posted",
            "amount": 2000.0,
            "currency": "GBP",
            "legal_entity": "LE-UK01",
            "period": "2026-10",
            "blocked_by": [
                {"event_id": "invoice.posted:INV-UK01-1", "event_type": "invoice.posted", "error_category": "downstream", "error_code": "HTTP_503", "owner": "platform team", "failed_since": "2026-10-29T09:00:00Z"}
            ],
        }
    ],
}  # fmt: skip
TIMERS = [
    timer("BE-1", "met", 10.0, "2026-10-29T09:00:00Z"),
    timer("BE-2", "breached", 40.0, "2026-10-29T09:00:00Z"),
    timer("BE-3", "at_risk", 20.0, "2026-10-31T09:00:00Z"),
    timer("BE-4", "at_risk", 18.0, "2026-10-30T21:00:00Z"),
]
LINEAGE = {
    "root": {"type": "invoice", "id": "INV-UK01-1"},
    "direction": "upstream",
    "nodes": [
        {"event_id": "invoice.posted:INV-UK01-1", "event_type": "invoice.posted", "timestamp": "2026-10-29T09:00:00Z", "source_system": "psa", "target_system": "erp", "outcome": "failed", "attempts": 3, "replays": 1, "amount": 2000.0, "currency": "GBP", "period": "2026-10", "legal_entity": "LE-UK01", "error_category": "downstream", "objects": {"invoice": ["INV-UK01-1"]}, "trace_id": "t1", "span_id": "s1"}
    ],
    "edges": [],
    "source_events": [],
    "complete": False,
    "gaps": [{"kind": "posting_failed", "event_id": "invoice.posted:INV-UK01-1", "event_type": "invoice.posted", "message": "failed", "via": None}],
}  # fmt: skip
ISSUE_SHAPES: dict[str, tuple[int, Any]] = {
    "/api/v1/impact/blocked-invoices": (200, BLOCKED),
    "/api/v1/slas": (
        200,
        [sla("time-to-invoice-posting", 0.91, 7, 2), sla("time-to-bill-readiness", 0.84, 12, 5)],
    ),
    "/api/v1/slas/trend": (
        200,
        [
            {"as_of": "2026-10-23T17:00:00Z", "slas": [sla("time-to-invoice-posting", 0.85, 7, 2)]},
            {"as_of": AS_OF, "slas": [sla("time-to-invoice-posting", 0.91, 7, 2)]},
        ],
    ),
    "/api/v1/slas/time-to-invoice-posting/timers": (200, TIMERS),
    "/api/v1/slas/time-to-bill-readiness/timers": (200, []),
    "/api/v1/close-risk": (
        200,
        [
            risk("LE-UK01", "2026-10", "high", 120000.0, "GBP"),
            risk("LE-DE01", "2026-10", "low", 300.0, "EUR"),
            risk("LE-UK01", "2026-09", "medium", 9000.0, "GBP"),
        ],
    ),
    "/api/v1/alerts/summary": (
        200,
        {"firing": 1, "resolved": 1, "by_sla": {}, "by_severity": {"error": 1}},
    ),
    "/api/v1/alerts": (
        200,
        [
            {"name": "SlaBreached", "status": "firing", "severity": "error", "summary": "late", "legal_entity": "LE-UK01", "started_at": "2026-10-29T09:00:00Z"},
            {"name": "CloseAtRisk", "status": "resolved", "severity": "warning", "summary": "ok now", "legal_entity": "LE-DE01", "started_at": "2026-10-27T09:00:00Z", "ended_at": "2026-10-28T09:00:00Z"},
        ],
    ),
    "/api/v1/lineage/invoice/INV-UK01-1": (200, LINEAGE),
    "/api/v1/lineage/invoice/INV-UK01-1/evidence": (403, {"detail": "needs role auditor; this token is viewer"}),
    "/api/v1/lineage/invoice/INV-UK01-1/ocel": (200, {"objectTypes": [], "eventTypes": [], "objects": [], "events": []}),
}  # fmt: skip
OpenPage = Callable[..., AppTest]


def opener(url: str, monkeypatch: pytest.MonkeyPatch) -> OpenPage:
    monkeypatch.setenv("SYNCSIGHT_API_URL", url)

    def run(page: str | None = None, **query: str) -> AppTest:
        app = AppTest.from_file(APP, default_timeout=60)
        app.query_params.update({"as_of": AS_OF, **query})
        app.run()
        if page:
            app.switch_page(f"views/{page}.py").run()
        assert not app.exception, [e.value for e in app.exception]
        assert not app.error, [e.value for e in app.error]
        return app

    return run


@pytest.fixture
def open_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenPage]:
    with stub_api(ISSUE_SHAPES) as api:
        yield opener(api.url, monkeypatch)


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def deltas(app: AppTest) -> Mapping[str, str | None]:
    return {metric.label: metric.delta for metric in app.metric}


class TestOverview:
    def test_sla_attainment_and_its_weekly_change(self, open_page: OpenPage) -> None:
        """Attainment per SLA in percent, with the change against the trend's point a week earlier."""
        app = open_page()
        assert metrics(app)["time-to-invoice-posting"] == "91.0 %"
        assert deltas(app)["time-to-invoice-posting"] == "+6.0 pp vs a week earlier"
        assert not deltas(app)["time-to-bill-readiness"]  # no earlier point for it
        assert len(app.get("plotly_chart")) == 2

    def test_close_risk_of_the_current_period_per_legal_entity(self, open_page: OpenPage) -> None:
        """Only 2026-10's entities, most severe first, with level, close date and days left."""
        app = open_page()
        levels = [m.value for m in app.markdown if m.value.startswith("**LE-")]
        assert levels == ["**LE-UK01** :red-background[high]", "**LE-DE01** :blue-background[low]"]
        captions = " ".join(c.value for c in app.caption)
        assert "closes 2026-11-06 · 5 business days left · at risk GBP 120,000.00" in captions


class TestCloseRisk:
    def test_heatmap_table_and_contributors(self, open_page: OpenPage) -> None:
        """Every entity-period is in the table; the worst one's contributors are listed."""
        app = open_page("close_risk")
        assert metrics(app)["Highest risk"] == "high"
        assert len(app.get("plotly_chart")) == 2
        table = app.dataframe[0].value
        assert list(table["legal_entity"]) == ["LE-UK01", "LE-UK01", "LE-DE01"]
        assert app.dataframe[1].value.iloc[0]["object"] == "billing_event BE-LE-UK01-1"

    def test_entity_filter_narrows_the_page(self, open_page: OpenPage) -> None:
        """?legal_entity=LE-DE01 shows only that entity."""
        app = open_page("close_risk", legal_entity="LE-DE01")
        assert list(app.dataframe[0].value["legal_entity"]) == ["LE-DE01"]


class TestSlas:
    def test_attainment_distribution_and_open_at_risk_timers(self, open_page: OpenPage) -> None:
        """Metrics per SLA; for the chosen SLA the histogram, the weekly chart and the open
        at-risk timers soonest deadline first."""
        app = open_page("slas")
        assert metrics(app)["time-to-bill-readiness"] == "84.0 %"
        assert len(app.get("plotly_chart")) == 2
        at_risk = app.dataframe[1].value
        assert list(at_risk["key"]) == ["billing_event BE-4", "billing_event BE-3"]
        assert list(at_risk["hours_to_deadline"]) == [4.0, 16.0]

    def test_an_sla_without_timers_says_so(self, open_page: OpenPage) -> None:
        """Picking an SLA with no timers is an explained empty state."""
        app = open_page("slas")
        app.selectbox(key="sla_pick").select("time-to-bill-readiness").run()
        assert any("has no timers" in str(i.value) for i in app.info)


class TestAlerts:
    def test_firing_and_resolved_are_counted_and_listed(self, open_page: OpenPage) -> None:
        """One firing, one resolved, each in its own table."""
        app = open_page("alerts")
        assert metrics(app) == {"Firing": "1", "Recently resolved": "1"}
        assert list(app.dataframe[0].value["alert"]) == ["SlaBreached"]


class TestLineageWithAViewerToken:
    def test_evidence_needs_an_auditor_but_ocel_downloads(self, open_page: OpenPage) -> None:
        """A 403 on the evidence pack is a lock notice, not an error; the OCEL button stays."""
        app = open_page("lineage_explorer", type="invoice", id="INV-UK01-1")
        assert any("needs an auditor token" in str(w.value) for w in app.warning)
        assert [b.proto.label for b in app.get("download_button")] == [
            "Download OCEL 2.0 export (JSON)"
        ]
        assert metrics(app)["Completeness"] == "1 gap(s)"
        assert not any("Truncated" in str(w.value) for w in app.warning)


def test_a_truncated_lineage_says_it_was_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lineage the API cut at its node limit is shown with a notice saying so."""
    shapes = {
        **ISSUE_SHAPES,
        "/api/v1/lineage/invoice/INV-UK01-1": (200, {**LINEAGE, "truncated": True}),
    }
    with stub_api(shapes) as api:
        app = opener(api.url, monkeypatch)("lineage_explorer", type="invoice", id="INV-UK01-1")
    notices = [str(w.value) for w in app.warning]
    assert any("Truncated: only the first 1 events are shown" in notice for notice in notices)


def test_an_empty_service_explains_how_to_send_it_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    """No blocked items and no SLAs yet: the overview says how to point middleware at syncsight."""
    empty = {
        "/api/v1/impact/blocked-invoices": (200, {"total": {}, "items": []}),
        "/api/v1/slas": (200, []),
        "/api/v1/close-risk": (200, []),
    }
    with stub_api(empty) as api:
        app = opener(api.url, monkeypatch)()
    advice = " ".join(str(i.value) for i in app.info)
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in advice
    assert "No invoice is blocked" in advice
