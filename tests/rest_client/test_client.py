"""The REST client against a small real HTTP server: answers come back as the API's response
models with the instants of their headers, requests carry the token and parameters, and every
failure is one ``ApiError`` with the server's status and message."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from rest_client.client import ApiClient, ApiError
from tests.api_answers import (
    at,
    audit_report,
    blocked,
    blocked_item,
    blocker,
    caller,
    downloads,
    objective,
    sla,
    tree_head,
    tree_heads,
    wire,
    work_item,
    work_item_detail,
    work_item_page,
)
from tests.service import free_port
from tests.stub_api import Reply, StubApi, stub_api

STAMPED = {"X-Syncsight-As-Of": "2026-10-30T17:00:00Z", "X-Syncsight-Known-At": "2026-10-30T16:59:58.250Z"}  # fmt: skip
BLOCKED = blocked(
    "2026-10-30T17:00:00Z",
    blocked_item(
        "BE-1", Decimal("1.50"), "EUR", "LE-DE01", blocker("x:1", "mapping", "team", None)
    ),
)
ITEM = work_item("wi-1", "integration team", {"EUR": "1234.5600"}, 3.5)
DETAIL = work_item_detail(ITEM, ("opened", "syncsight", "2026-10-29T09:00:00Z"))
ANSWERS: dict[str, Reply] = {
    "/api/v1/work-items": (200, wire(work_item_page("2026-10-30T17:00:00Z", ITEM, may_act=True))),
    "/api/v1/work-items/wi-1/assign": (200, wire(DETAIL)),
    "/api/v1/work-items/wi-1/snooze": (400, {"detail": "snooze wi-1: until=2026-01-01T00:00:00+00:00 is not in the future"}),
    "/api/v1/impact/blocked-invoices": (200, wire(BLOCKED), STAMPED),
    "/api/v1/slas": (200, wire([sla("time-to-invoice-posting", 0.9, 1, 2)])),
    "/api/v1/slas/objectives": (200, wire([objective("time-to-invoice-posting", "LE-DE01", 19, 1, fast=3.0, slow=0.5)]), STAMPED),
    "/api/v1/slas/trend": (200, [{"as_of": "2026-10-30T17:00:00Z", "slas": [{"name": "x"}]}]),
    "/api/v1/slas/time-to-bill-readiness/timers": (404, {"detail": "Not Found"}),
    "/api/v1/lineage/invoice/INV-NOPE": (404, {"detail": "no business event references invoice 'INV-NOPE'"}),
    "/api/v1/alerts": (401, {"detail": "missing or invalid bearer token"}),
    "/api/v1/lineage/invoice/INV-1/evidence": (403, {"detail": "needs role auditor"}),
    "/api/v1/close-risk": (500, "boom"),
    "/api/v1/lineage/completeness": (422, {"detail": [{"loc": ["query", "period"], "msg": "bad period"}]}),
}  # fmt: skip


@pytest.fixture(scope="module")
def stub() -> Iterator[StubApi]:
    with stub_api(ANSWERS) as api:
        yield api


@pytest.fixture
def client(stub: StubApi) -> ApiClient:
    stub.seen.clear()
    return ApiClient(base_url=stub.url)


class TestAnswers:
    def test_an_answer_is_the_response_model_with_the_instants_it_describes(
        self, client: ApiClient
    ) -> None:
        """The body validates into BlockedInvoicesOut; as_of and known_at come from the headers."""
        answer = client.blocked_invoices()
        assert answer.body == BLOCKED
        assert answer.as_of == at("2026-10-30T17:00:00Z")
        assert answer.known_at == datetime(2026, 10, 30, 16, 59, 58, 250000, tzinfo=UTC)

    def test_objectives_come_back_as_their_model_for_the_instants_asked(
        self, client: ApiClient, stub: StubApi
    ) -> None:
        """Error budgets validate into ObjectiveOut; as_of and known_at go out and come back."""
        answer = client.sla_objectives(
            as_of=at("2026-10-30T17:00:00Z"), known_at=at("2026-10-30T16:59:58Z")
        )
        assert answer.body == [
            objective("time-to-invoice-posting", "LE-DE01", 19, 1, fast=3.0, slow=0.5)
        ]
        assert [b.firing for b in answer.body[0].burn_rates] == [True, False]
        assert answer.known_at == at("2026-10-30T16:59:58.250Z")
        assert stub.seen[0][0] == (
            "/api/v1/slas/objectives?as_of=2026-10-30T17%3A00%3A00Z"
            "&known_at=2026-10-30T16%3A59%3A58Z"
        )

    def test_an_answer_without_the_headers_describes_no_instant(self, client: ApiClient) -> None:
        """No X-Syncsight-* headers: the instants are None, the body still typed."""
        answer = client.slas()
        assert (answer.as_of, answer.known_at) == (None, None)
        assert answer.body[0].name == "time-to-invoice-posting"

    def test_a_body_that_does_not_match_the_model_names_the_field(self, client: ApiClient) -> None:
        """A trend point whose SLA lacks its counts is refused, naming the field that is wrong."""
        with pytest.raises(
            ApiError, match=r"/api/v1/slas/trend .* 0\.slas\.0\.counts: Field required"
        ):
            client.sla_trend()


class TestWorkItems:
    def test_a_page_of_the_queue_keeps_money_exact(self, client: ApiClient, stub: StubApi) -> None:
        """Money blocked arrives as Decimal, never through a float; filters reach the server."""
        page = client.work_items(owner="integration team", limit=10)
        assert page.items[0].money_blocked == {"EUR": Decimal("1234.56")}
        assert page.may_act
        assert "owner=integration+team" in stub.seen[-1][0]

    def test_an_action_posts_its_body_and_answers_the_item(
        self, client: ApiClient, stub: StubApi
    ) -> None:
        """assign posts the assignee with the token; the answer is the item with its history."""
        stub.posted.clear()
        item = replace(client, token="t" * 20).act_on_work_item(
            "wi-1", "assign", {"assignee": "erp team"}
        )
        assert stub.posted == [("/api/v1/work-items/wi-1/assign", {"assignee": "erp team"})]
        assert stub.seen[-1][1] == "Bearer " + "t" * 20
        assert [h.action for h in item.history] == ["opened"]

    def test_a_refused_action_is_an_api_error_with_the_servers_reason(
        self, client: ApiClient
    ) -> None:
        """A 400 names the method, the path and the server's message."""
        expected = r"POST /api/v1/work-items/wi-1/snooze answered HTTP 400: snooze wi-1: until="
        with pytest.raises(ApiError, match=expected) as caught:
            client.act_on_work_item("wi-1", "snooze", {"until": "2026-01-01T00:00:00Z"})
        assert caught.value.status == 400

    def test_an_unknown_verb_is_refused_before_any_request(self, client: ApiClient) -> None:
        """Only the API's six verbs are sent."""
        with pytest.raises(ValueError, match="verb='close': expected one of acknowledge"):
            client.act_on_work_item("wi-1", "close")


