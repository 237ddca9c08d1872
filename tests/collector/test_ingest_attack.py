"""Property-based attack on OTLP/HTTP ingest: hypothesis generates hostile bodies (protobuf built
from the real opentelemetry-proto messages with random sizes, counts and nesting; truncated and
corrupted bytes; JSON of odd shapes; gzip bombs; wrong content types and encodings) against the
``/v1/traces`` of a running ``syncsight serve``. Every answer is one of the documented statuses,
never a 500; a valid export sent after each hostile one is stored; the server's memory stays
bounded."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from domain import semconv as sc
from tests.collector.test_hostile_input import (
    RSS_LIMIT_BYTES,
    START_NS,
    invoice_request,
    peak_rss_bytes,
)
from tests.service import Service, running_service, wait_until_inserted

DOCUMENTED_STATUSES = {200, 400, 413, 415, 503}
"""What collector/http_receiver.py answers (401 only with ingest tokens, which this service has
none of)."""
MAX_BODY_BYTES = 1024 * 1024
LEGAL_ENTITY = "LE-ATTACK"
CONTENT_TYPES = (
    "application/x-protobuf",
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/X-PROTOBUF",
    "text/plain",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "",
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Bodies up to 1 MiB (so gzip bombs reach the limit quickly), short batch waits."""
    with running_service(
        tmp_path_factory.mktemp("ingest-attack"),
        env={
            "SYNCSIGHT_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "SYNCSIGHT_BATCH_MAX_WAIT_MS": "20",
        },
    ) as running:
        yield running


# --- protobuf from the real messages ---------------------------------------------------------

keys = st.one_of(
    st.sampled_from(
        [sc.EVENT_TYPE, sc.EVENT_ID, sc.AMOUNT, sc.object_id_key(sc.INVOICE), "service.name"]
    ),
    st.text(min_size=0, max_size=64),
    st.builds(lambda n: f"biz.extra.{n}", st.integers(0, 200)),
)


def any_values(depth: int = 4) -> st.SearchStrategy[AnyValue]:
    """AnyValues of every kind, arrays and key-value lists nested up to ``depth``."""
    leaves = st.one_of(
        st.builds(lambda s: AnyValue(string_value=s), st.text(max_size=300)),
        st.builds(
            lambda n: AnyValue(string_value="x" * n), st.integers(0, 20_000)
        ),  # over the value length cap
        st.builds(lambda b: AnyValue(bool_value=b), st.booleans()),
        st.builds(lambda i: AnyValue(int_value=i), st.integers(-(2**63), 2**63 - 1)),
        st.builds(lambda f: AnyValue(double_value=f), st.floats()),
        st.builds(lambda b: AnyValue(bytes_value=b), st.binary(max_size=200)),
        st.just(AnyValue()),
    )

    def nest(children: st.SearchStrategy[AnyValue]) -> st.SearchStrategy[AnyValue]:
        def array(values: list[AnyValue]) -> AnyValue:
            value = AnyValue()
            value.array_value.values.extend(values)
            return value

        def kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
            value = AnyValue()
            value.kvlist_value.values.extend(KeyValue(key=k, value=v) for k, v in pairs)
            return value

        return st.one_of(
            st.builds(array, st.lists(children, max_size=5)),
            st.builds(kvlist, st.lists(st.tuples(keys, children), max_size=5)),
        )

    return st.recursive(leaves, nest, max_leaves=10)


attributes = st.lists(
    st.builds(lambda k, v: KeyValue(key=k, value=v), keys, any_values()), max_size=12
)
ids = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))


@st.composite
def otlp_requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    """An ExportTraceServiceRequest of random resources, scopes, spans, events and links."""
    message = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        resource_spans = message.resource_spans.add()
        resource_spans.resource.attributes.extend(draw(attributes))
        resource_spans.schema_url = draw(st.text(max_size=50))
        for _ in range(draw(st.integers(0, 2))):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = draw(st.text(max_size=100))
            scope_spans.scope.version = draw(st.text(max_size=20))
            for _ in range(draw(st.integers(0, 8))):
                start = draw(st.integers(0, 2**64 - 1))
                span = scope_spans.spans.add(
                    trace_id=draw(ids),
                    span_id=draw(st.binary(max_size=10)),
                    parent_span_id=draw(st.binary(max_size=10)),
                    name=draw(st.text(max_size=200)),
                    kind=draw(st.integers(0, 9)),
                    start_time_unix_nano=start,
                    end_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
                    trace_state=draw(st.text(max_size=50)),
                )
                span.attributes.extend(draw(attributes))
                for _ in range(draw(st.integers(0, 3))):
                    event = span.events.add(
                        name=draw(st.text(max_size=50)), time_unix_nano=START_NS
                    )
                    event.attributes.extend(draw(attributes))
                for _ in range(draw(st.integers(0, 2))):
                    link = span.links.add(trace_id=draw(ids), span_id=draw(st.binary(max_size=9)))
                    link.attributes.extend(draw(attributes))
                span.status.code = draw(st.sampled_from([0, 1, 2, 7]))
                span.status.message = draw(st.text(max_size=100))
                if draw(st.booleans()):
                    span.flags = draw(st.integers(0, 2**32 - 1))
                if draw(st.booleans()):
                    span.dropped_attributes_count = draw(st.integers(0, 2**32 - 1))
    return message


