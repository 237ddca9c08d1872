"""Every dashboard page run by Streamlit's AppTest against a real service holding the small quarter:
no exception, the key widgets present, and the values the API gives."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.figures.blocked import filter_items, top_failures
from dashboard.figures.money import format_money
from lineage.audit_models import AuditReportOut
from lineage.models import BlockedInvoicesOut
from tests.quarter import LoadedQuarter
from tests.service import free_port

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
AS_OF = "2026-10-30T17:00:00Z"
OpenPage = Callable[..., AppTest]


@pytest.fixture
def api(quarter: LoadedQuarter) -> Callable[..., Any]:
    """GET a path of the service under test, as JSON (the reference the pages must show)."""

    def get(path: str, **params: str) -> Any:
        response = httpx.get(f"{quarter.service.base_url}{path}", params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    return get


@pytest.fixture
def open_page(quarter: LoadedQuarter, monkeypatch: pytest.MonkeyPatch) -> OpenPage:
    """Run the router as of the quarter's end, then the given page; fail on any exception."""
    monkeypatch.setenv("SYNCSIGHT_API_URL", quarter.service.base_url)

    def run(page: str | None = None, **query: str) -> AppTest:
        app = AppTest.from_file(APP, default_timeout=120)
        app.query_params.update({"as_of": AS_OF, **query})
        app.run()
        if page:
            app.switch_page(f"views/{page}.py").run()
        assert not app.exception, [e.value for e in app.exception]
        return app

    return run


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def warnings(app: AppTest) -> str:
    return " ".join(str(w.value) for w in app.warning)


