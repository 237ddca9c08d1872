"""Protobuf decoding of OTLP trace requests recorded and encoded by the real OpenTelemetry SDK."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer

from collector.attribute_text import any_value_text
from collector.decode import decode_protobuf
from collector.decode_result import DecodeResult, UndecodableRequest
from collector.limits import DecodeLimits
from domain import semconv as sc
from warehouse.spans import OTEL_TRACES_COLUMNS, SpanRow

START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
LIMITS = DecodeLimits()
SERVICE = {"service.name": "sync-middleware", "deployment.environment": "test"}


def record(
    emit: Callable[[Tracer], None], resource: dict[str, Any] | None = None
) -> tuple[ExportTraceServiceRequest, Sequence[ReadableSpan]]:
    """Spans recorded by the SDK, and the request its OTLP encoder builds from them."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource(SERVICE if resource is None else resource), shutdown_on_exit=False
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emit(provider.get_tracer("syncsight.tests", "1.2.3"))
    provider.shutdown()
    spans = exporter.get_finished_spans()
    return encode_spans(spans), spans


def business_spans(count: int) -> Callable[[Tracer], None]:
    """``count`` sibling business-event spans, one second apart, each lasting 250 ms."""

    def emit(tracer: Tracer) -> None:
        for number in range(count):
            start = START_NS + number * 1_000_000_000
            span = tracer.start_span("invoice.post", kind=SpanKind.CLIENT, start_time=start)
            span.set_attributes(
                {
                    sc.EVENT_TYPE: sc.INVOICE_POSTED,
                    sc.EVENT_ID: f"evt-{number}",
                    sc.object_id_key(sc.INVOICE): f"INV-{number}",
                    sc.AMOUNT: 1250.5,
                }
            )
            span.end(end_time=start + 250_000_000)

    return emit


def spans_of(request: ExportTraceServiceRequest) -> Any:
    return request.resource_spans[0].scope_spans[0].spans


def decode(request: ExportTraceServiceRequest, limits: DecodeLimits = LIMITS) -> DecodeResult:
    return decode_protobuf(request.SerializeToString(), limits)


def only_row(request: ExportTraceServiceRequest, limits: DecodeLimits = LIMITS) -> SpanRow:
    result = decode(request, limits)
    assert result.rejected_spans == 0, result.errors
    (row,) = result.rows
    return SpanRow(*row)


def attribute_text(value: Any) -> str:
    """The stored text of one span attribute set through the SDK."""

    def emit(tracer: Tracer) -> None:
        with tracer.start_as_current_span("s") as span:
            span.set_attribute("value", value)

    request, _ = record(emit)
    return only_row(request).span_attributes["value"]