@st.composite
def damaged(draw: st.DrawFn, body: bytes) -> bytes:
    """``body`` truncated, with bytes flipped, or with junk spliced in."""
    how = draw(st.sampled_from(["truncate", "flip", "splice"]))
    if not body:
        return draw(st.binary(max_size=100))
    at = draw(st.integers(0, len(body) - 1))
    if how == "truncate":
        return body[:at]
    if how == "flip":
        return body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    return body[:at] + draw(st.binary(min_size=1, max_size=50)) + body[at:]


# --- JSON of odd shapes ----------------------------------------------------------------------

OTLP_JSON_KEYS = [
    "resourceSpans", "resource", "attributes", "scopeSpans", "scope", "spans", "traceId",
    "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano", "endTimeUnixNano", "events",
    "links", "status", "code", "message", "key", "value", "stringValue", "intValue",
    "doubleValue", "boolValue", "bytesValue", "arrayValue", "kvlistValue", "values",
]  # fmt: skip
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
        st.sampled_from(["00" * 16, "zz", "1" * 40, "-1", "1e309"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(
            st.one_of(st.sampled_from(OTLP_JSON_KEYS), st.text(max_size=10)), children, max_size=6
        ),
    ),
    max_leaves=40,
)


def odd_json(value: Any) -> bytes:
    return json.dumps({"resourceSpans": value} if isinstance(value, list) else value).encode()


# --- what a request may be -------------------------------------------------------------------

gzip_bombs = st.builds(
    lambda size: gzip.compress(b"\0" * size, compresslevel=9),
    st.integers(MAX_BODY_BYTES // 2, MAX_BODY_BYTES * 4),
)

protobuf_bodies = otlp_requests().map(lambda m: m.SerializeToString())
bodies = st.one_of(
    st.tuples(protobuf_bodies, st.just("application/x-protobuf"), st.just("")),
    st.tuples(protobuf_bodies.flatmap(damaged), st.just("application/x-protobuf"), st.just("")),
    st.tuples(
        protobuf_bodies.map(gzip.compress).flatmap(damaged),
        st.just("application/x-protobuf"),
        st.just("gzip"),
    ),
    st.tuples(json_values.map(odd_json), st.just("application/json"), st.just("")),
    st.tuples(gzip_bombs, st.sampled_from(CONTENT_TYPES[:2]), st.just("gzip")),
    st.tuples(
        st.binary(max_size=2000),
        st.sampled_from(CONTENT_TYPES),
        st.sampled_from(["", "gzip", "deflate", "br", "identity"]),
    ),
)


def test_hostile_bodies_get_documented_answers_and_valid_spans_are_kept(
    service: Service,
) -> None:
    """Each generated body is answered 200, 400, 413, 415 or 503 (never 500, never a hang); a
    valid export after each is stored; the service stays under the 1.5 GiB bound."""
    url = f"{service.base_url}/v1/traces"
    sent: list[str] = []
    statuses: dict[int, int] = {}
    with httpx.Client(timeout=60) as http:

        @settings(
            max_examples=80,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(request=bodies)
        def attack(request: tuple[bytes, str, str]) -> None:
            body, content_type, encoding = request
            headers = {"Content-Type": content_type} if content_type else {}
            if encoding:
                headers["Content-Encoding"] = encoding
            response = http.post(url, content=body, headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code in DOCUMENTED_STATUSES, (
                f"{response.status_code} for {content_type!r} {encoding!r} "
                f"{len(body)} bytes: {response.text[:300]}"
            )
            if response.status_code == 503:
                assert response.headers["Retry-After"].isdigit()
            invoice_id = f"INV-ATK-{len(sent)}"
            valid = valid_export(invoice_id, len(sent))
            answer = http.post(
                url, content=valid, headers={"Content-Type": "application/x-protobuf"}
            )
            assert answer.status_code == 200, answer.text
            sent.append(invoice_id)

        attack()
    # the attack reached the decoder's refusals and the content-type check, not only the happy path
    assert {200, 400, 415} <= set(statuses), statuses
    wait_until_inserted(service)  # acknowledged from the journal: inserted behind the answer
    assert sorted(stored_invoices(service)) == sorted(sent)
    assert peak_rss_bytes(service) < RSS_LIMIT_BYTES


def valid_export(invoice_id: str, number: int) -> bytes:
    """One invoice.posted span of its own trace and span id (the SDK makes them unique)."""
    message = invoice_request([invoice_id], legal_entity=LEGAL_ENTITY)
    span = message.resource_spans[0].scope_spans[0].spans[0]
    span.trace_id = (0xA77AC << 64 | number).to_bytes(16, "big")
    span.span_id = (0xA77AC << 32 | number).to_bytes(8, "big")
    return message.SerializeToString()


def stored_invoices(service: Service) -> list[str]:
    """The invoice ids of the attack's valid exports, read back page by page."""
    url = f"{service.base_url}/api/v1/objects/{sc.LEGAL_ENTITY}/{LEGAL_ENTITY}/events"
    found: list[str] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        page = httpx.get(url, params=params, timeout=60)
        assert page.status_code == 200, page.text
        found += [event["event_id"].removesuffix("-post") for event in page.json()]
        if "X-Next-Cursor" not in page.headers:
            return found
        params = {"limit": 100, "cursor": page.headers["X-Next-Cursor"]}
