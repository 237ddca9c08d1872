"""OTLP/HTTP and OTLP/gRPC against a running ``syncsight serve``, sent by the real OpenTelemetry SDK
exporters and by hand-built requests per the OTLP specification."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from decimal import Decimal

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from domain import semconv as sc
from tests.service import Service, running_service, wait_until_inserted

MAX_BODY = 1024 * 1024


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(
        tmp_path_factory.mktemp("receivers"),
        env={"SYNCSIGHT_MAX_BODY_BYTES": str(MAX_BODY), "SYNCSIGHT_BATCH_MAX_WAIT_MS": "20"},
    ) as running:
        yield running


def emit_invoice(exporter: SpanExporter, invoice_id: str, *, failed: bool = False) -> None:
    """One middleware trace whose client span carries an invoice.posted business event."""
    provider = TracerProvider(resource=Resource.create({"service.name": "mw-psa-to-erp"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with (
        tracer.start_as_current_span("billing.consume", kind=SpanKind.CONSUMER),
        tracer.start_as_current_span("erp.invoice.post", kind=SpanKind.CLIENT) as span,
    ):
        span.set_attributes(
            {
                sc.EVENT_TYPE: sc.INVOICE_POSTED,
                sc.EVENT_ID: f"{invoice_id}-post",
                sc.SOURCE_SYSTEM: sc.PSA,
                sc.TARGET_SYSTEM: sc.ERP,
                sc.object_id_key(sc.INVOICE): invoice_id,
                sc.object_id_key(sc.BILLING_EVENT): f"BE-{invoice_id}",
                sc.object_id_key(sc.LEGAL_ENTITY): "US",
                sc.AMOUNT: 18250.5,
                sc.CURRENCY: "USD",
                sc.PERIOD: "2026-10",
                sc.ATTEMPT: 1,
            }
        )
        if failed:
            span.set_status(Status(StatusCode.ERROR, "ERP timeout"))
    provider.shutdown()


def object_events(service: Service, object_type: str, object_id: str) -> httpx.Response:
    wait_until_inserted(service)
    return httpx.get(f"{service.base_url}/api/v1/objects/{object_type}/{object_id}/events")


def otlp_json_request(
    trace_id: str, span_ids: list[str], *, end_offset: int = 1_000_000
) -> dict[str, object]:
    """An OTLP JSON body in the specification's example shape: uppercase hex, string times."""
    spans = [
        {
            "traceId": trace_id,
            "spanId": span_id,
            "parentSpanId": "",
            "name": "erp.invoice.post",
            "kind": 3,
            "startTimeUnixNano": "1767225600000000000",
            "endTimeUnixNano": str(1767225600000000000 + end_offset),
            "attributes": [
                {"key": sc.EVENT_TYPE, "value": {"stringValue": sc.INVOICE_POSTED}},
                {"key": sc.EVENT_ID, "value": {"stringValue": f"json-{span_id}"}},
                {"key": sc.object_id_key(sc.INVOICE), "value": {"stringValue": f"INV-{span_id}"}},
                {"key": sc.ATTEMPT, "value": {"intValue": "2"}},
            ],
            "status": {"code": 1},
            "someFutureField": {"ignored": True},
        }
        for span_id in span_ids
    ]
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "mw-json"}}]
                },
                "scopeSpans": [{"scope": {"name": "hand-built"}, "spans": spans}],
            }
        ]
    }