class TestMoney:
    def test_money_travels_as_a_string_and_arrives_as_the_exact_decimal(
        self, client: ApiClient
    ) -> None:
        """The wire carries "1.50"; the client hands over Decimal("1.50"), never a float."""
        assert wire(BLOCKED)["items"][0]["amount"] == "1.50"
        assert wire(BLOCKED)["total"] == {"EUR": "1.50"}
        body = client.blocked_invoices().body
        assert body.items[0].amount == Decimal("1.50")
        assert isinstance(body.total["EUR"], Decimal)

    def test_a_float_amount_is_refused_naming_the_field(self) -> None:
        """A server that sends money as a JSON number is told apart from a valid answer."""
        payload = wire(BLOCKED)
        payload["total"] = {"EUR": 1.5}
        with stub_api({"/api/v1/impact/blocked-invoices": (200, payload)}) as api:
            client = ApiClient(base_url=api.url)
            with pytest.raises(ApiError, match=r"total\.EUR: .*not the float 1\.5"):
                client.blocked_invoices()


REPORT = audit_report(
    "2026-10", "LE-DE01", "2026-10-30T16:59:58.250Z", [], [],
    knowledge_days=["2026-10-29"], heads=[tree_head("2026-10-29", 7)],
)  # fmt: skip
REPORT_CSV = "# period,2026-10\nkind,object_type\n"


