"""The lineage node limit: a real graph larger than the limit, stored in the engine, is traced up
to the limit and says it was cut, through the traversal, the REST routes and the CLI's text."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI

from domain import semconv as sc
from lineage.api import TRUNCATED_HEADER
from lineage.graph import BOTH, DOWNSTREAM, UPSTREAM
from lineage.models import LineageOut
from lineage.render import render_text
from lineage.rules import LineageRules
from lineage.traversal import trace
from tests.lineage.apps import lineage_app
from tests.lineage.events import chain, span
from warehouse.pool import ClientPool
from warehouse.spans import OTEL_TRACES_COLUMNS

RULES = LineageRules.default()
ENTRIES = tuple(f"TE-{number:03d}" for number in range(40))
WHOLE = len(ENTRIES) + 4
"""contract.signed, project.activated, the approvals, billing.ready, invoice.posted."""
SERVICE_LIMIT = 25


@pytest.fixture
def store(migrated: Client) -> Client:
    """An invoice of 40 approved time entries: 44 events upstream of it."""
    rows = [span(event) for event in chain(entries=ENTRIES)]
    migrated.insert("otel_traces", rows, column_names=OTEL_TRACES_COLUMNS)
    return migrated


class TestTraversal:
    def test_a_lineage_within_the_limit_is_whole_and_not_truncated(self, store: Client) -> None:
        """A limit the graph fits in changes nothing."""
        lineage = trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM, max_nodes=WHOLE)
        assert len(lineage.nodes) == WHOLE
        assert not lineage.truncated
        assert lineage.complete

    def test_a_larger_graph_stops_at_the_limit_and_says_truncated(self, store: Client) -> None:
        """At most max_nodes events, truncated, never complete, and no gap invented at the cut."""
        lineage = trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM, max_nodes=10)
        assert 1 <= len(lineage.nodes) <= 10
        assert lineage.truncated
        assert not lineage.complete
        assert lineage.gaps == ()
        kept = {node.event_id for node in lineage.nodes}
        assert "invoice.posted:INV-1" in kept
        assert all(edge.source in kept and edge.target in kept for edge in lineage.edges)

    def test_the_cut_keeps_the_earliest_events_of_the_level_it_stops_in(
        self, store: Client
    ) -> None:
        """The events admitted from the level that overflows are its earliest, so answers repeat."""
        first = trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM, max_nodes=12)
        again = trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM, max_nodes=12)
        assert [n.event_id for n in first.nodes] == [n.event_id for n in again.nodes]
        approvals = [n.event_id for n in first.nodes if n.event_type == sc.TIME_APPROVED]
        assert approvals == [f"time.approved:{entry}" for entry in ENTRIES[: len(approvals)]]

    @pytest.mark.parametrize("direction", [DOWNSTREAM, BOTH])
    def test_downstream_and_both_ways_are_cut_too(self, store: Client, direction: str) -> None:
        """From the project, downstream reaches 43 events; a limit of 5 cuts it."""
        lineage = trace(store, RULES, sc.PROJECT, "PRJ-1", direction, max_nodes=5)
        assert len(lineage.nodes) <= 5
        assert lineage.truncated

    def test_a_limit_below_one_is_refused_with_the_value(self, store: Client) -> None:
        """max_nodes=0 would answer nothing: a ValueError naming it."""
        with pytest.raises(ValueError, match=r"max_nodes=0: expected at least 1"):
            trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM, max_nodes=0)


class Api:
    """The lineage router with a node limit, called in-process over ASGI."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str, **params: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://syncsight") as http:
                return await http.get(path, params=params)

        return asyncio.run(call())


@pytest.fixture
def api(store: Client, engine_url: str, database: str) -> Iterator[Api]:
    pool = ClientPool(engine_url, database=database)
    yield Api(lineage_app(pool, RULES, max_nodes=SERVICE_LIMIT))
    pool.close()


class TestRoutes:
    def test_the_service_limit_cuts_a_lineage_asked_without_max_nodes(self, api: Api) -> None:
        """No max_nodes: the service's limit applies and the answer says truncated."""
        response = api.get("/api/v1/lineage/invoice/INV-1")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["truncated"] is True
        assert body["complete"] is False
        assert len(body["nodes"]) == SERVICE_LIMIT

    def test_max_nodes_asks_for_fewer(self, api: Api) -> None:
        """max_nodes below the service's limit is honoured."""
        body = api.get("/api/v1/lineage/invoice/INV-1", max_nodes=7).json()
        assert body["truncated"] is True
        assert len(body["nodes"]) <= 7

    def test_max_nodes_above_the_service_limit_is_capped_by_it(self, api: Api) -> None:
        """Asking for more than the service allows gets the service's limit, still truncated."""
        body = api.get("/api/v1/lineage/invoice/INV-1", max_nodes=10_000).json()
        assert body["truncated"] is True
        assert len(body["nodes"]) == SERVICE_LIMIT

    def test_a_lineage_that_fits_is_not_truncated(self, api: Api) -> None:
        """The billing event's own lineage from one approval downstream fits: truncated false."""
        body = api.get("/api/v1/lineage/time_entry/TE-000", direction="downstream").json()
        assert body["truncated"] is False
        assert body["complete"] is True

    @pytest.mark.parametrize("value", ["0", "-3", "many"])
    def test_a_bad_max_nodes_is_422_naming_the_parameter(self, api: Api, value: str) -> None:
        """max_nodes must be an integer of at least 1."""
        response = api.get("/api/v1/lineage/invoice/INV-1", max_nodes=value)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "max_nodes"]

    @pytest.mark.parametrize("export", ["evidence", "ocel"])
    def test_exports_of_a_cut_lineage_carry_the_truncated_header(
        self, api: Api, export: str
    ) -> None:
        """The evidence pack and the OCEL log say they were cut in a header."""
        cut = api.get(f"/api/v1/lineage/invoice/INV-1/{export}", max_nodes=5)
        whole = api.get(f"/api/v1/lineage/time_entry/TE-000/{export}", direction="downstream")
        assert cut.headers.get(TRUNCATED_HEADER) == "true"
        assert TRUNCATED_HEADER not in whole.headers

    def test_the_evidence_summary_says_truncated(self, api: Api) -> None:
        """The pack's first record, inside the hash chain, says the lineage was cut."""
        pack = api.get("/api/v1/lineage/invoice/INV-1/evidence", max_nodes=5).json()
        summary = pack["records"][0]["record"]
        assert summary["truncated"] is True
        assert summary["events"] <= 5

    def test_the_cli_text_says_truncated(self, api: Api) -> None:
        """The text tree's first line says the lineage was cut at the node limit."""
        body = api.get("/api/v1/lineage/invoice/INV-1", max_nodes=5).json()
        first_line = render_text(LineageOut.model_validate(body)).splitlines()[0]
        assert "TRUNCATED at the node limit" in first_line
