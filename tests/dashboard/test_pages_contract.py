"""The pages against answers built from the API's own response models (tests/api_answers.py),
served by a stub: states the small quarter does not produce (levels, alerts, a viewer token that
may not download evidence, no data), which requests each page makes, the instant it shows, and who
the sidebar says the session reads as."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.api_session import SESSION_TOKEN
from dashboard.filters import LIVE
from lineage.ledger_models import CallerOut
from tests.api_answers import (
    alert,
    alert_summary,
    audit_report,
    blocked,
    blocked_item,
    blocker,
    caller,
    difference,
    downloads,
    interface,
    lineage,
    lineage_node,
    objective,
    risk,
    side,
    silence,
    sla,
    timer,
    tree_head,
    tree_heads,
    trend_point,
    wire,
    work_item,
    work_item_detail,
    work_item_page,
)
from tests.stub_api import Reply, StubApi, stub_api

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
AS_OF = "2026-10-30T17:00:00Z"
KNOWN_AT = "2026-10-30T16:59:58.250Z"
STAMP = {"X-Syncsight-As-Of": AS_OF, "X-Syncsight-Known-At": KNOWN_AT}
BLOCKED = blocked(
    AS_OF,
    blocked_item(
        "BE-UK01-1", Decimal("2000.00"), "GBP", "LE-UK01",
        blocker("invoice.posted:INV-UK01-1", "downstream", "platform team", "2026-10-29T09:00:00Z"),
    ),
)  # fmt: skip
LINEAGE = lineage(
    ("invoice", "INV-UK01-1"),
    lineage_node("invoice.posted:INV-UK01-1", "2026-10-29T09:00:00Z", "psa", "erp", "failed", 3, 1),
)
SILENCE = silence(
    AS_OF,
    ("source_pair", "psa->erp", 4.0, 0.5, True),
    ("service", "mw-crm", 0.1, 2.0, False),
)
WORK_ITEMS = [
    work_item("wi-a", "integration platform team", {"GBP": "2000.0000"}, 12.5),
    work_item(
        "wi-b", "billing-operations", {"EUR": "300.00"}, 30.0,
        kind="breached_timer", title="time-to-invoice-posting", legal_entity="LE-DE01",
    ),
    work_item("wi-c", "integration platform team", {"GBP": "500.00"}, 40.0),
]  # fmt: skip
ACKNOWLEDGED = work_item_detail(
    work_item("wi-a", "integration platform team", {"GBP": "2000"}, 12.5, state="acknowledged"),
    ("opened", "syncsight", "2026-10-29T09:00:00Z"),
    ("acknowledged", "dana.ops", "2026-10-30T17:00:00Z"),
)
BILLING = "billing.ready → invoice.posted by billing_event"
REPORT = audit_report(
    "2026-10",
    "LE-DE01",
    KNOWN_AT,
    [
        interface(
            BILLING,
            "billing_event",
            ["missing", "late", "duplicate", "amount_mismatch"],
            side(3, EUR="3000.00"),
            side(2, EUR="1900.00"),
            {"missing": 1, "amount_mismatch": 1},
        ),
        interface(
            "contract.signed → project.activated by contract",
            "contract",
            ["missing", "duplicate"],
            side(1),
            side(1),
            {},
        ),
    ],
    [
        difference(BILLING, "missing", "billing_event", "BE-DE01-7", "1000.00", ""),
        difference(BILLING, "amount_mismatch", "billing_event", "BE-DE01-8", "1000.00", "900.00"),
    ],
    knowledge_days=["2026-10-29", "2026-10-30"],
    heads=[tree_head("2026-10-29", 120)],
)
ADMIN_ONLY = (
    403,
    {"detail": "GET /api/v1/ledger/downloads needs role admin; this token is auditor"},
)
AUDITOR = caller("ada.auditor", "auditor")
ADMIN = caller("root.admin", "admin", "auditor", "operator")
SHAPES: dict[str, Reply] = {
    "/api/v1/me": (200, wire(AUDITOR)),
    "/api/v1/work-items": (200, wire(work_item_page(AS_OF, *WORK_ITEMS, may_act=True))),
    "/api/v1/work-items/wi-a/acknowledge": (200, wire(ACKNOWLEDGED)),
    "/api/v1/telemetry/silence": (200, wire(SILENCE)),
    "/api/v1/impact/blocked-invoices": (200, wire(BLOCKED), STAMP),
    "/api/v1/slas": (200, wire([sla("time-to-invoice-posting", 0.91, 7, 2), sla("time-to-revenue-posting", 0.84, 12, 5)]), STAMP),
    "/api/v1/slas/trend": (
        200,
        wire([
            trend_point("2026-10-23T17:00:00Z", ("time-to-invoice-posting", 0.85)),
            trend_point(AS_OF, ("time-to-invoice-posting", 0.91), ("time-to-revenue-posting", 0.84)),
        ]),
        STAMP,
    ),
    "/api/v1/slas/objectives": (
        200,
        wire([
            objective("time-to-invoice-posting", "LE-UK01", 90, 10, fast=4.0, slow=2.0),
            objective("time-to-invoice-posting", "LE-DE01", 99, 1, fast=0.0, slow=0.2),
        ]),
        STAMP,
    ),
    "/api/v1/slas/time-to-invoice-posting/timers": (
        200,
        wire([
            timer("BE-1", "met", 10.0, "2026-10-29T09:00:00Z", stopped=True),
            timer("BE-2", "breached", 40.0, "2026-10-29T09:00:00Z", stopped=True),
            timer("BE-3", "at_risk", 20.0, "2026-10-31T09:00:00Z"),
            timer("BE-4", "at_risk", 18.0, "2026-10-30T21:00:00Z"),
        ]),
        STAMP,
    ),
    "/api/v1/slas/time-to-revenue-posting/timers": (200, [], STAMP),
    "/api/v1/close-risk": (
        200,
        wire([
            risk("LE-UK01", "2026-10", "high", Decimal("120000.0"), "GBP"),
            risk("LE-DE01", "2026-10", "low", Decimal("300.0"), "EUR"),
            risk("LE-UK01", "2026-09", "medium", Decimal("9000.0"), "GBP").model_copy(
                update={"close_date": "2026-10-06", "business_days_left": 0}
            ),  # closed by AS_OF
        ]),
        STAMP,
    ),
    "/api/v1/alerts/summary": (200, wire(alert_summary(1, 1))),
    "/api/v1/alerts": (
        200,
        wire([
            alert("SlaBreached", "firing", "LE-UK01", "2026-10-29T09:00:00Z"),
            alert("CloseAtRisk", "resolved", "LE-DE01", "2026-10-27T09:00:00Z", "2026-10-28T09:00:00Z"),
        ]),
    ),
    "/api/v1/lineage/invoice/INV-UK01-1": (200, wire(LINEAGE)),
    "/api/v1/lineage/invoice/INV-UK01-1/evidence": (403, {"detail": "needs role auditor; this token is viewer"}),
    "/api/v1/lineage/invoice/INV-UK01-1/ocel": (200, {"objectTypes": [], "eventTypes": [], "objects": [], "events": []}),
    "/api/v1/audit/report": (200, wire(REPORT)),
    "/api/v1/ledger/heads": (200, wire(tree_heads(tree_head("2026-10-29", 120)))),
    "/api/v1/ledger/downloads": ADMIN_ONLY,
}  # fmt: skip
OpenPage = Callable[..., AppTest]


def opener(url: str, monkeypatch: pytest.MonkeyPatch) -> OpenPage:
    monkeypatch.setenv("SYNCSIGHT_API_URL", url)

    def run(page: str | None = None, **query: str) -> AppTest:
        """A new session that opens ``page`` (default the overview) first."""
        app = AppTest.from_file(APP, default_timeout=60)
        app.query_params.update({"as_of": AS_OF, **query})
        if page:
            app.switch_page(f"views/{page}.py")
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        assert not app.error, [e.value for e in app.error]
        return app

    return run


@pytest.fixture
def stub() -> Iterator[StubApi]:
    with stub_api(SHAPES) as api:
        yield api


@pytest.fixture
def open_page(stub: StubApi, monkeypatch: pytest.MonkeyPatch) -> OpenPage:
    return opener(stub.url, monkeypatch)


def requests(stub: StubApi) -> list[tuple[str, dict[str, list[str]]]]:
    """(path, query) of every read the stub received, in order, without the sign-in's
    /api/v1/me."""
    found = [(urlsplit(seen).path, parse_qs(urlsplit(seen).query)) for seen, _ in stub.seen]
    return [(path, query) for path, query in found if path != "/api/v1/me"]


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
        assert not deltas(app)["time-to-revenue-posting"]  # no earlier point for it
        assert len(app.get("plotly_chart")) == 2

    def test_close_risk_of_the_current_period_per_legal_entity(self, open_page: OpenPage) -> None:
        """Only 2026-10's entities, most severe first, with level, close date and days left."""
        app = open_page()
        levels = [m.value for m in app.markdown if m.value.startswith("**LE-")]
        assert levels == ["**LE-UK01** :red-background[high]", "**LE-DE01** :blue-background[low]"]
        captions = " ".join(c.value for c in app.caption)
        assert "closes 2026-11-06 · 5 business days left · at risk GBP 120,000.00" in captions