class TestAuditAndLedger:
    def test_the_report_comes_back_with_the_known_at_it_is_for(self) -> None:
        """The route sends no instant headers: the report's own known_at is the answer's."""
        with stub_api({"/api/v1/audit/report": (200, wire(REPORT))}) as api:
            answer = ApiClient(base_url=api.url).audit_report(
                period="2026-10", legal_entity="LE-DE01"
            )
        assert answer.body == REPORT
        assert answer.known_at == datetime(2026, 10, 30, 16, 59, 58, 250000, tzinfo=UTC)
        assert answer.body.ledger_heads[0].tree_size == 7

    def test_a_rendered_report_is_fetched_as_bytes_with_its_format_and_known_at(self) -> None:
        """CSV and PDF are the service's rendering, fetched with the token, never cached."""
        with stub_api({"/api/v1/audit/report": (200, REPORT_CSV)}) as api:
            client = ApiClient(base_url=api.url, token="a" * 20)
            content = client.audit_report_file(
                period="2026-10",
                legal_entity="LE-DE01",
                known_at="2026-10-30T16:59:58.250Z",
                file_format="csv",
            )
            client.audit_report_file(
                period="2026-10",
                legal_entity="LE-DE01",
                known_at=REPORT.known_at,
                file_format="csv",
            )
        assert content == REPORT_CSV.encode()
        assert api.seen[0] == (
            "/api/v1/audit/report?format=csv&known_at=2026-10-30T16%3A59%3A58.250Z"
            "&legal_entity=LE-DE01&period=2026-10",
            "Bearer " + "a" * 20,
        )
        assert len(api.seen) == 2

    def test_an_unknown_format_is_refused_before_any_request(self) -> None:
        """Only json, csv and pdf are rendered."""
        with pytest.raises(ValueError, match="file_format='xml': expected one of json, csv, pdf"):
            ApiClient(base_url="http://127.0.0.1:9").audit_report_file(
                period="2026-10", legal_entity="LE-DE01", known_at="x", file_format="xml"
            )

    def test_a_refused_download_is_an_api_error_with_the_servers_reason(self) -> None:
        """A viewer's 403 reaches the caller with its status and message."""
        refused = (403, {"detail": "needs role auditor; this token is viewer"})
        with (
            stub_api({"/api/v1/audit/report": refused}) as api,
            pytest.raises(ApiError, match="HTTP 403: needs role auditor") as caught,
        ):
            ApiClient(base_url=api.url).audit_report_file(
                period="2026-10", legal_entity="LE-DE01", known_at="x", file_format="pdf"
            )
        assert caught.value.status == 403

    def test_heads_and_the_access_trail_are_their_models(self) -> None:
        """Both ledger lists validate into the models the routes declare."""
        heads = tree_heads(tree_head("2026-10-29", 7))
        trail = downloads(("2026-10-30T17:01:00.000Z", "ada", "auditor", {"format": "csv"}))
        answers: dict[str, Reply] = {
            "/api/v1/ledger/heads": (200, wire(heads)),
            "/api/v1/ledger/downloads": (200, wire(trail)),
        }
        with stub_api(answers) as api:
            client = ApiClient(base_url=api.url)
            assert client.ledger_heads(limit=5) == heads
            assert client.downloads(limit=3) == trail
        assert [seen for seen, _ in api.seen] == [
            "/api/v1/ledger/heads?limit=5",
            "/api/v1/ledger/downloads?limit=3",
        ]


class TestCaller:
    def test_me_is_the_callers_model_asked_with_the_token(self) -> None:
        """/api/v1/me validates into CallerOut; the token is what names the caller."""
        auditor = caller("ada.auditor", "auditor")
        with stub_api({"/api/v1/me": (200, wire(auditor))}) as api:
            assert ApiClient(base_url=api.url, token="m" * 20).me() == auditor
        assert api.seen == [("/api/v1/me", "Bearer " + "m" * 20)]

    def test_a_refused_token_is_an_api_error_with_status_401(self) -> None:
        """What the dashboard's sign-in tells apart from every other failure."""
        refused = (401, {"detail": "missing or invalid bearer token"})
        with stub_api({"/api/v1/me": refused}) as api, pytest.raises(ApiError) as caught:
            ApiClient(base_url=api.url).me()
        assert caught.value.status == 401


class TestPages:
    def test_the_pages_of_an_answer_are_read_by_their_next_cursor(self) -> None:
        """The first page as asked, each next with the one before's cursor and the same period
        and limit (its instants ride in the cursor); none after the page without a cursor."""
        first, second = (
            blocked_item(f"BE-{n}", Decimal(n), "EUR", "LE-DE01", blocker("x:1", "m", "t", None))
            for n in (2, 1)
        )
        pages = {
            "/api/v1/impact/blocked-invoices?as_of=2026-10-30T17%3A00%3A00Z&limit=1&period=2026-10": (
                200, wire(blocked("2026-10-30T17:00:00Z", first).model_copy(update={"count": 2, "next_cursor": "c-1"})), STAMPED,
            ),
            "/api/v1/impact/blocked-invoices?cursor=c-1&limit=1&period=2026-10": (
                200, wire(blocked("2026-10-30T17:00:00Z", second).model_copy(update={"count": 2})), STAMPED,
            ),
        }  # fmt: skip
        with stub_api(pages) as api:
            read = ApiClient(base_url=api.url).blocked_invoice_pages(
                period="2026-10", as_of=at("2026-10-30T17:00:00Z"), limit=1
            )
            assert [item.object.id for page in read for item in page.body.items] == [
                "BE-2",
                "BE-1",
            ]
            assert [path for path, _ in api.seen] == list(pages)


