"""Conflicting re-sends and replays end to end: spans exported by the real OpenTelemetry SDK over
OTLP/HTTP to a running ``syncsight serve``, read back through the lineage and evidence routes."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from domain import semconv as sc
from tests.service import Service, running_service, wait_until_inserted

START_NS = 1_790_000_000_000_000_000  # 2026-09-21, a fixed instant: a re-send repeats it exactly
_traces = itertools.count(0x1000)


class ChosenIds(IdGenerator):
    """The trace and span id the test chooses, so that a span can be sent again as itself."""

    def __init__(self, trace_id: int, span_id: int) -> None:
        self.trace_id, self.span_id = trace_id, span_id

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(
        tmp_path_factory.mktemp("conflicts"),
        env={"SYNCSIGHT_BATCH_MAX_WAIT_MS": "20", "SYNCSIGHT_STATE_SETTLE_SECONDS": "0"},
    ) as running:
        yield running


def post_invoice(
    service: Service,
    invoice: str,
    *,
    event_id: str,
    amount: str,
    ids: tuple[int, int],
    replay_of: str = "",
    failed: bool = False,
    hours_later: int = 0,
) -> None:
    """Export one invoice.posted client span through the SDK's OTLP/HTTP exporter."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": "mw-psa-to-erp"}), id_generator=ChosenIds(*ids)
    )
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{service.base_url}/v1/traces"))
    )
    attributes: dict[str, Any] = {
        sc.EVENT_TYPE: sc.INVOICE_POSTED,
        sc.EVENT_ID: event_id,
        sc.SOURCE_SYSTEM: sc.PSA,
        sc.TARGET_SYSTEM: sc.ERP,
        sc.object_id_key(sc.INVOICE): invoice,
        sc.object_id_key(sc.LEGAL_ENTITY): "LE-US01",
        sc.AMOUNT: amount,
        sc.CURRENCY: "USD",
        sc.PERIOD: "2026-09",
    }
    if replay_of:
        attributes[sc.REPLAY_OF] = replay_of
    start = START_NS + hours_later * 3_600_000_000_000
    span = provider.get_tracer("tests").start_span(
        "POST /invoices", kind=SpanKind.CLIENT, start_time=start, attributes=attributes
    )
    if failed:
        span.set_status(Status(StatusCode.ERROR, "ERP timeout"))
    span.end(end_time=start + 250_000_000)
    provider.shutdown()
    time.sleep(0.01)  # the next copy is stored at a later millisecond of knowledge time


def get(service: Service, path: str) -> Any:
    wait_until_inserted(service)
    response = httpx.get(f"{service.base_url}{path}", timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def invoice_nodes(service: Service, invoice: str) -> list[dict[str, Any]]:
    lineage = get(service, f"/api/v1/lineage/invoice/{invoice}")
    return [n for n in lineage["nodes"] if n["event_type"] == sc.INVOICE_POSTED]


def ids() -> tuple[int, int]:
    trace = next(_traces)
    return trace, trace * 16 + 1


class TestReSentSpans:
    def test_another_amount_shows_the_first_and_lists_the_conflict(self, service: Service) -> None:
        """The same span sent as it was and then with another amount: lineage and evidence show
        the first amount, one attempt, and the later version under conflicts."""
        same = ids()
        post_invoice(service, "INV-C1", event_id="inv-c1", amount="100.25", ids=same)
        post_invoice(service, "INV-C1", event_id="inv-c1", amount="100.25", ids=same)
        post_invoice(service, "INV-C1", event_id="inv-c1", amount="175.00", ids=same)

        [node] = invoice_nodes(service, "INV-C1")
        assert (Decimal(node["amount"]), node["attempts"]) == (Decimal("100.25"), 1)
        [conflict] = node["conflicts"]
        [difference] = conflict["differs"]
        assert difference["field"] == "amount"
        assert Decimal(difference["first"]) == Decimal("100.25")
        assert Decimal(difference["conflicting"]) == Decimal("175.00")

        pack = get(service, "/api/v1/lineage/invoice/INV-C1/evidence")
        [record] = [r["record"] for r in pack["records"] if r["record"].get("kind") == "event"]
        [attempt] = record["attempts"]
        [listed] = record["conflicts"]
        assert Decimal(attempt["fact"]["amount"]) == Decimal("100.25")
        assert Decimal(listed["fact"]["amount"]) == Decimal("175.00")
        first_known = datetime.fromisoformat(attempt["fact"]["ingested_at"]).replace(tzinfo=UTC)
        assert datetime.fromisoformat(listed["ingested_at"]) > first_known
        assert listed["content_hash"] == conflict["content_hash"] != attempt["content_hash"]
        assert listed["span"]["attributes"][sc.AMOUNT] == "175.00"
        assert attempt["span"]["attributes"][sc.AMOUNT] == "100.25"

    def test_an_exact_re_send_counts_once_without_conflict(self, service: Service) -> None:
        """The same span sent twice as it was is one attempt and no conflict."""
        same = ids()
        post_invoice(service, "INV-C2", event_id="inv-c2", amount="80.00", ids=same)
        post_invoice(service, "INV-C2", event_id="inv-c2", amount="80.00", ids=same)

        [node] = invoice_nodes(service, "INV-C2")
        assert (node["attempts"], node["conflicts"]) == (1, [])


class TestReplays:
    def test_a_replay_under_a_new_event_id_is_one_node_with_two_attempts(
        self, service: Service
    ) -> None:
        """A failed posting replayed by the middleware under a new event id that names the
        original in biz.replay.of: one invoice.posted node, two attempts, one replay, success."""
        post_invoice(service, "INV-R1", event_id="inv-r1", amount="50.00", ids=ids(), failed=True)
        post_invoice(
            service,
            "INV-R1",
            event_id="inv-r1-replay-1",
            amount="50.00",
            ids=ids(),
            replay_of="inv-r1",
            hours_later=6,
        )

        [node] = invoice_nodes(service, "INV-R1")
        assert node["event_id"] == "inv-r1"
        assert (node["attempts"], node["replays"], node["outcome"]) == (2, 1, sc.SUCCESS)