class TestMissingEvidence:
    def test_silent_telemetry_is_named_live(self, open_page: OpenPage) -> None:
        """The stream silent beyond its limit is named; the one sending as usual is not."""
        warned = " ".join(str(w.value) for w in open_page(as_of=LIVE).warning)
        assert "Missing evidence: **psa->erp** silent 4.0 business h (tolerated 0.5)" in warned
        assert "mw-crm" not in warned

    def test_a_past_instant_says_nothing_of_silence_now(
        self, open_page: OpenPage, stub: StubApi
    ) -> None:
        """Silence is a fact of now: a page for a fixed as_of neither reads nor shows it."""
        app = open_page()
        assert "/api/v1/telemetry/silence" not in {path for path, _ in requests(stub)}
        assert not [w for w in app.warning if "Missing evidence" in str(w.value)]


class TestOnePageOneInstant:
    @pytest.mark.parametrize("page", [None, "blocked_invoices", "close_risk", "slas"])
    def test_every_read_of_a_page_is_for_one_as_of_and_one_known_at(
        self, open_page: OpenPage, stub: StubApi, page: str | None
    ) -> None:
        """The first answer's known_at is sent with every later read of the page, all for the
        sidebar's as_of; the page says both instants once."""
        app = open_page(page)
        reads = requests(stub)
        assert reads, "the page read nothing"
        assert all(query["as_of"] == [AS_OF] for _, query in reads)
        assert "known_at" not in reads[0][1]
        assert all(query["known_at"] == ["2026-10-30T16:59:58.250000Z"] for _, query in reads[1:])
        captions = [c.value for c in app.caption if "known at" in c.value]
        assert captions == [
            "As of **2026-10-30 17:00 UTC** (fixed) · known at **2026-10-30 16:59:58 UTC** · "
            "all periods · all legal entities"
        ]