class TestRowShape:
    def test_a_row_has_one_value_per_exporter_column(self) -> None:
        """Rows are plain tuples in OTEL_TRACES_COLUMNS order."""
        request, _ = record(business_spans(1))
        (row,) = decode(request).rows
        assert type(row) is tuple
        assert len(row) == len(OTEL_TRACES_COLUMNS)

    def test_ids_are_the_sdk_ids_in_lowercase_hex(self) -> None:
        """TraceId and SpanId are 32 and 16 lowercase hex digits of the recorded span."""
        request, (span,) = record(business_spans(1))
        row = only_row(request)
        assert span.context is not None
        assert row.trace_id == format(span.context.trace_id, "032x")
        assert row.span_id == format(span.context.span_id, "016x")

    def test_a_child_names_its_parent_and_a_root_has_no_parent(self) -> None:
        """ParentSpanId is the parent's hex id, or '' for a root span."""

        def emit(tracer: Tracer) -> None:
            with tracer.start_as_current_span("parent"), tracer.start_as_current_span("child"):
                pass

        request, _ = record(emit)
        rows = {row.span_name: row for row in map(SpanRow._make, decode(request).rows)}
        assert rows["parent"].parent_span_id == ""
        assert rows["child"].parent_span_id == rows["parent"].span_id

    def test_timestamp_is_the_start_and_duration_the_elapsed_nanoseconds(self) -> None:
        """Timestamp is the start time in ns, Duration is end minus start."""
        request, _ = record(business_spans(1))
        row = only_row(request)
        assert (row.timestamp, row.duration) == (START_NS, 250_000_000)

    def test_resource_and_scope_fill_their_columns(self) -> None:
        """ServiceName, ResourceAttributes, ScopeName and ScopeVersion come from the envelope."""
        request, _ = record(business_spans(1))
        row = only_row(request)
        assert row.service_name == "sync-middleware"
        assert row.resource_attributes == SERVICE
        assert (row.scope_name, row.scope_version) == ("syncsight.tests", "1.2.3")

    def test_spans_of_one_resource_share_one_resource_attribute_map(self) -> None:
        """The ResourceAttributes dict is built once per resource, not once per span."""
        request, _ = record(business_spans(3))
        rows = [SpanRow(*row) for row in decode(request).rows]
        assert rows[0].resource_attributes is rows[2].resource_attributes

    def test_service_name_is_empty_without_the_resource_attribute(self) -> None:
        """A resource without service.name gives ServiceName ''."""
        request, _ = record(business_spans(1), resource={"host.name": "h1"})
        assert only_row(request).service_name == ""

    def test_span_attributes_become_a_string_map(self) -> None:
        """SpanAttributes maps each key to the value's text."""
        request, _ = record(business_spans(1))
        assert only_row(request).span_attributes == {
            sc.EVENT_TYPE: sc.INVOICE_POSTED,
            sc.EVENT_ID: "evt-0",
            sc.object_id_key(sc.INVOICE): "INV-0",
            sc.AMOUNT: "1250.5",
        }

    def test_events_are_parallel_lists(self) -> None:
        """Events.Timestamp, Events.Name and Events.Attributes line up by position."""

        def emit(tracer: Tracer) -> None:
            span = tracer.start_span("sync", start_time=START_NS)
            span.add_event("retry", {"attempt": 2}, timestamp=START_NS + 10)
            span.add_event("posted", timestamp=START_NS + 20)
            span.end(end_time=START_NS + 30)

        row = only_row(record(emit)[0])
        assert row.events_timestamp == [START_NS + 10, START_NS + 20]
        assert row.events_name == ["retry", "posted"]
        assert row.events_attributes == [{"attempt": "2"}, {}]

    def test_links_are_parallel_lists_with_hex_ids(self) -> None:
        """Links.* carry the linked context's lowercase hex ids, trace state and attributes."""

        def emit(tracer: Tracer) -> None:
            with tracer.start_as_current_span("upstream") as upstream:
                context = upstream.get_span_context()
            with tracer.start_as_current_span("replay", links=[Link(context, {"why": "replay"})]):
                pass

        request, _ = record(emit)
        rows = {row.span_name: row for row in map(SpanRow._make, decode(request).rows)}
        upstream = rows["upstream"]
        replay = rows["replay"]
        assert replay.links_trace_id == [upstream.trace_id]
        assert replay.links_span_id == [upstream.span_id]
        assert replay.links_trace_state == [""]
        assert replay.links_attributes == [{"why": "replay"}]
        assert (upstream.links_trace_id, upstream.links_attributes) == ([], [])

    @pytest.mark.parametrize(
        ("kind", "text"),
        [
            (SpanKind.INTERNAL, "Internal"),
            (SpanKind.SERVER, "Server"),
            (SpanKind.CLIENT, "Client"),
            (SpanKind.PRODUCER, "Producer"),
            (SpanKind.CONSUMER, "Consumer"),
        ],
    )
    def test_span_kind_is_the_exporter_spelling(self, kind: SpanKind, text: str) -> None:
        """SpanKind is written as the current exporter writes it."""
        request, _ = record(lambda tracer: tracer.start_span("s", kind=kind).end())
        assert only_row(request).span_kind == text

    @pytest.mark.parametrize(
        ("status", "code", "message"),
        [
            (Status(StatusCode.UNSET), "Unset", ""),
            (Status(StatusCode.OK), "Ok", ""),
            (
                Status(StatusCode.ERROR, "ERP rejected: period closed"),
                "Error",
                "ERP rejected: period closed",
            ),
        ],
    )
    def test_status_is_the_exporter_spelling(self, status: Status, code: str, message: str) -> None:
        """StatusCode is Unset/Ok/Error and StatusMessage the description."""

        def emit(tracer: Tracer) -> None:
            span = tracer.start_span("s")
            span.set_status(status)
            span.end()

        row = only_row(record(emit)[0])
        assert (row.status_code, row.status_message) == (code, message)

    def test_unspecified_and_unknown_enum_values(self) -> None:
        """Kind 0 is 'Unspecified'; enum values outside OTLP's are stored as ''."""
        request, _ = record(business_spans(3))
        spans_of(request)[0].kind = SpanMessage.SPAN_KIND_UNSPECIFIED
        spans_of(request)[1].kind = 9
        spans_of(request)[2].status.code = 7
        rows = [SpanRow(*row) for row in decode(request).rows]
        assert [row.span_kind for row in rows] == ["Unspecified", "", "Client"]
        assert [row.status_code for row in rows] == ["Unset", "Unset", ""]

    def test_trace_state_is_kept(self) -> None:
        """TraceState is the W3C tracestate text of the span."""
        request, _ = record(business_spans(1))
        spans_of(request)[0].trace_state = "vendor=abc,other=1"
        assert only_row(request).trace_state == "vendor=abc,other=1"

    def test_all_zero_parent_id_means_root(self) -> None:
        """An 8-byte all-zero parent id is stored as '' as the exporter does."""
        request, _ = record(business_spans(1))
        spans_of(request)[0].parent_span_id = bytes(8)
        assert only_row(request).parent_span_id == ""