class TestOverview:
    def test_blocked_value_per_currency_equals_the_api_total(
        self, open_page: OpenPage, api: Callable[..., Any]
    ) -> None:
        """Each currency's headline is the API's blocked total (a string in JSON), every digit."""
        total = api("/api/v1/impact/blocked-invoices", as_of=AS_OF)["total"]
        shown = metrics(open_page())
        assert total
        for currency, amount in total.items():
            assert isinstance(amount, str)
            assert shown[f"Blocked · {currency}"] == format_money(Decimal(amount), currency)

    def test_top_failures_link_to_their_lineage(
        self, open_page: OpenPage, api: Callable[..., Any]
    ) -> None:
        """The ten failures holding the most money are listed, each a link to the explorer."""
        answer = BlockedInvoicesOut.model_validate(
            api("/api/v1/impact/blocked-invoices", as_of=AS_OF)
        )
        links = open_page().get("page_link")
        expected = top_failures(answer.items, limit=10)
        assert [link.proto.label for link in links] == [
            f"{rank}. {f.event_id}" for rank, f in enumerate(expected, start=1)
        ]
        assert all(link.proto.page == "lineage_explorer" for link in links)
        assert "type=event" in links[0].proto.query_string

    def test_the_page_names_the_instant_every_widget_shows(
        self, open_page: OpenPage, quarter: LoadedQuarter
    ) -> None:
        """As of the sidebar's moment, known at the service's watermark, said once."""
        response = httpx.get(
            f"{quarter.service.base_url}/api/v1/slas", params={"as_of": AS_OF}, timeout=60
        )
        known_at = response.headers["X-Syncsight-Known-At"]
        caption = open_page().caption[0].value
        assert caption.startswith("As of **2026-10-30 17:00 UTC** (fixed) · known at **")
        assert known_at[:10] in caption

    def test_sla_and_close_risk_sections_show_data_or_say_what_is_missing(
        self, open_page: OpenPage, api: Callable[..., Any], served_paths: set[str]
    ) -> None:
        """SLA attainment per SLA when the API serves it; otherwise a plain message, no error."""
        app = open_page()
        if "/api/v1/slas" in served_paths:
            names = [sla["name"] for sla in api("/api/v1/slas", as_of=AS_OF)]
            assert set(names) <= set(metrics(app))
        else:
            assert "has no /api/v1/slas" in warnings(app)
        if "/api/v1/close-risk" not in served_paths:
            assert "has no /api/v1/close-risk" in warnings(app)
        assert not app.error

    def test_in_the_first_days_of_a_month_the_closing_period_is_shown(
        self, open_page: OpenPage, api: Callable[..., Any]
    ) -> None:
        """Found reading the overview as an executive (session 28): on Monday 2 November,
        October closes within days, yet the section showed only 2026-11 ("No legal entity has
        items that must post in 2026-11"). The period whose close is still ahead is shown with
        its days left, beside the current one."""
        monday = "2026-11-02T12:00:00Z"
        closing = api("/api/v1/close-risk", period="2026-10", as_of=monday)
        assert closing, "the small quarter has items due in 2026-10"
        assert all(entity["business_days_left"] > 0 for entity in closing)
        app = open_page(as_of=monday)
        subheaders = [s.value for s in app.subheader]
        assert "Close risk · 2026-10 closing, 2026-11" in subheaders
        levels = [m.value for m in app.markdown if m.value.startswith("**LE-")]
        assert len(levels) == len(closing)
        assert all(" 2026-10**" in level for level in levels)
        captions = " ".join(c.value for c in app.caption)
        for entity in closing:
            assert (
                f"closes {entity['close_date']} · {entity['business_days_left']:g} business days left"
                in captions
            )

    def test_an_unreachable_api_is_a_message_not_a_traceback(
        self, open_page: OpenPage, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Nothing listening at SYNCSIGHT_API_URL: the page says so and where it looked."""
        monkeypatch.setenv("SYNCSIGHT_API_URL", f"http://127.0.0.1:{free_port()}")
        app = open_page()
        assert any("cannot reach the syncsight API" in str(e.value) for e in app.error)


class TestFiltersCarryAcrossPages:
    def test_legal_entity_chosen_on_the_overview_filters_blocked_invoices(
        self, open_page: OpenPage, api: Callable[..., Any]
    ) -> None:
        """Choosing LE-UK01 once narrows the next page to its blocked value and says so."""
        app = open_page()
        app.selectbox(key="filter_legal_entity").select("LE-UK01").run()
        app.switch_page("views/blocked_invoices.py").run()
        total = api("/api/v1/impact/blocked-invoices", legal_entity="LE-UK01", as_of=AS_OF)["total"]
        assert metrics(app) == {
            f"Blocked · {c}": format_money(Decimal(v), c) for c, v in total.items()
        }
        assert "LE-UK01" in app.caption[0].value
        assert app.query_params["legal_entity"] == "LE-UK01"

    def test_period_from_the_url_reaches_the_api(
        self, open_page: OpenPage, api: Callable[..., Any]
    ) -> None:
        """?period=2026-09 shows the blocked value of that period only."""
        app = open_page("blocked_invoices", period="2026-09")
        total = api("/api/v1/impact/blocked-invoices", period="2026-09", as_of=AS_OF)["total"]
        assert metrics(app) == {
            f"Blocked · {c}": format_money(Decimal(v), c) for c, v in total.items()
        }
        assert app.selectbox(key="filter_period").value == "2026-09"


class TestBlockedInvoices:
    def test_table_lists_every_item_and_owner_filter_narrows_it(
        self, open_page: OpenPage, api: Callable[..., Any]
    ) -> None:
        """One row per blocked item; choosing an owner keeps the items one of whose failures it owns."""
        items = BlockedInvoicesOut.model_validate(
            api("/api/v1/impact/blocked-invoices", as_of=AS_OF)
        ).items
        app = open_page("blocked_invoices")
        assert len(app.dataframe[0].value) == len(items)
        owners = app.multiselect(key="blocked_owners")
        assert set(owners.options) == {b.owner for i in items for b in i.blocked_by}
        owners.select("master data team").run()
        assert len(app.dataframe[0].value) == len(filter_items(items, owners=["master data team"]))
        assert len(app.get("plotly_chart")) >= 1

    def test_rows_show_the_age_of_each_blocking_failure(self, open_page: OpenPage) -> None:
        """Every row with a failure time has its age in days as of the quarter's end."""
        table = open_page("blocked_invoices").dataframe[0].value
        aged = table.dropna(subset=["failing since"])
        assert len(aged) > 0
        assert (aged["age (days)"] >= 0).all()


class TestCloseRiskAndSlas:
    @pytest.mark.parametrize(
        ("page", "path"), [("close_risk", "/api/v1/close-risk"), ("slas", "/api/v1/slas")]
    )
    def test_page_shows_its_figures_or_says_the_api_lacks_them(
        self, open_page: OpenPage, served_paths: set[str], page: str, path: str
    ) -> None:
        """Heatmap / distributions when the API serves them; a clear message when it does not."""
        app = open_page(page)
        if path in served_paths:
            assert app.get("plotly_chart") or app.info, "neither figures nor an empty state"
            assert app.dataframe
        else:
            assert f"has no {path}" in warnings(app)
        assert not app.error

    def test_slas_page_lists_each_sla_with_its_attainment(
        self, open_page: OpenPage, api: Callable[..., Any], served_paths: set[str]
    ) -> None:
        """Each SLA the API reports has a metric on the page."""
        if "/api/v1/slas" not in served_paths:
            pytest.skip("this build of the service does not serve /api/v1/slas yet")
        names = {sla["name"] for sla in api("/api/v1/slas", as_of=AS_OF)}
        assert names <= set(metrics(open_page("slas")))


class TestLineageExplorer:
    def test_an_invoice_opens_with_graph_events_and_both_downloads(
        self, open_page: OpenPage, api: Callable[..., Any], quarter: LoadedQuarter
    ) -> None:
        """From an invoice id: counts as the API gives them, the graph, the table, two downloads."""
        invoice = quarter.truth["invoices"][0]["invoice"]
        lineage = api(f"/api/v1/lineage/invoice/{invoice}", direction="upstream")
        app = open_page("lineage_explorer", type="invoice", id=invoice, direction="upstream")
        shown = metrics(app)
        assert shown["Events"] == str(len(lineage["nodes"]))
        assert shown["Source events"] == str(len(lineage["source_events"]))
        assert len(app.dataframe[0].value) == len(lineage["nodes"])
        assert {b.proto.label for b in app.get("download_button")} == {
            "Download evidence pack (JSON)",
            "Download OCEL 2.0 export (JSON)",
        }

    def test_typing_an_unknown_id_says_nothing_references_it(self, open_page: OpenPage) -> None:
        """An id nobody knows is a message naming it, not an error box."""
        app = open_page("lineage_explorer")
        assert app.info, "the empty search explains what to enter"
        app.text_input(key="lineage_id").input("INV-DOES-NOT-EXIST").run()
        assert "INV-DOES-NOT-EXIST" in warnings(app)
        assert not app.error
        assert app.query_params["id"] == "INV-DOES-NOT-EXIST"

    def test_a_blocked_item_opens_in_both_directions(
        self, open_page: OpenPage, api: Callable[..., Any]
    ) -> None:
        """The drill-down target of a blocked item shows its failed event."""
        item = api("/api/v1/impact/blocked-invoices", as_of=AS_OF)["items"][0]
        app = open_page(
            "lineage_explorer",
            type=item["object"]["type"],
            id=item["object"]["id"],
            direction="both",
        )
        assert int(metrics(app)["Failed events"]) >= 1


class TestAlerts:
    def test_alerts_show_firing_and_resolved_or_say_the_api_lacks_them(
        self, open_page: OpenPage, served_paths: set[str]
    ) -> None:
        """Two counts and two lists when served; a clear message otherwise."""
        app = open_page("alerts")
        if "/api/v1/alerts" in served_paths:
            assert {"Firing", "Recently resolved"} <= set(metrics(app))
        else:
            assert "has no /api/v1/alerts" in warnings(app)
        assert not app.error


class TestWorkQueue:
    def test_the_quarters_failures_and_breaches_are_grouped_by_owner(
        self, open_page: OpenPage, api: Callable[..., Any]
    ) -> None:
        """One heading per owner the API's queue names, each with its item count; the count
        metric is the API's total; a token-less (local-only) session may not act."""
        queue = api("/api/v1/work-items", limit="1000")
        app = open_page("work_queue")
        assert metrics(app)["Items"] == str(queue["total"])
        assert queue["total"] > 0
        owners = {item["owner"] for item in queue["items"]}
        headings = [h.value for h in app.subheader if h.value.endswith(" business h")]
        assert sorted(h.split(" · ")[0] for h in headings) == sorted(owners)
        assert not queue["may_act"]
        assert not app.get("form")


class TestAudit:
    def test_the_report_of_the_first_entity_is_the_apis_for_the_same_known_at(
        self, open_page: OpenPage, api: Callable[..., Any]
    ) -> None:
        """The period of the as-of time, the first entity with items due in it; every interface's
        counts and every listed difference equal the API's report as known at the instant the
        page read it (the access trail records it: local-only mode lets anyone list it)."""
        entities = sorted(
            {r["legal_entity"] for r in api("/api/v1/close-risk", period="2026-10", as_of=AS_OF)}
        )
        app = open_page("audit")
        [read] = [
            d for d in api("/api/v1/ledger/downloads", limit="20")["downloads"]
            if d["kind"] == "report" and d["parameters"]["format"] == "json"
        ][:1]  # fmt: skip
        assert (read["parameters"]["period"], read["parameters"]["legal_entity"]) == (
            "2026-10",
            entities[0],
        )
        report = AuditReportOut.model_validate(
            api(
                "/api/v1/audit/report",
                period="2026-10",
                legal_entity=entities[0],
                known_at=read["parameters"]["known_at"],
            )
        )
        assert read["root_hash"] == report.root_hash
        assert sum(i.items for i in report.interfaces) > 0
        interfaces = app.dataframe[0].value
        assert list(interfaces["interface"]) == [i.interface for i in report.interfaces]
        assert list(interfaces["source events"]) == [i.source.count for i in report.interfaces]
        assert list(interfaces["target events"]) == [i.target.count for i in report.interfaces]
        differences = app.dataframe[1].value if report.differences else None
        if differences is not None:
            assert list(differences["object"]) == [
                f"{d.object_type} {d.object_id}" for d in report.differences
            ]
        assert metrics(app)["Differences"] == str(
            sum(sum(i.differences.values()) for i in report.interfaces)
        )
