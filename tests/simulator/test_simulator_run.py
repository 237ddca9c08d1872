"""The public entry points: simulate into exporters and real OTLP receivers, list invoice ids."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console

from simulator.run import scenario_invoice_ids, simulate
from tests.simulator.quarters import END, SEED, EmittedQuarter


def span_count(request: trace_service_pb2.ExportTraceServiceRequest) -> int:
    return sum(
        len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans
    )


@dataclass
class Received:
    """What a test OTLP receiver saw."""

    spans: int = 0
    paths: set[str] = field(default_factory=set)
    authorizations: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self, path: str, authorization: str, request: trace_service_pb2.ExportTraceServiceRequest
    ) -> None:
        with self.lock:
            self.spans += span_count(request)
            self.paths.add(path)
            self.authorizations.add(authorization)


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, Received]]:
    """A real HTTP server on localhost that decodes OTLP/protobuf posts."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            received.add(self.path, self.headers.get("Authorization", ""), request)
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    """A real gRPC TraceService on localhost."""
    received = Received()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(  # noqa: N802 - the generated service's method name
            self,
            request: trace_service_pb2.ExportTraceServiceRequest,
            context: grpc.ServicerContext,
        ) -> trace_service_pb2.ExportTraceServiceResponse:
            metadata = dict(context.invocation_metadata())
            received.add("Export", str(metadata.get("authorization", "")), request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None)


class TestSimulate:
    def test_spans_reach_a_real_http_receiver_with_the_bearer_token(
        self, http_receiver: tuple[str, Received]
    ) -> None:
        """http/protobuf posts every span to /v1/traces with Authorization: Bearer."""
        endpoint, received = http_receiver
        stats = simulate(
            end=END, seed=SEED, scale="tiny", endpoint=endpoint, token="s3cret", progress=False
        )
        assert received.spans == stats.spans > 0
        assert received.paths == {"/v1/traces"}
        assert received.authorizations == {"Bearer s3cret"}

    def test_spans_reach_a_real_grpc_receiver(self, grpc_receiver: tuple[str, Received]) -> None:
        """grpc exports every span to the TraceService with the token as metadata."""
        endpoint, received = grpc_receiver
        stats = simulate(
            end=END,
            seed=SEED,
            scale="tiny",
            endpoint=endpoint,
            protocol="grpc",
            token="t",
            progress=False,
        )
        assert received.spans == stats.spans > 0
        assert received.authorizations == {"Bearer t"}

    def test_without_a_destination_the_spans_are_only_counted(self, tmp_path: Path) -> None:
        """No exporter and no endpoint: nothing is emitted, the truth is still written."""
        stats = simulate(
            end=END, seed=SEED, scale="tiny", truth_path=tmp_path / "t.json", progress=False
        )
        assert not stats.spans_emitted
        assert stats.spans > 0
        assert (tmp_path / "t.json").stat().st_size > 0

    def test_a_progress_bar_does_not_change_the_result(self) -> None:
        """With a progress bar on a recording console, the statistics are the same."""
        console = Console(record=True, width=120)
        shown = simulate(
            end=END, seed=SEED, scale="tiny", exporter=InMemorySpanExporter(), console=console
        )
        quiet = simulate(
            end=END, seed=SEED, scale="tiny", exporter=InMemorySpanExporter(), progress=False
        )
        assert shown == quiet
        assert "contracts" in console.export_text()

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({"scale": "huge"}, "unknown scale 'huge'; expected one of tiny, small, medium, large"),
            ({"endpoint": "http://x", "protocol": "thrift"}, "unknown OTLP protocol 'thrift'"),
            ({"end": datetime(2025, 6, 20)}, "end must be timezone-aware"),
        ],
    )
    def test_bad_arguments_are_refused_with_a_plain_message(
        self, arguments: dict[str, object], message: str
    ) -> None:
        """Unknown scales and protocols and a naive end name the bad value."""
        call: dict[str, object] = {"end": END, "seed": SEED, "scale": "tiny", "progress": False}
        call.update(arguments)
        with pytest.raises(ValueError, match=message):
            simulate(**call)  # type: ignore[arg-type]


class TestStatsAndInvoices:
    def test_stats_print_as_a_table_a_consulting_firm_would_read(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """The rich table names contracts, invoices, blocked money, failures and spans."""
        console = Console(record=True, width=160)
        console.print(small_quarter.stats)
        text = console.export_text()
        for label in (
            "Contracts signed",
            "Invoices posted",
            "Blocked invoices",
            "mapping",
            "Spans emitted",
        ):
            assert label in text

    def test_the_stats_are_plausible_for_a_small_quarter(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """About forty contracts per entity, tens of thousands of spans, most invoices posted."""
        stats = small_quarter.stats
        assert stats.contracts == 120
        assert 20_000 <= stats.spans <= 100_000
        assert stats.invoices_posted > 0.7 * stats.billing_events
        assert stats.recovered_events > 0
        assert stats.unrecovered_events > 0
        assert stats.blocked_items > 0

    def test_invoice_ids_are_those_of_the_ground_truth(self, tiny_quarter: EmittedQuarter) -> None:
        """scenario_invoice_ids lists the truth's invoices, and the examples are among them."""
        ids = scenario_invoice_ids(seed=SEED, scale="tiny", end=END)
        assert ids == [invoice["invoice"] for invoice in tiny_quarter.truth["invoices"]]
        assert set(tiny_quarter.stats.example_invoice_ids) <= set(ids)