class TestValueText:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            ("TE-1", "TE-1"),
            ("", ""),
            ("Zürich <&> \u2028", "Zürich <&> \u2028"),
            (True, "true"),
            (False, "false"),
            (42, "42"),
            (-7, "-7"),
            (300, "300"),
            (2**63 - 1, "9223372036854775807"),
            (-(2**63), "-9223372036854775808"),
            (0.5, "0.5"),
            (3.0, "3"),
            (-0.0, "-0"),
            (1250.75, "1250.75"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "10000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (0.000015, "0.000015"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (2.5e-10, "2.5e-10"),
            (math.nan, "json: unsupported value: NaN"),
            (math.inf, "json: unsupported value: +Inf"),
            (-math.inf, "json: unsupported value: -Inf"),
            (b"\x00\x01\xfe", "AAH+"),
            (None, ""),
            (["TE-1", "TE-2"], '["TE-1","TE-2"]'),
            ([], "[]"),
            ([1, 2], "[1,2]"),
            ([1.5, 2.0, 1e21], "[1.5,2,1e+21]"),
            ([True, None], "[true,null]"),
            (
                ["a<b&c", 'say "hi"', "line\nbreak", "\u2028"],
                '["a<b&c","say \\"hi\\"","line\\nbreak","\\u2028"]',
            ),
            ([b"\x01"], '["AQ=="]'),
            ([math.nan], ""),
            ({"z": 1, "a": ["x"]}, '{"a":["x"],"z":1}'),
            ({"nested": {"k": "v"}}, '{"nested":{"k":"v"}}'),
            ({}, "{}"),
        ],
    )
    def test_value_text_matches_the_go_exporter(self, value: Any, text: str) -> None:
        """Values are stored as pcommon.Value.AsString() writes them."""
        assert attribute_text(value) == text

    def test_long_strings_inside_arrays_take_the_general_path(self) -> None:
        """An array whose encoding is too long for the fast path gives the same JSON text."""
        ids = [f"TE-{number:05d}" for number in range(200)]
        assert json.loads(attribute_text(ids)) == ids

    @given(
        st.dictionaries(
            st.text(min_size=1, max_size=20),
            st.one_of(
                st.text(max_size=150),
                st.booleans(),
                st.integers(min_value=-(2**63), max_value=2**63 - 1),
                st.floats(allow_nan=False, allow_infinity=False),
                st.lists(st.text(max_size=20), max_size=6),
                st.binary(max_size=20),
            ),
            max_size=12,
        )
    )
    @settings(max_examples=150, deadline=None)
    def test_any_attributes_round_trip_through_protobuf(self, attributes: dict[str, Any]) -> None:
        """Decoded SDK attributes read back to the values that were set."""

        def emit(tracer: Tracer) -> None:
            with tracer.start_as_current_span("s") as span:
                span.set_attributes(attributes)

        stored = only_row(record(emit)[0]).span_attributes
        assert stored.keys() == attributes.keys()
        for key, value in attributes.items():
            text = stored[key]
            if isinstance(value, bool):
                assert text == str(value).lower()
            elif isinstance(value, float):
                assert float(text) == value
                assert not text.endswith(".0")
            elif isinstance(value, bytes):
                assert base64.b64decode(text) == value
            elif isinstance(value, list):
                assert json.loads(text) == value
            else:
                assert text == str(value)

    @given(
        st.lists(
            st.tuples(
                st.text(max_size=12),
                st.one_of(
                    st.builds(AnyValue, string_value=st.text(max_size=140)),
                    st.builds(AnyValue, double_value=st.floats()),
                    st.builds(AnyValue, int_value=st.integers(-(2**63), 2**63 - 1)),
                    st.builds(AnyValue, bool_value=st.booleans()),
                    st.builds(AnyValue, bytes_value=st.binary(max_size=10)),
                    st.just(AnyValue()),
                ),
            ),
            max_size=8,
        )
    )
    @settings(max_examples=200, deadline=None)
    def test_encoded_attributes_decode_as_the_generated_classes_read_them(
        self, pairs: list[tuple[str, AnyValue]]
    ) -> None:
        """However a KeyValue is encoded, its text is what any_value_text makes of the message."""
        request, _ = record(business_spans(1))
        span = spans_of(request)[0]
        del span.attributes[:]
        span.attributes.extend(KeyValue(key=key, value=value) for key, value in pairs)
        expected = {
            key: any_value_text(value, LIMITS.max_attribute_value_length)[0] for key, value in pairs
        }
        assert only_row(request).span_attributes == expected


