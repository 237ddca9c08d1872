"""The dashboard's API client against a small real HTTP server: each kind of failure becomes the
error type its page explains, and requests carry the token and parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard.api_client import (
    AccessDenied,
    ApiClient,
    ApiFailure,
    ApiUnreachable,
    EndpointMissing,
    NotFound,
    fetch_json,
)
from tests.dashboard.stub_api import StubApi, stub_api
from tests.service import free_port

ANSWERS: dict[str, tuple[int, Any]] = {
    "/api/v1/impact/blocked-invoices": (200, {"total": {"EUR": 1.5}, "items": []}),
    "/api/v1/slas": (404, {"detail": "Not Found"}),
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
def receiver_url(stub: StubApi) -> str:
    stub.seen.clear()
    return stub.url


def uncached(url: str, token: str = "") -> ApiClient:
    return ApiClient(base_url=url, token=token, fetch=fetch_json)


def test_a_successful_read_returns_the_json_and_sends_token_and_parameters(
    receiver_url: str, stub: StubApi
) -> None:
    """The bearer token and the set query parameters reach the server; unset ones do not."""
    answer = uncached(receiver_url, "t" * 20).blocked_invoices(legal_entity="LE-UK01")
    assert answer == {"total": {"EUR": 1.5}, "items": []}
    assert stub.seen == [
        ("/api/v1/impact/blocked-invoices?legal_entity=LE-UK01", "Bearer " + "t" * 20)
    ]


def test_no_token_means_no_authorization_header(receiver_url: str, stub: StubApi) -> None:
    """Local-only mode sends no Authorization header at all."""
    uncached(receiver_url).blocked_invoices()
    assert stub.seen[0][1] is None


def test_as_of_is_sent_as_rfc3339_utc(receiver_url: str, stub: StubApi) -> None:
    """Datetimes become ...Z instants, whatever their time zone object."""
    with pytest.raises(ApiFailure):
        uncached(receiver_url).close_risk(
            as_of=datetime(2026, 10, 30, 17, 0, tzinfo=UTC), period="2026-10"
        )
    assert stub.seen[0][0] == "/api/v1/close-risk?as_of=2026-10-30T17%3A00%3A00Z&period=2026-10"


@pytest.mark.parametrize(
    ("read", "error", "words"),
    [
        (lambda c: c.slas(as_of=datetime(2026, 10, 30, tzinfo=UTC)), EndpointMissing, "has no /api/v1/slas"),
        (lambda c: c.lineage("invoice", "INV-NOPE", "upstream"), NotFound, "no business event references"),
        (lambda c: c.alerts(), AccessDenied, "SYNCSIGHT_API_TOKEN"),
        (lambda c: c.evidence("invoice", "INV-1", "upstream"), AccessDenied, "needs role auditor"),
        (lambda c: c.close_risk(as_of=datetime(2026, 10, 30, tzinfo=UTC)), ApiFailure, "HTTP 500: boom"),
        (lambda c: c.get("/api/v1/lineage/completeness", period="x"), ApiFailure, "query.period: bad period"),
    ],
)  # fmt: skip
def test_each_failure_becomes_the_error_its_page_explains(
    receiver_url: str, read: Any, error: type[Exception], words: str
) -> None:
    """Missing routes, unknown objects, refused tokens and server errors are told apart."""
    with pytest.raises(error, match=words):
        read(uncached(receiver_url))


def test_an_unreachable_api_names_the_url_and_the_setting() -> None:
    """Nothing listening: the message says where the dashboard looked and how to change it."""
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ApiUnreachable, match="SYNCSIGHT_API_URL") as caught:
        uncached(url).blocked_invoices()
    assert url in str(caught.value)


def test_object_ids_are_escaped_into_one_path_segment(receiver_url: str, stub: StubApi) -> None:
    """An id with a slash cannot reach another route."""
    with pytest.raises(EndpointMissing):
        uncached(receiver_url).lineage("invoice", "INV/1", "both")
    assert stub.seen[0][0] == "/api/v1/lineage/invoice/INV%2F1?direction=both"


def test_settings_come_from_the_dashboard_process_environment() -> None:
    """SYNCSIGHT_API_URL and SYNCSIGHT_API_TOKEN, with the local default URL; the token never
    shows in the client's repr."""
    secret = "viewer-token-0123456789"
    client = ApiClient.from_environment(
        {"SYNCSIGHT_API_URL": "http://api:8080", "SYNCSIGHT_API_TOKEN": secret}
    )
    assert (client.base_url, client.token) == ("http://api:8080", secret)
    assert ApiClient.from_environment({}).base_url == "http://127.0.0.1:4318"
    assert secret not in repr(client)