class TestNoPagePaysForWhatItDoesNotShow:
    @pytest.mark.parametrize(
        ("page", "paths"),
        [
            ("blocked_invoices", {"/api/v1/impact/blocked-invoices"}),
            ("close_risk", {"/api/v1/close-risk"}),
            (
                "slas",
                {
                    "/api/v1/slas",
                    "/api/v1/slas/objectives",
                    "/api/v1/slas/time-to-invoice-posting/timers",
                },
            ),
            ("alerts", {"/api/v1/alerts", "/api/v1/alerts/summary"}),
            ("work_queue", {"/api/v1/work-items"}),
            ("lineage_explorer", set()),
            (
                "audit",
                {"/api/v1/close-risk", "/api/v1/audit/report", "/api/v1/ledger/heads"},
            ),
        ],
    )
    def test_a_page_reads_only_the_endpoints_it_shows(
        self, open_page: OpenPage, stub: StubApi, page: str, paths: set[str]
    ) -> None:
        """The sidebar reads nothing but who the session is; the heavy blocked-invoice and
        close-risk answers are read only by the pages that draw them; an auditor's Audit page
        does not ask for the admins' access trail."""
        open_page(page)
        assert {path for path, _ in requests(stub)} == paths

    def test_the_legal_entity_filter_offers_the_entities_the_page_read(
        self, open_page: OpenPage
    ) -> None:
        """The close-risk page's entities are offered without another read."""
        app = open_page("close_risk")
        options = app.selectbox(key="filter_legal_entity").options
        assert options == ["All", "LE-DE01", "LE-UK01"]


