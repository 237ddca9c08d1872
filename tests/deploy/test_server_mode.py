"""The whole service against a ClickHouse server (SYNCSIGHT_TEST_CLICKHOUSE_URL): ingest, API access
by role and an admin rebuild, in a database of its own that is dropped afterwards."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from domain import semconv as sc
from tests.service import Service, running_service
from warehouse.client import connect

SERVER_URL = os.environ.get("SYNCSIGHT_TEST_CLICKHOUSE_URL", "")
pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not SERVER_URL, reason="set SYNCSIGHT_TEST_CLICKHOUSE_URL to a server"),
]

VIEWER = "server-viewer-0123456789abcdef"
ADMIN = "server-admin-0123456789abcdef"
INGEST = "server-ingest-0123456789abcdef"


@pytest.fixture(scope="module")
def server_database_url() -> Iterator[str]:
    """SYNCSIGHT_TEST_CLICKHOUSE_URL with a fresh database as its path."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = connect(SERVER_URL)
    admin.command(f"CREATE DATABASE {name}")
    try:
        yield urlsplit(SERVER_URL)._replace(path=f"/{name}").geturl()
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, server_database_url: str
) -> Iterator[Service]:
    env = {
        "SYNCSIGHT_CLICKHOUSE_URL": server_database_url,
        "SYNCSIGHT_API_TOKENS": f"{VIEWER}:viewer,{ADMIN}:admin",
        "SYNCSIGHT_INGEST_TOKENS": INGEST,
        "SYNCSIGHT_BATCH_MAX_WAIT_MS": "20",
    }
    with running_service(tmp_path_factory.mktemp("server"), env=env) as running:
        yield running


def invoice_span(invoice_id: str) -> bytes:
    span = {
        "traceId": uuid.uuid4().hex,
        "spanId": uuid.uuid4().hex[:16],
        "name": "erp.invoice.post",
        "kind": 3,
        "startTimeUnixNano": "1767225600000000000",
        "endTimeUnixNano": "1767225601000000000",
        "attributes": [
            {"key": sc.EVENT_TYPE, "value": {"stringValue": sc.INVOICE_POSTED}},
            {"key": sc.EVENT_ID, "value": {"stringValue": f"{invoice_id}-post"}},
            {"key": sc.object_id_key(sc.INVOICE), "value": {"stringValue": invoice_id}},
        ],
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


class TestServerMode:
    def test_ingest_query_and_rebuild_on_a_server(self, service: Service) -> None:
        """A span sent with the ingest token is readable by a viewer and survives a rebuild."""
        sent = httpx.post(
            f"{service.base_url}/v1/traces",
            content=invoice_span("INV-S1"),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {INGEST}"},
        )
        assert sent.status_code == 200, sent.text
        events_url = f"{service.base_url}/api/v1/objects/invoice/INV-S1/events"
        viewer = {"Authorization": f"Bearer {VIEWER}"}
        assert [e["event_id"] for e in httpx.get(events_url, headers=viewer).json()] == [
            "INV-S1-post"
        ]
        assert httpx.get(events_url).status_code == 401
        rebuild_url = f"{service.base_url}/api/v1/admin/rebuild"
        assert httpx.post(rebuild_url, headers=viewer).status_code == 403
        rebuilt = httpx.post(rebuild_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
        assert rebuilt.status_code == 200
        assert rebuilt.json()["events"] == 1
        assert httpx.get(events_url, headers=viewer).json()[0]["event_id"] == "INV-S1-post"
