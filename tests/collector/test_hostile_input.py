"""Hostile and faulty OTLP input against a running ``syncsight serve``: a request that would expand
into gigabytes of rows, deep JSON, several gzip members, too many requests at once. Each is answered
precisely, the valid data of sane requests is kept and the server's memory stays bounded."""

from __future__ import annotations

import gzip
import json
import random
import socket
from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from domain import semconv as sc
from tests.service import Service, running_service, wait_until_inserted

RSS_LIMIT_BYTES = 1536 * 1024 * 1024
"""What the service may hold, whatever clients send (issue 15)."""
START_NS = 1_767_225_600_000_000_000


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The defaults a user runs, but one export at a time and API reads of at most four rows (to
    provoke those limits)."""
    with running_service(
        tmp_path_factory.mktemp("hostile"),
        env={
            "SYNCSIGHT_MAX_CONCURRENT_EXPORTS": "1",
            "SYNCSIGHT_BATCH_MAX_WAIT_MS": "20",
            "SYNCSIGHT_API_READ_MAX_RESULT_ROWS": "4",
        },
    ) as running:
        yield running


def invoice_request(
    invoice_ids: list[str], *, resource: dict[str, str] | None = None, legal_entity: str = "US"
) -> ExportTraceServiceRequest:
    """One resource, one scope, one invoice.posted span per invoice id."""
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    for key, value in {"service.name": "mw-hostile", **(resource or {})}.items():
        resource_spans.resource.attributes.add(key=key, value=AnyValue(string_value=value))
    spans = resource_spans.scope_spans.add().spans
    for number, invoice_id in enumerate(invoice_ids):
        span = spans.add(
            trace_id=(number + 1).to_bytes(16, "big"),
            span_id=(number + 1).to_bytes(8, "big"),
            name="erp.invoice.post",
            start_time_unix_nano=START_NS,
            end_time_unix_nano=START_NS + 1000,
        )
        span.attributes.extend(
            KeyValue(key=key, value=AnyValue(string_value=value))
            for key, value in {
                sc.EVENT_TYPE: sc.INVOICE_POSTED,
                sc.EVENT_ID: f"{invoice_id}-post",
                sc.object_id_key(sc.INVOICE): invoice_id,
                sc.object_id_key(sc.LEGAL_ENTITY): legal_entity,
            }.items()
        )
    return message


def amplification_request() -> bytes:
    """The request of issue 15: 300 biz.* resource attributes of 4 KB, 5,000 tiny spans, ~1 MB
    gzip; every row would repeat the resource (~1.2 MB of text): about 6 GB of rows."""
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    noise = random.Random(15)
    for number in range(300):
        text = noise.randbytes(2048).hex()  # 4 KB of hex: gzip halves it, no more
        resource_spans.resource.attributes.add(
            key=f"biz.note.{number}", value=AnyValue(string_value=text)
        )
    spans = resource_spans.scope_spans.add().spans
    for number in range(5000):
        spans.add(
            trace_id=(number + 1).to_bytes(16, "big"),
            span_id=(number + 1).to_bytes(8, "big"),
            start_time_unix_nano=START_NS,
            end_time_unix_nano=START_NS + 1,
        )
    return message.SerializeToString()


def post(service: Service, body: bytes, content_type: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{service.base_url}/v1/traces",
        content=body,
        headers={"Content-Type": content_type, **headers},
        timeout=60,
    )


def stored(service: Service, invoice_id: str) -> bool:
    wait_until_inserted(service)
    url = f"{service.base_url}/api/v1/objects/{sc.INVOICE}/{invoice_id}/events"
    return httpx.get(url, timeout=30).status_code == 200


def peak_rss_bytes(service: Service) -> int:
    """The highest resident set size the service process has had (VmHWM)."""
    with open(f"/proc/{service.process.pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM line in /proc/<pid>/status")


class TestAmplification:
    def test_a_request_that_would_expand_to_gigabytes_is_413_and_memory_stays_bounded(
        self, service: Service
    ) -> None:
        """The issue's request is refused with a Status naming the limit; a sane request sent
        next is stored; the service never held more than 1.5 GiB."""
        body = gzip.compress(amplification_request())
        assert 500_000 < len(body) < 1_500_000
        for _ in range(3):
            response = post(service, body, "application/x-protobuf", **{"Content-Encoding": "gzip"})
            assert response.status_code == 413
            status = status_pb2.Status.FromString(response.content)
            assert status.code == 8  # RESOURCE_EXHAUSTED
            assert "max_request_row_bytes" in status.message
        sane = invoice_request(["INV-SANE-1", "INV-SANE-2"]).SerializeToString()
        assert post(service, sane, "application/x-protobuf").status_code == 200
        assert stored(service, "INV-SANE-1")
        assert stored(service, "INV-SANE-2")
        assert peak_rss_bytes(service) < RSS_LIMIT_BYTES

    def test_grpc_answers_resource_exhausted(self, service: Service) -> None:
        """The same request over gRPC is refused with RESOURCE_EXHAUSTED."""
        with grpc.insecure_channel(
            f"127.0.0.1:{service.grpc_port}",
            options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
        ) as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
            )
            with pytest.raises(grpc.RpcError) as refused:
                export(amplification_request(), timeout=60)
        assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_request_row_bytes" in str(refused.value.details())
        assert peak_rss_bytes(service) < RSS_LIMIT_BYTES

    def test_a_span_with_too_many_business_keys_is_rejected_and_its_neighbours_stored(
        self, service: Service
    ) -> None:
        """The partial success counts the refused span and says why; the other span is kept."""
        message = invoice_request(["INV-BIZ-KEPT", "INV-BIZ-REFUSED"])
        crowded = message.resource_spans[0].scope_spans[0].spans[1]
        crowded.attributes.extend(
            KeyValue(key=f"biz.extra.{number}", value=AnyValue(string_value="x"))
            for number in range(70)
        )
        response = post(service, message.SerializeToString(), "application/x-protobuf")
        assert response.status_code == 200
        partial = ExportTraceServiceResponse.FromString(response.content).partial_success
        assert partial.rejected_spans == 1
        assert "max_business_attributes_per_span" in partial.error_message
        assert stored(service, "INV-BIZ-KEPT")
        assert not stored(service, "INV-BIZ-REFUSED")


class TestFaultyBodies:
    def test_every_gzip_member_is_inflated(self, service: Service) -> None:
        """A body of two gzip members stores the spans of both (protobuf messages concatenate)."""
        first = invoice_request(["INV-MEMBER-1"]).SerializeToString()
        second = invoice_request(["INV-MEMBER-2"]).SerializeToString()
        body = gzip.compress(first) + gzip.compress(second)
        response = post(service, body, "application/x-protobuf", **{"Content-Encoding": "gzip"})
        assert response.status_code == 200
        assert stored(service, "INV-MEMBER-1")
        assert stored(service, "INV-MEMBER-2")

    def test_deeply_nested_json_is_a_400(self, service: Service) -> None:
        """JSON nested past what a request needs is refused as undecodable, not a 500."""
        depth = 100_000
        body = b'{"resourceSpans":' + b"[" * depth + b"]" * depth + b"}"
        response = post(service, body, "application/json")
        assert response.status_code == 400
        assert "nested too deeply" in response.json()["message"]


class TestConcurrency:
    def test_a_request_over_the_concurrency_limit_gets_503_with_retry_after(
        self, service: Service
    ) -> None:
        """While one export is being read, a second is refused at once; the first completes."""
        body = json.dumps({"resourceSpans": []}).encode()
        port = int(service.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
            slow.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:5]
            )
            refused = httpx.Response(200)
            for _ in range(50):  # until the server has started reading the slow request
                refused = post(service, body, "application/json")
                if refused.status_code == 503:
                    break
            assert refused.status_code == 503
            assert refused.headers["Retry-After"] == "1"
            assert "max_concurrent_exports" in refused.json()["message"]
            slow.sendall(body[5:])
            assert slow.recv(4096).startswith(b"HTTP/1.1 200")
        assert post(service, body, "application/json").status_code == 200


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(
        tmp_path_factory.mktemp("hostile-secured"),
        env={"SYNCSIGHT_INGEST_TOKENS": "alpha-token", "SYNCSIGHT_MAX_BODY_BYTES": "65536"},
    ) as running:
        yield running


def test_grpc_checks_the_token_before_reading_the_message(secured: Service) -> None:
    """A message over the size limit without a token is UNAUTHENTICATED: it was never read."""
    oversize = invoice_request(["INV-" + "9" * 100_000]).SerializeToString()
    with grpc.insecure_channel(f"127.0.0.1:{secured.grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as anonymous:
            export(oversize, timeout=30)
        assert anonymous.value.code() is grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as authenticated:
            export(oversize, timeout=30, metadata=(("authorization", "Bearer alpha-token"),))
        assert authenticated.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


class TestBoundedApi:
    def test_the_events_of_a_legal_entity_come_a_page_at_a_time(self, service: Service) -> None:
        """Following X-Next-Cursor reads every event once; the last page has no cursor."""
        invoices = [f"INV-PAGE-{number}" for number in range(5)]
        message = invoice_request(invoices, legal_entity="LE-PAGED")
        assert post(service, message.SerializeToString(), "application/x-protobuf").is_success
        wait_until_inserted(service)
        url = f"{service.base_url}/api/v1/objects/{sc.LEGAL_ENTITY}/LE-PAGED/events"
        seen: list[str] = []
        pages = 0
        params: dict[str, str | int] = {"limit": 2}
        while True:
            page = httpx.get(url, params=params, timeout=30)
            assert page.status_code == 200
            assert len(page.json()) <= 2
            seen += [event["event_id"] for event in page.json()]
            pages += 1
            if "X-Next-Cursor" not in page.headers:
                break
            assert page.headers["Link"].endswith('rel="next"')
            params = {"limit": 2, "cursor": page.headers["X-Next-Cursor"]}
        assert pages == 3
        assert sorted(seen) == sorted(f"{invoice}-post" for invoice in invoices)

    def test_a_read_over_the_api_read_limits_is_503_naming_them(self, service: Service) -> None:
        """A page larger than the engine may return for the API is refused, not truncated."""
        invoices = [f"INV-BIG-{number}" for number in range(5)]
        message = invoice_request(invoices, legal_entity="LE-BIG")
        assert post(service, message.SerializeToString(), "application/x-protobuf").is_success
        wait_until_inserted(service)
        url = f"{service.base_url}/api/v1/objects/{sc.LEGAL_ENTITY}/LE-BIG/events"
        response = httpx.get(url, params={"limit": 10}, timeout=30)
        assert response.status_code == 503
        assert "api_read_max_result_rows" in response.json()["detail"]
        assert "TOO_MANY_ROWS_OR_BYTES" in response.json()["detail"]

    def test_a_cursor_this_api_did_not_give_is_refused_by_name(self, service: Service) -> None:
        url = f"{service.base_url}/api/v1/objects/{sc.LEGAL_ENTITY}/LE-PAGED/events"
        response = httpx.get(url, params={"cursor": "yesterday"}, timeout=30)
        assert response.status_code == 422
        assert "'yesterday'" in response.json()["detail"]