class TestSdkExporters:
    def test_http_protobuf_exporter_spans_are_stored_and_queryable(self, service: Service) -> None:
        """The SDK's OTLP/HTTP exporter (gzip) delivers; the invoice's event is served by the API."""
        exporter = HttpExporter(
            endpoint=f"{service.base_url}/v1/traces", compression=HttpCompression.Gzip
        )
        emit_invoice(exporter, "INV-HTTP-1")
        response = object_events(service, sc.INVOICE, "INV-HTTP-1")
        assert response.status_code == 200
        (event,) = response.json()
        assert event["event_type"] == sc.INVOICE_POSTED
        assert event["event_id"] == "INV-HTTP-1-post"
        assert Decimal(event["amount"]) == Decimal("18250.5")  # money is an exact string
        assert event["currency"] == "USD"
        assert event["outcome"] == sc.SUCCESS
        assert event["objects"][sc.BILLING_EVENT] == ["BE-INV-HTTP-1"]
        assert len(event["trace_id"]) == 32
        assert event["timestamp"].endswith(("Z", "+00:00"))

    def test_grpc_exporter_with_gzip_is_accepted(self, service: Service) -> None:
        """The SDK's OTLP/gRPC exporter with gzip compression delivers through the same path."""
        exporter = GrpcExporter(
            endpoint=f"127.0.0.1:{service.grpc_port}",
            insecure=True,
            compression=grpc.Compression.Gzip,
        )
        emit_invoice(exporter, "INV-GRPC-1", failed=True)
        (event,) = object_events(service, sc.INVOICE, "INV-GRPC-1").json()
        assert event["outcome"] == sc.FAILED


