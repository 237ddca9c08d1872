"""The heavy-answer gate: more expensive REST answers at once than the limit get 503 with
Retry-After at once, none waits without bound, and the admitted ones answer correctly."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from syncsight.answer_gate import HeavyAnswerGate, is_heavy
from syncsight.app import create_app
from syncsight.config_file import FileConfig
from syncsight.settings import Settings
from tests.collector.test_hostile_input import invoice_request, post
from tests.service import Service, running_service, wait_until_inserted

LIMIT = 2


def gated_app(release: asyncio.Event, entered: list[str]) -> tuple[FastAPI, HeavyAnswerGate]:
    """A real app whose heavy route holds until ``release``, behind the real gate."""
    app = FastAPI()

    @app.get("/api/v1/lineage/invoice/{invoice_id}")
    async def lineage(invoice_id: str) -> dict[str, str]:
        entered.append(invoice_id)
        await release.wait()
        return {"invoice": invoice_id}

    @app.get("/api/v1/objects/invoice/{invoice_id}/events")
    async def events(invoice_id: str) -> list[str]:
        return [invoice_id]

    gate = HeavyAnswerGate(app, limit=LIMIT)
    return app, gate


class TestGate:
    def test_requests_over_the_limit_get_503_at_once_and_the_rest_complete(self) -> None:
        """Six heavy requests, limit two: four 503 with Retry-After while two are held, then the
        two complete with their own answers; a light route is never gated."""

        async def attack() -> tuple[list[httpx.Response], httpx.Response, HeavyAnswerGate]:
            release = asyncio.Event()
            entered: list[str] = []
            _, gate = gated_app(release, entered)
            transport = httpx.ASGITransport(app=gate)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                calls = [
                    asyncio.create_task(http.get(f"/api/v1/lineage/invoice/INV-{n}"))
                    for n in range(6)
                ]
                while gate.refused < 4 or len(entered) < LIMIT:
                    await asyncio.sleep(0)
                assert gate.in_flight == LIMIT
                light = await http.get("/api/v1/objects/invoice/INV-9/events")
                release.set()
                responses = await asyncio.wait_for(asyncio.gather(*calls), timeout=30)
            return responses, light, gate

        responses, light, gate = asyncio.run(attack())
        refused = [r for r in responses if r.status_code == 503]
        answered = [r for r in responses if r.status_code == 200]
        assert (len(refused), len(answered)) == (4, 2)
        for response in refused:
            assert response.headers["Retry-After"] == "1"
            assert "max_concurrent_heavy_answers" in response.json()["detail"]
        for response in answered:
            assert response.json()["invoice"] == response.request.url.path.rsplit("/", 1)[1]
        assert light.status_code == 200
        assert gate.in_flight == 0

    def test_a_slot_is_given_back_when_the_handler_fails(self) -> None:
        """An answer that raises still releases its slot: the next request is admitted."""
        app = FastAPI()

        @app.get("/api/v1/slas")
        async def failing() -> None:
            raise RuntimeError("boom")

        gate = HeavyAnswerGate(app, limit=1)

        async def twice() -> list[int]:
            transport = httpx.ASGITransport(app=gate, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                return [(await http.get("/api/v1/slas")).status_code for _ in range(2)]

        assert asyncio.run(twice()) == [500, 500]
        assert gate.in_flight == 0

    def test_a_limit_below_one_is_refused_with_the_value(self) -> None:
        with pytest.raises(ValueError, match=r"limit=0: expected at least 1"):
            HeavyAnswerGate(FastAPI(), limit=0)

    @pytest.mark.parametrize(
        ("path", "heavy"),
        [
            ("/api/v1/lineage/invoice/INV-1", True),
            ("/api/v1/lineage/invoice/INV-1/evidence", True),
            ("/api/v1/lineage/completeness", True),
            ("/api/v1/slas", True),
            ("/api/v1/slas/time-to-invoice-posting/timers", True),
            ("/api/v1/close-risk", True),
            ("/api/v1/impact/blocked-invoices", True),
            ("/api/v1/objects/invoice/INV-1/events", False),
            ("/api/v1/alerts", False),
            ("/v1/traces", False),
            ("/readyz", False),
        ],
    )
    def test_which_answers_are_heavy(self, path: str, heavy: bool) -> None:
        assert is_heavy(path) is heavy

    def test_every_heavy_route_of_the_app_is_gated(self, chdb_url: str, tmp_path: Path) -> None:
        """The routes of the lineage and SLA answers are all behind the gate."""
        app = create_app(
            Settings(clickhouse_url=chdb_url, spool_dir=tmp_path / "spool"), FileConfig()
        )
        paths = {route.path for route in app.routes if isinstance(route, Route)}
        paths |= set(app.openapi()["paths"])
        expected = {
            "/api/v1/lineage/{object_type}/{object_id}",
            "/api/v1/lineage/{object_type}/{object_id}/evidence",
            "/api/v1/lineage/{object_type}/{object_id}/ocel",
            "/api/v1/lineage/completeness",
            "/api/v1/slas",
            "/api/v1/slas/trend",
            "/api/v1/slas/{name}/timers",
            "/api/v1/slas/objectives",
            "/api/v1/close-risk",
            "/api/v1/impact/blocked-invoices",
            "/api/v1/audit/report",
            "/api/v1/ocel",
            "/api/v1/work-items",
            "/api/v1/work-items/{item_id}",
            *(
                f"/api/v1/work-items/{{item_id}}/{verb}"
                for verb in ("acknowledge", "assign", "snooze", "comment", "resolve", "reopen")
            ),
        }
        assert expected <= paths
        assert {path for path in paths if is_heavy(path)} == expected


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A real service computing one heavy answer at a time."""
    with running_service(
        tmp_path_factory.mktemp("heavy-gate"),
        env={"SYNCSIGHT_MAX_CONCURRENT_HEAVY_ANSWERS": "1", "SYNCSIGHT_BATCH_MAX_WAIT_MS": "20"},
    ) as running:
        yield running


def test_a_burst_of_heavy_requests_against_the_service(service: Service) -> None:
    """Sixteen lineage requests released at once at a service computing one at a time: each is
    answered within its timeout, the refused ones with 503 and Retry-After, the others with the
    same lineage as a request sent alone; the service still answers afterwards."""
    invoices = [f"INV-GATE-{number}" for number in range(3)]
    body = invoice_request(invoices).SerializeToString()
    assert post(service, body, "application/x-protobuf").status_code == 200
    wait_until_inserted(service)  # acknowledged from the journal: inserted behind the answer
    url = f"{service.base_url}/api/v1/lineage/invoice/INV-GATE-1"
    alone = httpx.get(url, timeout=30)
    assert alone.status_code == 200, alone.text
    start = threading.Barrier(16)

    def request(_: int) -> httpx.Response:
        start.wait(timeout=30)
        return httpx.get(url, timeout=30)  # a hang fails the test with a timeout

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(request, range(16)))
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert 503 in statuses, statuses
    assert 200 in statuses, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "1"
            assert "max_concurrent_heavy_answers" in response.json()["detail"]
        else:
            assert response.json() == alone.json()
    assert httpx.get(url, timeout=30).json() == alone.json()