class TestBlockedInvoices:
    def test_the_sidebars_as_of_reaches_the_blocked_invoices(
        self, open_page: OpenPage, stub: StubApi
    ) -> None:
        """Blocked items are those of the instant the caption names: the largest, in one page
        of a bounded size."""
        open_page("blocked_invoices", period="2026-10", legal_entity="LE-UK01")
        path, query = requests(stub)[-1]
        assert path == "/api/v1/impact/blocked-invoices"
        assert (query["as_of"], query["period"], query["legal_entity"], query["limit"]) == (
            [AS_OF],
            ["2026-10"],
            ["LE-UK01"],
            ["10000"],
        )

    def test_the_only_local_filter_is_the_owner(self, open_page: OpenPage) -> None:
        """The API reports no customer, so there is no customer filter to offer."""
        app = open_page("blocked_invoices")
        assert [m.label for m in app.multiselect] == ["Owner"]
        assert app.multiselect(key="blocked_owners").options == ["platform team"]


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
        assert metrics(app)["time-to-revenue-posting"] == "84.0 %"
        assert len(app.get("plotly_chart")) == 2
        at_risk = app.dataframe[2].value
        assert list(at_risk["key"]) == ["billing_event BE-4", "billing_event BE-3"]
        assert list(at_risk["hours_to_deadline"]) == [4.0, 16.0]

    def test_error_budgets_left_and_burn_per_entity(self, open_page: OpenPage) -> None:
        """The overspent entity first, its burn over both windows and the tiers that fire."""
        budgets = open_page("slas").dataframe[1].value
        assert list(budgets["legal_entity"]) == ["LE-UK01", "LE-DE01"]
        first = budgets.iloc[0]
        assert (first["budget_left_%"], first["burning"]) == (-100.0, "1d, 5d")
        assert first["burn_1d"] == "4.0x / 4.0x (fires above 2x)"
        assert budgets.iloc[1]["budget_left_%"] == 80.0

    def test_no_budget_in_the_window_is_not_called_no_objective(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Found on the medium quarter with an objective configured (session 28): at an instant
        whose window held no decided timer the API lists no budget, and the page said "No SLA has
        an objective here yet". It now names both reasons an empty list can have."""
        with stub_api({**SHAPES, "/api/v1/slas/objectives": (200, [], STAMP)}) as api:
            app = opener(api.url, monkeypatch)("slas")
        told = " ".join(str(i.value) for i in app.info)
        assert "No SLA has an objective here yet" not in told
        assert "no SLA with an objective had a timer decided in its window" in told

    def test_budgets_of_other_entities_only_are_named_as_such(self, open_page: OpenPage) -> None:
        """With a legal entity chosen that has no budget, the page says that of the entity."""
        app = open_page("slas", legal_entity="LE-US01")
        told = " ".join(str(i.value) for i in app.info)
        assert "No error budget of LE-US01 at this instant" in told
        assert "No SLA has an objective here yet" not in told

    def test_an_sla_without_timers_says_so(self, open_page: OpenPage) -> None:
        """Picking an SLA with no timers is an explained empty state."""
        app = open_page("slas")
        app.selectbox(key="sla_pick").select("time-to-revenue-posting").run()
        assert any("has no timers" in str(i.value) for i in app.info)


class TestAlerts:
    def test_firing_and_resolved_are_counted_and_listed(self, open_page: OpenPage) -> None:
        """One firing, one resolved, each in its own table."""
        app = open_page("alerts")
        assert metrics(app) == {"Firing": "1", "Recently resolved": "1"}
        assert list(app.dataframe[0].value["alert"]) == ["SlaBreached"]


class TestWorkQueue:
    def test_items_are_grouped_by_owner_with_money_and_business_age(
        self, open_page: OpenPage, stub: StubApi
    ) -> None:
        """The owner holding the most money first, each heading with its items, money per
        currency and oldest age in business hours; the queue is read for now, not the as_of."""
        app = open_page("work_queue")
        assert [h.value for h in app.subheader][:2] == [
            "integration platform team · 2 items · GBP 2,500.00 · oldest 40.0 business h",
            "billing-operations · 1 item · EUR 300.00 · oldest 30.0 business h",
        ]
        assert metrics(app)["Items"] == "3"
        assert list(app.dataframe[0].value["item"]) == ["invoice.posted", "invoice.posted"]
        assert list(app.dataframe[0].value["age (business h)"]) == [40.0, 12.5]
        assert all("as_of" not in query for _, query in requests(stub))

    def test_an_operator_acts_from_the_form(self, open_page: OpenPage, stub: StubApi) -> None:
        """The form posts the chosen action for the chosen item and says the new state."""
        app = open_page("work_queue")
        assert app.get("form")
        picker = app.selectbox(key="work_item_pick")
        picker.set_value(next(o for o in picker.options if o.endswith("(wi-a)")))
        app.radio(key="work_item_verb").set_value("Acknowledge")
        app.text_area(key="work_item_text").set_value("on it")
        app.button[-1].click().run()
        assert stub.posted == [("/api/v1/work-items/wi-a/acknowledge", {"text": "on it"})]
        assert [s.value for s in app.success] == [
            "invoice.posted (downstream: HTTP 503) is now acknowledged."
        ]

    def test_a_viewer_token_sees_no_form(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """may_act false: the queue is shown and a caption says which role acting needs."""
        viewer = {
            **SHAPES,
            "/api/v1/work-items": (200, wire(work_item_page(AS_OF, *WORK_ITEMS, may_act=False))),
        }
        with stub_api(viewer) as api:
            app = opener(api.url, monkeypatch)("work_queue")
        assert not app.get("form")
        assert not [b for b in app.button if b.proto.label == "Apply"]
        assert any("needs role operator or admin" in c.value for c in app.caption)


def audit_page(
    monkeypatch: pytest.MonkeyPatch, changed: Mapping[str, Reply]
) -> tuple[AppTest, set[str]]:
    """The Audit page against SHAPES with the ``changed`` answers, and the paths it read."""
    with stub_api({**SHAPES, **changed}) as api:
        app = opener(api.url, monkeypatch)("audit")
        return app, {path for path, _ in requests(api)}


def role_notice(app: AppTest) -> str:
    """The page's notices, once they say which roles the report needs."""
    notice = " ".join(str(i.value) for i in app.info)
    assert "needs the **auditor** or **admin** role" in notice
    return notice


class TestAudit:
    def test_the_report_is_read_for_the_chosen_period_and_entity_at_the_pages_known_at(
        self, open_page: OpenPage, stub: StubApi
    ) -> None:
        """The period the as-of time falls in, the first entity with items in it (close risk of
        that period), the close-risk answer's known_at; the caption names all of them once."""
        app = open_page("audit")
        reads = requests(stub)
        assert reads[0] == ("/api/v1/close-risk", {"as_of": [AS_OF], "period": ["2026-10"]})
        assert reads[1] == (
            "/api/v1/audit/report",
            {
                "period": ["2026-10"],
                "legal_entity": ["LE-DE01"],
                "known_at": ["2026-10-30T16:59:58.250000Z"],
            },
        )
        assert app.selectbox(key="audit_legal_entity").options == ["LE-DE01", "LE-UK01"]
        assert [c.value for c in app.caption if "known at" in c.value] == [
            "As of **2026-10-30 17:00 UTC** (fixed) · known at **2026-10-30 16:59:58 UTC** · "
            "period 2026-10 · LE-DE01"
        ]

    def test_the_sidebars_legal_entity_and_period_choose_the_report(
        self, open_page: OpenPage, stub: StubApi
    ) -> None:
        """?period=2026-09&legal_entity=LE-UK01 reports that entity for that period."""
        app = open_page("audit", period="2026-09", legal_entity="LE-UK01")
        report_reads = [query for path, query in requests(stub) if path == "/api/v1/audit/report"]
        assert [(q["period"], q["legal_entity"]) for q in report_reads] == [
            (["2026-09"], ["LE-UK01"])
        ]
        assert app.selectbox(key="audit_period").value == "2026-09"

    def test_each_interface_with_both_sides_and_its_differences_by_kind(
        self, open_page: OpenPage
    ) -> None:
        """One row per interface; a kind the interface is not checked for stays empty."""
        app = open_page("audit")
        interfaces = app.dataframe[0].value
        assert list(interfaces["interface"]) == [i.interface for i in REPORT.interfaces]
        first = interfaces.iloc[0]
        assert (first["source events"], first["source amount"]) == (3, "EUR 3,000.00")
        assert (first["target events"], first["target amount"]) == (2, "EUR 1,900.00")
        assert (first["missing"], first["amount_mismatch"], first["late"]) == ("1", "1", "0")
        assert interfaces.iloc[1]["late"] == "—", "not checked: a dash, not a grey None"
        assert metrics(app) == {
            "Interfaces": "2",
            "Differences": "2",
            "Close deadline": "2026-11-06",
        }

    def test_a_selected_difference_links_to_its_lineage_in_both_directions(
        self, open_page: OpenPage
    ) -> None:
        """The drill-down opens the lineage explorer on the item of the chosen row."""
        app = open_page("audit")
        assert list(app.dataframe[1].value["object"]) == [
            "billing_event BE-DE01-7",
            "billing_event BE-DE01-8",
        ]
        assert not app.get("page_link")
        app.session_state["audit_differences"] = {"selection": {"rows": [1], "columns": []}}
        app.run()
        [link] = app.get("page_link")
        assert link.proto.page == "lineage_explorer"
        assert link.proto.query_string == "type=billing_event&id=BE-DE01-8&direction=both"

    def test_the_kind_filter_narrows_the_differences(self, open_page: OpenPage) -> None:
        """Choosing amount_mismatch keeps only that difference."""
        app = open_page("audit")
        app.multiselect(key="audit_kinds").select("amount_mismatch").run()
        assert list(app.dataframe[1].value["kind"]) == ["amount_mismatch"]

    def test_an_auditor_gets_three_downloads_the_heads_and_no_access_trail(
        self, open_page: OpenPage
    ) -> None:
        """JSON, CSV and PDF; the knowledge days' heads, one not sealed yet; instead of the
        trail, a sentence saying admins list it, naming whom the session acts as."""
        app = open_page("audit")
        assert [b.proto.label for b in app.get("download_button")] == [
            "Report (JSON)",
            "Report (CSV)",
            "Report (PDF)",
        ]
        heads = app.dataframe[2].value
        assert list(heads["root hash"]) == [
            tree_head("2026-10-29", 120).root_hash,
            "not sealed yet",
        ]
        assert any(
            "listed for admins only; this session acts as **ada.auditor** (auditor)" in c.value
            for c in app.caption
        )
        assert not any(d.proto.id and "audit_trail" in d.proto.id for d in app.dataframe)

    def test_an_admin_sees_who_downloaded_what(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The access trail is listed with each download's token, role and parameters."""
        trail = downloads(
            ("2026-10-30T17:01:00.000Z", "ada.auditor", "auditor", {"format": "pdf"}),
            ("2026-10-30T16:00:00.000Z", "sha256:0a1b2c3d4e5f", "admin", {"format": "json"}),
        )
        shapes = {
            **SHAPES,
            "/api/v1/me": (200, wire(ADMIN)),
            "/api/v1/ledger/downloads": (200, wire(trail)),
        }
        with stub_api(shapes) as api:
            app = opener(api.url, monkeypatch)("audit")
        shown = app.dataframe[-1].value
        assert list(shown["token"]) == ["ada.auditor", "sha256:0a1b2c3d4e5f"]
        assert list(shown["parameters"]) == ['{"format": "pdf"}', '{"format": "json"}']
        assert not any("admins only" in c.value for c in app.caption)

    def test_a_viewer_is_told_the_page_needs_the_auditor_role(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """/api/v1/me says viewer: a notice naming the roles and the caller; the report is not
        even asked for, so there is no table, no download and no error."""
        viewer = (200, wire(caller("sha256:0a1b2c3d4e5f", "viewer")))
        app, asked = audit_page(monkeypatch, {"/api/v1/me": viewer})
        assert "this session acts as **sha256:0a1b2c3d4e5f** (viewer)" in role_notice(app)
        assert not app.dataframe
        assert not app.get("download_button")
        assert asked == {"/api/v1/close-risk"}

    @pytest.mark.parametrize(
        "me",
        [(200, wire(AUDITOR)), (404, {"detail": "Not Found"})],
        ids=["me says auditor", "no /api/v1/me"],
    )
    def test_the_apis_403_still_decides(self, monkeypatch: pytest.MonkeyPatch, me: Reply) -> None:
        """A role that changed since /api/v1/me answered, or a syncsight without it: the
        report's 403 becomes the same notice with the API's reason, not an error."""
        refused = (
            403,
            {"detail": "GET /api/v1/audit/report needs role auditor; this token is viewer"},
        )
        app, asked = audit_page(monkeypatch, {"/api/v1/me": me, "/api/v1/audit/report": refused})
        assert "this token is viewer" in role_notice(app)
        assert not app.dataframe
        assert "/api/v1/ledger/downloads" not in asked

    def test_an_admin_refused_the_trail_anyway_is_told_so(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """/api/v1/me said admin but the trail answers 403: a sentence with the API's reason."""
        app, _ = audit_page(monkeypatch, {"/api/v1/me": (200, wire(ADMIN))})
        assert any(
            "listed for admins only: your token may not read /api/v1/ledger/downloads" in c.value
            for c in app.caption
        )

    def test_a_period_without_entities_asks_for_one(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """No close-risk row for the period: nothing is reported until an entity is named (here
        through the URL's legal entity, as typing one does; AppTest cannot type a new option)."""
        with stub_api({**SHAPES, "/api/v1/close-risk": (200, [], STAMP)}) as api:
            app = opener(api.url, monkeypatch)("audit")
            assert "/api/v1/audit/report" not in {path for path, _ in requests(api)}
            assert any("type the legal entity to report" in str(i.value) for i in app.info)
            named = opener(api.url, monkeypatch)("audit", legal_entity="LE-FR01")
            [report_read] = [q for p, q in requests(api) if p == "/api/v1/audit/report"]
        assert report_read["legal_entity"] == ["LE-FR01"]
        assert named.selectbox(key="audit_legal_entity").options == ["LE-FR01"]
        assert named.dataframe

    def test_a_truncated_report_says_some_differences_are_not_listed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The cap per kind and interface is named."""
        cut = wire(REPORT.model_copy(update={"truncated": True}))
        with stub_api({**SHAPES, "/api/v1/audit/report": (200, cut)}) as api:
            app = opener(api.url, monkeypatch)("audit")
        assert any("at most 10,000 per kind" in str(w.value) for w in app.warning)


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
    shapes: dict[str, Reply] = {
        **SHAPES,
        "/api/v1/lineage/invoice/INV-UK01-1": (
            200,
            wire(LINEAGE.model_copy(update={"truncated": True})),
        ),
    }
    with stub_api(shapes) as api:
        app = opener(api.url, monkeypatch)("lineage_explorer", type="invoice", id="INV-UK01-1")
    notices = [str(w.value) for w in app.warning]
    assert any("Truncated: only the first 1 events are shown" in notice for notice in notices)


def test_an_empty_service_explains_how_to_send_it_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    """No blocked items and no SLAs yet: the overview says how to point middleware at syncsight."""
    empty: dict[str, Reply] = {
        "/api/v1/impact/blocked-invoices": (200, wire(blocked(AS_OF))),
        "/api/v1/slas": (200, []),
        "/api/v1/close-risk": (200, []),
    }
    with stub_api(empty) as api:
        app = opener(api.url, monkeypatch)()
    advice = " ".join(str(i.value) for i in app.info)
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in advice
    assert "No invoice is blocked" in advice


class TestSidebarSaysWhoIsReading:
    def test_a_person_who_signed_in_is_named_with_the_role_and_may_sign_out(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The name and role /api/v1/me gives for the session's own token, and Sign out."""
        with stub_api(SHAPES) as api:
            monkeypatch.setenv("SYNCSIGHT_API_URL", api.url)
            app = AppTest.from_file(APP, default_timeout=60)
            app.session_state[SESSION_TOKEN] = "session-token-0123456789"
            app.run()
        assert not app.exception, [e.value for e in app.exception]
        assert "Signed in as **ada.auditor** (auditor)" in [c.value for c in app.sidebar.caption]
        assert "Sign out" in [b.label for b in app.sidebar.button]
        assert ("/api/v1/me", "Bearer session-token-0123456789") in api.seen

    def test_the_dashboards_own_token_is_named_without_a_sign_out(
        self, open_page: OpenPage
    ) -> None:
        """No session token: the sidebar says whose token the dashboard reads with."""
        app = open_page()
        captions = [c.value for c in app.sidebar.caption]
        assert any(c.startswith("Reading as **ada.auditor** (auditor)") for c in captions)
        assert "Sign out" not in [b.label for b in app.sidebar.button]

    def test_a_local_only_service_names_nobody(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """/api/v1/me says local-only: no name, no role, no sign-out."""
        local = CallerOut(local_only=True, token_name=None, role=None, acts_as=[])
        with stub_api({**SHAPES, "/api/v1/me": (200, wire(local))}) as api:
            app = opener(api.url, monkeypatch)()
        captions = [c.value for c in app.sidebar.caption]
        assert "Local-only service: no API tokens, nobody signs in." in captions
        assert not [c for c in captions if "Signed in" in c or "Reading as" in c]
        assert not app.sidebar.button