class TestHandBuiltHttp:
    def post(
        self, service: Service, body: bytes, content_type: str, **headers: str
    ) -> httpx.Response:
        return httpx.post(
            f"{service.base_url}/v1/traces",
            content=body,
            headers={"Content-Type": content_type, **headers},
            timeout=30,
        )

    def test_spec_shaped_json_with_uppercase_ids_is_stored_lowercase(
        self, service: Service
    ) -> None:
        """Hex ids in any case are stored lowercase; string int64s and unknown fields are fine."""
        body = json.dumps(
            otlp_json_request("5B8EFFF798038103D269B633813FC60C", ["EEE19B7EC3C1B174"])
        )
        response = self.post(service, body.encode(), "application/json; charset=utf-8")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {}
        (event,) = object_events(service, sc.INVOICE, "INV-EEE19B7EC3C1B174").json()
        assert event["trace_id"] == "5b8efff798038103d269b633813fc60c"
        assert event["span_id"] == "eee19b7ec3c1b174"
        assert event["attempt"] == 2

    def test_partly_invalid_request_stores_valid_spans_and_counts_the_rest(
        self, service: Service
    ) -> None:
        """Bad span ids are rejected one by one; the valid spans of the request are stored."""
        request = otlp_json_request(
            "0123456789abcdef0123456789abcdef",
            ["aaaaaaaaaaaaaaa1", "abc", "aaaaaaaaaaaaaaa2", "zzzzzzzzzzzzzzzz"],
        )
        response = self.post(service, json.dumps(request).encode(), "application/json")
        assert response.status_code == 200
        partial = response.json()["partialSuccess"]
        assert int(partial["rejectedSpans"]) == 2
        assert "abc" in partial["errorMessage"]
        for kept in ("aaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaa2"):
            assert object_events(service, sc.INVOICE, f"INV-{kept}").status_code == 200

    def test_end_before_start_is_a_rejected_span(self, service: Service) -> None:
        """A span that ends before it starts is refused with its reason."""
        request = otlp_json_request(
            "0123456789abcdef0123456789abcde0", ["bbbbbbbbbbbbbbb1"], end_offset=-5
        )
        response = self.post(service, json.dumps(request).encode(), "application/json")
        assert int(response.json()["partialSuccess"]["rejectedSpans"]) == 1

    def test_protobuf_gzip_request_gets_a_protobuf_answer(self, service: Service) -> None:
        """A gzip-compressed protobuf body is inflated; the answer is protobuf too."""
        message = ExportTraceServiceRequest()
        span = message.resource_spans.add().scope_spans.add().spans.add()
        span.trace_id = bytes.fromhex("11" * 16)
        span.span_id = bytes.fromhex("22" * 8)
        span.name = "x"
        span.start_time_unix_nano = 1767225600000000000
        span.end_time_unix_nano = 1767225600000000100
        response = self.post(
            service,
            gzip.compress(message.SerializeToString()),
            "application/x-protobuf",
            **{"Content-Encoding": "gzip"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-protobuf"
        parsed = ExportTraceServiceResponse.FromString(response.content)
        assert parsed.partial_success.rejected_spans == 0

    def test_an_empty_request_succeeds(self, service: Service) -> None:
        """An export with no spans is a success."""
        assert self.post(service, b"", "application/x-protobuf").status_code == 200

    def test_garbage_is_a_400_with_a_status_body(self, service: Service) -> None:
        """An undecodable protobuf body is answered with a google.rpc.Status saying why."""
        response = self.post(service, b"\xff\xff\xff garbage", "application/x-protobuf")
        assert response.status_code == 400
        status = status_pb2.Status.FromString(response.content)
        assert status.code == 3
        assert status.message

    def test_malformed_json_is_a_400_with_a_json_status(self, service: Service) -> None:
        """Bad JSON gets a JSON Status naming the problem."""
        response = self.post(service, b'{"resourceSpans": [', "application/json")
        assert response.status_code == 400
        assert response.json()["code"] == 3
        assert "JSON" in response.json()["message"]

    def test_unsupported_content_type_is_415(self, service: Service) -> None:
        """Only protobuf and JSON bodies are accepted."""
        response = self.post(service, b"<xml/>", "text/xml")
        assert response.status_code == 415
        assert "text/xml" in response.json()["message"]

    def test_oversize_body_is_413(self, service: Service) -> None:
        """A body over the limit is refused before decoding."""
        response = self.post(service, b"\x00" * (MAX_BODY + 1), "application/x-protobuf")
        assert response.status_code == 413
        metrics = httpx.get(f"{service.base_url}/metrics", timeout=10).text
        assert 'syncsight_export_requests_total{status="413",transport="http"}' in metrics

    def test_gzip_bomb_is_413(self, service: Service) -> None:
        """A small gzip body that inflates past the limit is refused."""
        bomb = gzip.compress(b"\x00" * (MAX_BODY * 20))
        assert len(bomb) < MAX_BODY
        response = self.post(
            service, bomb, "application/x-protobuf", **{"Content-Encoding": "gzip"}
        )
        assert response.status_code == 413
        assert "decompressed" in status_pb2.Status.FromString(response.content).message

    def test_unknown_content_encoding_is_415(self, service: Service) -> None:
        """Compression other than gzip is named in the refusal."""
        response = self.post(service, b"x", "application/json", **{"Content-Encoding": "br"})
        assert response.status_code == 415
        assert "br" in response.json()["message"]


class TestOperations:
    def test_metrics_count_spans_and_requests(self, service: Service) -> None:
        """/metrics exposes ingest counters in the Prometheus text format."""
        text = httpx.get(f"{service.base_url}/metrics").text
        for name in (
            "syncsight_spans_received_total",
            "syncsight_spans_accepted_total",
            "syncsight_export_requests_total",
            "syncsight_insert_seconds_bucket",
            "syncsight_spool_bytes",
            "syncsight_spool_files",
        ):
            assert name in text

    def test_unknown_object_type_is_404_listing_known_types(self, service: Service) -> None:
        """The lookup names the known object types."""
        response = object_events(service, "opportunity", "X")
        assert response.status_code == 404
        assert "invoice" in response.json()["detail"]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(
        tmp_path_factory.mktemp("secured"), env={"SYNCSIGHT_INGEST_TOKENS": "alpha, beta"}
    ) as running:
        yield running


class TestAuthentication:
    @pytest.mark.parametrize(
        ("authorization", "status"),
        [(None, 401), ("Bearer wrong", 401), ("Basic alpha", 401), ("Bearer beta", 200)],
    )
    def test_http_needs_a_configured_bearer_token(
        self, secured: Service, authorization: str | None, status: int
    ) -> None:
        """With SYNCSIGHT_INGEST_TOKENS set, only a listed bearer token may export."""
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        response = httpx.post(f"{secured.base_url}/v1/traces", content=b"{}", headers=headers)
        assert response.status_code == status

    def test_grpc_without_token_is_unauthenticated(self, secured: Service) -> None:
        """The gRPC receiver applies the same tokens."""
        channel = grpc.insecure_channel(f"127.0.0.1:{secured.grpc_port}")
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        with pytest.raises(grpc.RpcError) as refused:
            export(ExportTraceServiceRequest().SerializeToString(), timeout=10)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        ok = export(
            ExportTraceServiceRequest().SerializeToString(),
            timeout=10,
            metadata=(("authorization", "Bearer alpha"),),
        )
        assert ExportTraceServiceResponse.FromString(ok).ByteSize() == 0
        channel.close()
