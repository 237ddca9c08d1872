"""The compiled protobuf decoder gives exactly the Python decoder's outcome: rows text, rejections,
error messages and counters, for requests the real SDK encodes and for hand-built unusual ones."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer

from benchmarks.decode import build_request
from collector.limits import DecodeLimits
from tests.collector.differential import (
    compare,
    needs_native_decoder,
    public_outcome,
    python_outcome,
)
from tests.collector.test_decode import business_spans, record, spans_of

LIMIT_SETS = {
    "default": DecodeLimits(),
    "tight": DecodeLimits(
        max_attributes_per_span=3,
        max_attribute_value_length=4,
        max_events_per_span=1,
        max_links_per_span=1,
        max_attributes_per_event=1,
        max_attributes_per_link=0,
        max_attributes_per_resource=1,
    ),
    # every cap at zero but the row budget, which would refuse every request with a span
    "zero": DecodeLimits(
        **{limit.name: 0 for limit in fields(DecodeLimits) if limit.name != "max_request_row_bytes"}
    ),
    "huge": DecodeLimits(**{limit.name: 2**70 for limit in fields(DecodeLimits)}),
}

VALUES: dict[str, Any] = {
    "text": "TE-1",
    "empty": "",
    "unicode": "Zürich 漢字 😀",
    "controls": 'tab\t nl\n cr\r quote" backslash\\ \x01 \x1f \x7f',
    "separators": "a\u2028b\u2029c",
    "true": True,
    "false": False,
    "zero": 0,
    "negative": -7,
    "max": 2**63 - 1,
    "min": -(2**63),
    "amount": 1250.5,
    "whole": 3.0,
    "negative zero": -0.0,
    "tiny": 1e-7,
    "small": 0.000015,
    "e16": 1e16,
    "e21": 1e21,
    "nan": math.nan,
    "infinity": -math.inf,
    "bytes": b"\x00\x01\xfe",
    "ids": ["TE-1", "TE-2"],
    "no ids": [],
    "separated ids": ["a\u2028b", 'q"uote'],
    "ints": [1, 2],
    "doubles": [1.5, 2.0, 1e21],
    "bools": [True, False],
    "long": "x" * 5000,
    "biz.event.type": "time.approved",
    "biz.event.id": "evt-1",
}


def every_value(tracer: Tracer) -> None:
    with tracer.start_as_current_span("values") as span:
        span.set_attributes(VALUES)


def events_links_and_statuses(tracer: Tracer) -> None:
    with tracer.start_as_current_span("upstream") as upstream:
        context = upstream.get_span_context()
    links = [Link(context, {"why": "replay", "attempt": 2}), Link(context)]
    span = tracer.start_span("replay", kind=SpanKind.SERVER, links=links)
    span.add_event("retry", {"attempt": 2, "reason": "timeout", "biz.x": "kept"})
    span.add_event("posted \u2028")
    span.set_status(Status(StatusCode.ERROR, 'ERP said "no"\n'))
    span.end()
    for kind in SpanKind:
        with tracer.start_as_current_span(f"kind {kind.name}", kind=kind) as child:
            child.set_status(Status(StatusCode.OK))


def sdk_request(name: str) -> ExportTraceServiceRequest:
    """Requests as the SDK's OTLP encoder builds them, covering what each part of a row can hold."""
    if name == "business":
        return build_request(120, seed=3)
    if name == "every value":
        return record(every_value)[0]
    if name == "events, links and statuses":
        request = record(events_links_and_statuses)[0]
        spans_of(request)[0].trace_state = "vendor=abc,other=1"
        return request
    if name == "two resources, two scopes":
        exporter = InMemorySpanExporter()
        for service in ("crm-sync", "erp-sync"):
            provider = TracerProvider(resource=Resource({"service.name": service, "n": 1}))
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            for scope in ("a", "b"):
                business_spans(2)(provider.get_tracer(scope, "9.9"))
            provider.shutdown()
        return encode_spans(exporter.get_finished_spans())
    if name == "invalid spans":
        request = record(business_spans(10))[0]
        spans = spans_of(request)
        spans[0].trace_id = b"\x01" * 15
        spans[1].span_id = bytes(8)
        spans[2].end_time_unix_nano = spans[2].start_time_unix_nano - 1
        spans[3].parent_span_id = b"\x02" * 3
        spans[4].links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 5)
        spans[5].trace_id = bytes(16)
        spans[6].links.add(trace_id=b"\x01" * 7)
        spans[7].parent_span_id = bytes(8)
        return request
    raise ValueError(f"unknown scenario {name!r}")


SCENARIOS = [
    "business",
    "every value",
    "events, links and statuses",
    "two resources, two scopes",
    "invalid spans",
]


@pytest.mark.parametrize("limits_name", list(LIMIT_SETS))
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_public_decoder_is_the_python_decoder_with_rows_encoded(
    scenario: str, limits_name: str
) -> None:
    """decode_protobuf_request equals decode_protobuf(...).encoded(), extension or not."""
    body = sdk_request(scenario).SerializeToString()
    limits = LIMIT_SETS[limits_name]
    assert public_outcome(body, limits) == python_outcome(body, limits)


@needs_native_decoder
class TestSdkRequests:
    @pytest.mark.parametrize("limits_name", list(LIMIT_SETS))
    @pytest.mark.parametrize("scenario", SCENARIOS)
    def test_the_compiled_decoder_reads_sdk_requests_as_python_does(
        self, scenario: str, limits_name: str
    ) -> None:
        """SDK requests take the compiled path, and its outcome equals the Python decoder's."""
        body = sdk_request(scenario).SerializeToString()
        assert compare(body, LIMIT_SETS[limits_name]) is not None

    def test_rejections_beyond_the_reported_five_are_counted(self) -> None:
        """Seven invalid spans of ten: seven rejections, five described, 'and 2 more'."""
        native = compare(sdk_request("invalid spans").SerializeToString(), DecodeLimits())
        assert native is not None
        assert (native.rejected_spans, len(native.errors), native.spans.row_count) == (7, 5, 3)
        assert native.error_message.endswith("; and 2 more")

    @given(
        st.dictionaries(
            st.text(min_size=1, max_size=12),
            st.one_of(
                st.text(max_size=40),
                st.booleans(),
                st.integers(min_value=-(2**63), max_value=2**63 - 1),
                st.floats(),
                st.lists(st.text(max_size=12), max_size=5),
                st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
                st.binary(max_size=8),
            ),
            max_size=10,
        ),
        st.sampled_from(list(LIMIT_SETS)),
    )
    @settings(max_examples=200, deadline=None, derandomize=True)
    def test_any_sdk_attributes_decode_identically(
        self, attributes: dict[str, Any], limits_name: str
    ) -> None:
        """Whatever attributes the SDK encodes, both decoders store the same text."""

        def emit(tracer: Tracer) -> None:
            with tracer.start_as_current_span("s") as span:
                span.set_attributes(attributes)
                span.add_event("e", attributes)

        body = record(emit)[0].SerializeToString()
        assert compare(body, LIMIT_SETS[limits_name]) is not None