class TestRequests:
    def test_the_token_and_the_set_parameters_reach_the_server(
        self, client: ApiClient, stub: StubApi
    ) -> None:
        """The bearer token and the set query parameters reach the server; unset ones do not."""
        replace(client, token="t" * 20).blocked_invoices(legal_entity="LE-UK01")
        assert stub.seen == [
            ("/api/v1/impact/blocked-invoices?legal_entity=LE-UK01", "Bearer " + "t" * 20)
        ]

    def test_no_token_means_no_authorization_header(self, client: ApiClient, stub: StubApi) -> None:
        """Local-only mode sends no Authorization header at all."""
        client.blocked_invoices()
        assert stub.seen[0][1] is None

    def test_as_of_and_known_at_are_sent_as_rfc3339_utc(
        self, client: ApiClient, stub: StubApi
    ) -> None:
        """Datetimes become ...Z instants, whatever their time zone object."""
        client.blocked_invoices(
            as_of=datetime(2026, 10, 30, 17, 0, tzinfo=UTC),
            known_at=at("2026-10-30T18:59:58+02:00"),
            period="2026-10",
        )
        assert stub.seen[0][0] == (
            "/api/v1/impact/blocked-invoices?as_of=2026-10-30T17%3A00%3A00Z"
            "&known_at=2026-10-30T16%3A59%3A58Z&period=2026-10"
        )

    def test_object_ids_are_escaped_into_one_path_segment(
        self, client: ApiClient, stub: StubApi
    ) -> None:
        """An id with a slash cannot reach another route."""
        with pytest.raises(ApiError):
            client.lineage("invoice", "INV/1", "both")
        assert stub.seen[0][0] == "/api/v1/lineage/invoice/INV%2F1?direction=both"

    def test_the_token_never_shows_in_the_clients_repr(self) -> None:
        """A logged client does not leak its token."""
        secret = "viewer-token-0123456789"
        assert secret not in repr(ApiClient(token=secret))


class TestFailures:
    @pytest.mark.parametrize(
        ("read", "status", "words"),
        [
            (lambda c: c.sla_timers("time-to-bill-readiness"), 404, "HTTP 404: Not Found"),
            (lambda c: c.lineage("invoice", "INV-NOPE", "upstream"), 404, "no business event references"),
            (lambda c: c.alerts(), 401, "HTTP 401: missing or invalid bearer token"),
            (lambda c: c.evidence("invoice", "INV-1", "upstream"), 403, "needs role auditor"),
            (lambda c: c.close_risk(as_of=datetime(2026, 10, 30, tzinfo=UTC)), 500, "HTTP 500: boom"),
            (lambda c: c.get("/api/v1/lineage/completeness", period="x"), 422, "query.period: bad period"),
        ],
    )  # fmt: skip
    def test_each_failure_carries_the_status_and_the_servers_message(
        self, client: ApiClient, read: Any, status: int, words: str
    ) -> None:
        """One error type; the status and the server's detail tell the cases apart."""
        with pytest.raises(ApiError, match=words) as caught:
            read(client)
        assert caught.value.status == status

    def test_a_missing_route_is_told_apart_from_an_unknown_object(self, client: ApiClient) -> None:
        """FastAPI's bare 'Not Found' is a route the server lacks; a named 404 is an object."""
        with pytest.raises(ApiError) as route:
            client.sla_timers("time-to-bill-readiness")
        with pytest.raises(ApiError) as unknown:
            client.lineage("invoice", "INV-NOPE", "upstream")
        assert (route.value.route_missing, unknown.value.route_missing) == (True, False)

    def test_an_unreachable_api_names_the_url_and_how_to_point_at_another(self) -> None:
        """Nothing listening: the message says where the client looked and how to change it."""
        url = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(ApiError, match="SYNCSIGHT_API_URL") as caught:
            ApiClient(base_url=url).blocked_invoices()
        assert f"cannot reach the syncsight API at {url}" in str(caught.value)
        assert caught.value.status is None


def test_the_client_imports_neither_the_server_nor_the_embedded_engine() -> None:
    """The CLI and the dashboard load the client without FastAPI, the app or chdb."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, rest_client.client, rest_client.sla_tables; "
            "print(' '.join(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not [m for m in loaded if m.split(".")[0] in ("fastapi", "chdb", "syncsight")]