def field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field: tag, varint length, payload."""
    length = bytearray()
    remaining = len(payload)
    while remaining >= 0x80:
        length.append(remaining & 0x7F | 0x80)
        remaining >>= 7
    length.append(remaining)
    return bytes((number << 3 | 2,)) + bytes(length) + payload


class TestUnusualEncodings:
    @pytest.mark.parametrize(
        ("encoded_key_value", "expected"),
        [
            pytest.param(
                field(2, field(1, b"late")) + field(1, b"k"), ("k", "late"), id="value-first"
            ),
            pytest.param(
                field(1, b"x") + field(1, b"k") + field(2, field(1, b"v")),
                ("k", "v"),
                id="key-twice",
            ),
            pytest.param(
                field(1, b"k") + field(2, field(1, b"s") + b"\x18\x05"),
                ("k", "5"),
                id="last-oneof-wins",
            ),
            pytest.param(field(1, b"k"), ("k", ""), id="no-value"),
            pytest.param(field(2, field(1, b"v")), ("", "v"), id="no-key"),
            pytest.param(
                field(1, b"k") + field(2, b"\x18\x80\x01"), ("k", "128"), id="two-byte-int"
            ),
        ],
    )
    def test_any_valid_key_value_encoding_reads_as_protobuf_defines_it(
        self, encoded_key_value: bytes, expected: tuple[str, str]
    ) -> None:
        """Field order, repeated fields and missing fields follow protobuf rules, not a fast path."""
        request, _ = record(business_spans(1))
        span = spans_of(request)[0]
        del span.attributes[:]
        encoded_span = span.SerializeToString() + field(9, encoded_key_value)
        body = field(1, field(2, field(2, encoded_span)))  # resource_spans / scope_spans / spans
        (row,) = decode_protobuf(body, LIMITS).rows
        assert SpanRow(*row).span_attributes == dict([expected])


class TestLimits:
    @staticmethod
    def request_with(attributes: dict[str, Any]) -> ExportTraceServiceRequest:
        def emit(tracer: Tracer) -> None:
            with tracer.start_as_current_span("s") as span:
                span.set_attributes(attributes)

        return record(emit, resource={"service.name": "erp"})[0]

    def test_attributes_over_the_cap_are_dropped_keeping_the_first(self) -> None:
        """The first N attributes in wire order are kept and the rest counted as dropped."""
        request = self.request_with({f"k{number}": number for number in range(6)})
        result = decode(request, DecodeLimits(max_attributes_per_span=4))
        assert SpanRow(*result.rows[0]).span_attributes == {
            "k0": "0",
            "k1": "1",
            "k2": "2",
            "k3": "3",
        }
        assert result.dropped_attributes == 2

    @pytest.mark.parametrize(
        ("cap", "kept"),
        [
            (3, ["a", "biz.event.type", "biz.event.id"]),
            (2, ["biz.event.type", "biz.event.id"]),
            (1, ["biz.event.type", "biz.event.id"]),
        ],
    )
    def test_business_keys_are_never_dropped(self, cap: int, kept: list[str]) -> None:
        """biz.* keys are kept first, even beyond the cap; other keys fill what room is left."""
        request = self.request_with(
            {"a": "1", sc.EVENT_TYPE: sc.BILLING_READY, "b": "2", sc.EVENT_ID: "e1", "c": "3"}
        )
        result = decode(request, DecodeLimits(max_attributes_per_span=cap))
        assert sorted(SpanRow(*result.rows[0]).span_attributes) == sorted(kept)
        assert result.dropped_attributes == 5 - len(kept)

    def test_long_values_are_truncated_and_counted(self) -> None:
        """Value text over the length cap is cut, counted, and the span still stored."""
        request = self.request_with({"short": "abc", "long": "x" * 50, "number": 123456789})
        result = decode(request, DecodeLimits(max_attribute_value_length=8))
        attributes = SpanRow(*result.rows[0]).span_attributes
        assert attributes == {"short": "abc", "long": "x" * 8, "number": "12345678"}
        assert result.truncated_values == 3  # and the scope name "syncsight.tests"
        assert result.rejected_spans == 0

    def test_truncation_is_counted_for_every_span_that_carries_the_value(self) -> None:
        """The same long value on two spans is counted twice."""

        def emit(tracer: Tracer) -> None:
            for _ in range(2):
                with tracer.start_as_current_span("s") as span:
                    span.set_attribute("long", "y" * 20)

        request = record(emit, resource={"service.name": "erp"})[0]
        result = decode(request, DecodeLimits(max_attribute_value_length=5))
        assert [SpanRow(*row).span_attributes["long"] for row in result.rows] == ["yyyyy"] * 2
        assert result.truncated_values == 2 + 1  # and the scope name, once

    def test_strings_inside_arrays_are_cut_so_the_json_stays_valid(self) -> None:
        """Array elements are cut one by one instead of cutting the JSON text."""
        request = self.request_with({"ids": ["TE-0000001", "TE-2"]})
        result = decode(request, DecodeLimits(max_attribute_value_length=4))
        assert SpanRow(*result.rows[0]).span_attributes["ids"] == '["TE-0","TE-2"]'
        assert result.truncated_values == 1 + 2  # and the scope's name and version

    def test_events_and_links_over_their_caps_are_dropped_and_counted(self) -> None:
        """Only the first events and links are stored; the rest are counted."""

        def emit(tracer: Tracer) -> None:
            with tracer.start_as_current_span("a") as first:
                context = first.get_span_context()
            span = tracer.start_span("b", links=[Link(context)] * 3)
            for number in range(4):
                span.add_event(f"e{number}")
            span.end()

        result = decode(record(emit)[0], DecodeLimits(max_events_per_span=1, max_links_per_span=2))
        row = SpanRow(*result.rows[1])
        assert row.events_name == ["e0"]
        assert len(row.links_span_id) == 2
        assert (result.dropped_events, result.dropped_links) == (3, 1)

    def test_event_attributes_have_their_own_cap(self) -> None:
        """Event attributes over max_attributes_per_event are dropped and counted."""

        def emit(tracer: Tracer) -> None:
            with tracer.start_as_current_span("s") as span:
                span.add_event("e", {"a": 1, "b": 2, "c": 3})

        result = decode(record(emit)[0], DecodeLimits(max_attributes_per_event=1))
        assert SpanRow(*result.rows[0]).events_attributes == [{"a": "1"}]
        assert result.dropped_attributes == 2

    @pytest.mark.parametrize("name", ["max_attributes_per_span", "max_attribute_value_length"])
    def test_negative_limits_are_refused(self, name: str) -> None:
        """A limit below zero is a configuration error naming the field."""
        with pytest.raises(ValueError, match=name):
            DecodeLimits(**{name: -1})


def set_trace_id(value: bytes) -> Callable[[SpanMessage], None]:
    def mutate(span: SpanMessage) -> None:
        span.trace_id = value

    return mutate


def set_span_id(value: bytes) -> Callable[[SpanMessage], None]:
    def mutate(span: SpanMessage) -> None:
        span.span_id = value

    return mutate


def set_parent(value: bytes) -> Callable[[SpanMessage], None]:
    def mutate(span: SpanMessage) -> None:
        span.parent_span_id = value

    return mutate


def end_before_start(span: SpanMessage) -> None:
    span.end_time_unix_nano = span.start_time_unix_nano - 1


def bad_link(span: SpanMessage) -> None:
    span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 5)


class TestPartialInvalidity:
    @pytest.mark.parametrize(
        ("mutate", "reason"),
        [
            (set_trace_id(b"\x01" * 15), "trace id is 15 bytes, expected 16"),
            (set_trace_id(b""), "trace id is 0 bytes, expected 16"),
            (set_trace_id(bytes(16)), "trace id is all zeros"),
            (set_span_id(b"\x01" * 9), "span id is 9 bytes, expected 8"),
            (set_span_id(bytes(8)), "span id is all zeros"),
            (set_parent(b"\x01" * 4), "parent span id is 4 bytes, expected 8 or none"),
            (end_before_start, "is before start time"),
            (bad_link, "links[0] span id is 5 bytes, expected 8"),
        ],
    )
    def test_an_invalid_span_is_rejected_alone(
        self, mutate: Callable[[SpanMessage], None], reason: str
    ) -> None:
        """One invalid span is counted and described; the other spans of the request are stored."""
        request, _ = record(business_spans(3))
        mutate(spans_of(request)[1])
        result = decode(request)
        assert result.rejected_spans == 1
        assert [SpanRow(*row).span_attributes[sc.EVENT_ID] for row in result.rows] == [
            "evt-0",
            "evt-2",
        ]
        (error,) = result.errors
        assert error.startswith("resourceSpans[0].scopeSpans[0].spans[1]")
        assert reason in error

    def test_rejected_counts_are_exact(self) -> None:
        """Three bad spans out of ten: seven rows, three rejections, three described problems."""
        request, _ = record(business_spans(10))
        for index in (0, 4, 9):
            spans_of(request)[index].trace_id = bytes(16)
        result = decode(request)
        assert (len(result.rows), result.rejected_spans, len(result.errors)) == (7, 3, 3)
        assert "3 spans rejected" in result.error_message

    def test_only_the_first_five_problems_are_described(self) -> None:
        """Problems past the fifth are counted, and the message says how many more there were."""
        request, _ = record(business_spans(8))
        for span in spans_of(request)[:7]:
            span.end_time_unix_nano = 1
        result = decode(request)
        assert (result.rejected_spans, len(result.errors)) == (7, 5)
        assert result.error_message.endswith("; and 2 more")

    def test_an_error_names_the_span_id(self) -> None:
        """A rejected span with a readable id is named by it too."""
        request, _ = record(business_spans(1))
        span = spans_of(request)[0]
        span.trace_id = b"\x01"
        assert f"(span id {span.span_id.hex()})" in decode(request).errors[0]

    def test_a_fully_valid_request_has_no_error_message(self) -> None:
        """No rejections means an empty partial-success message."""
        request, _ = record(business_spans(2))
        assert decode(request).error_message == ""


class TestUndecodable:
    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(b"\xff\xff\xff", id="garbage"),
            pytest.param(b"\x0a\x05\x12", id="truncated"),
            pytest.param(b'{"resourceSpans": []}', id="json-as-protobuf"),
        ],
    )
    def test_a_body_that_is_not_protobuf_is_refused_whole(self, body: bytes) -> None:
        """Unparseable bytes raise UndecodableRequest saying it is a protobuf parse error."""
        with pytest.raises(UndecodableRequest, match="protobuf parse error"):
            decode_protobuf(body, LIMITS)

    def test_a_truncated_sdk_request_is_refused(self) -> None:
        """A real request cut short is refused, not partly stored."""
        request, _ = record(business_spans(3))
        body = request.SerializeToString()
        with pytest.raises(UndecodableRequest):
            decode_protobuf(body[: len(body) // 2], LIMITS)

    def test_invalid_utf8_in_an_attribute_is_refused_as_the_real_schema_would(self) -> None:
        """Attribute text must be UTF-8, as proto3 requires of string fields."""
        request, _ = record(business_spans(1))
        body = request.SerializeToString().replace(b"evt-0", b"evt\xff0")
        with pytest.raises(UndecodableRequest, match="protobuf parse error"):
            decode_protobuf(body, LIMITS)

    def test_an_empty_request_succeeds_with_no_rows(self) -> None:
        """An empty body is an empty request: nothing stored, nothing rejected."""
        assert decode_protobuf(b"", LIMITS) == DecodeResult()

    def test_resources_without_spans_give_no_rows(self) -> None:
        """Resource and scope envelopes without spans are fine and produce nothing."""
        request = ExportTraceServiceRequest()
        request.resource_spans.add().scope_spans.add()
        assert decode(request) == DecodeResult()
