"""OTLP/JSON decoding: hand-written requests in the specification's shape, and SDK requests in JSON."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from collector.decode import decode_protobuf
from collector.decode_result import DecodeResult, UndecodableRequest
from collector.limits import DecodeLimits
from collector.otlp_json import decode_json
from domain import semconv as sc
from warehouse.spans import SpanRow

LIMITS = DecodeLimits()
TRACE_ID = "5B8EFFF798038103D269B633813FC60C"
SPAN_ID = "EEE19B7EC3C1B174"
PARENT_ID = "EEE19B7EC3C1B173"


def span(**overrides: Any) -> dict[str, Any]:
    """One span as the OTLP specification's example writes it: uppercase hex, string times."""
    document: dict[str, Any] = {
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "parentSpanId": PARENT_ID,
        "name": "billing.ready",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "kind": 2,
        "attributes": [
            {"key": sc.EVENT_TYPE, "value": {"stringValue": sc.BILLING_READY}},
            {"key": sc.object_id_key(sc.BILLING_EVENT), "value": {"stringValue": "BE-7"}},
        ],
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not None}


def request(*spans: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "psa-sync"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "syncsight.middleware", "version": "2.0.1"},
                        "spans": list(spans),
                    }
                ],
            }
        ]
    }


def decode(document: Any, limits: DecodeLimits = LIMITS) -> DecodeResult:
    return decode_json(json.dumps(document).encode(), limits)


def only_row(document: Any) -> SpanRow:
    result = decode(document)
    assert result.rejected_spans == 0, result.errors
    (row,) = result.rows
    return SpanRow(*row)


def value_text(value: Any) -> str:
    """The stored text of one attribute given in the JSON AnyValue form."""
    row = only_row(request(span(attributes=[{"key": "v", "value": value}])))
    return row.span_attributes["v"]


class TestSpecificationShape:
    def test_the_specification_example_decodes_to_an_exporter_row(self) -> None:
        """Uppercase ids are stored lowercase, string timestamps as integers, kind 2 as Server."""
        row = only_row(request(span()))
        assert row == SpanRow(
            timestamp=1544712660000000000,
            trace_id=TRACE_ID.lower(),
            span_id=SPAN_ID.lower(),
            parent_span_id=PARENT_ID.lower(),
            trace_state="",
            span_name="billing.ready",
            span_kind="Server",
            service_name="psa-sync",
            resource_attributes={"service.name": "psa-sync"},
            scope_name="syncsight.middleware",
            scope_version="2.0.1",
            span_attributes={sc.EVENT_TYPE: sc.BILLING_READY, "biz.billing_event.id": "BE-7"},
            duration=1_000_000_000,
            status_code="Unset",
            status_message="",
            events_timestamp=[],
            events_name=[],
            events_attributes=[],
            links_trace_id=[],
            links_span_id=[],
            links_trace_state=[],
            links_attributes=[],
        )

    def test_timestamps_may_be_json_numbers(self) -> None:
        """64-bit integers are accepted as numbers as well as strings."""
        row = only_row(request(span(startTimeUnixNano=100, endTimeUnixNano=350)))
        assert (row.timestamp, row.duration) == (100, 250)

    @pytest.mark.parametrize(
        ("kind", "text"),
        [
            (0, "Unspecified"),
            (1, "Internal"),
            (3, "Client"),
            ("SPAN_KIND_PRODUCER", "Producer"),
            (5, "Consumer"),
            (42, ""),
        ],
    )
    def test_kind_as_integer_or_enum_name(self, kind: Any, text: str) -> None:
        """Kinds are integers as OTLP writes them; enum names are accepted; unknown numbers give ''."""
        assert only_row(request(span(kind=kind))).span_kind == text

    @pytest.mark.parametrize(
        ("status", "code", "message"),
        [
            ({}, "Unset", ""),
            ({"code": 1}, "Ok", ""),
            ({"code": 2, "message": "period closed"}, "Error", "period closed"),
            ({"code": "STATUS_CODE_ERROR"}, "Error", ""),
        ],
    )
    def test_status_as_integer_or_enum_name(self, status: Any, code: str, message: str) -> None:
        """Status codes map to Unset/Ok/Error whichever way they are written."""
        row = only_row(request(span(status=status)))
        assert (row.status_code, row.status_message) == (code, message)

    def test_snake_case_member_names_are_accepted(self) -> None:
        """Proto field names (trace_id, start_time_unix_nano, …) work like lowerCamelCase ones."""
        document = {
            "resource_spans": [
                {
                    "scope_spans": [
                        {
                            "spans": [
                                {
                                    "trace_id": TRACE_ID,
                                    "span_id": SPAN_ID,
                                    "start_time_unix_nano": "5",
                                    "end_time_unix_nano": "9",
                                    "attributes": [{"key": "n", "value": {"int_value": "7"}}],
                                }
                            ]
                        }
                    ]
                }
            ]
        }
        row = only_row(document)
        assert (row.trace_id, row.duration, row.span_attributes) == (
            TRACE_ID.lower(),
            4,
            {"n": "7"},
        )

    def test_unknown_members_are_ignored(self) -> None:
        """Fields this version does not know, anywhere, do not disturb decoding."""
        document = request(span(flags=257, droppedAttributesCount=0, futureField={"x": [1]}))
        document["resourceSpans"][0]["schemaUrl"] = "https://opentelemetry.io/schemas/1.26.0"
        assert only_row(document).span_id == SPAN_ID.lower()

    def test_events_and_links_are_parallel_lists(self) -> None:
        """Event times, names and attributes, and link hex ids in lowercase, line up by position."""
        row = only_row(
            request(
                span(
                    events=[
                        {
                            "timeUnixNano": "1544712660500000000",
                            "name": "retry",
                            "attributes": [{"key": "attempt", "value": {"intValue": 2}}],
                        }
                    ],
                    links=[
                        {"traceId": TRACE_ID, "spanId": "00F067AA0BA902B7", "traceState": "k=v"}
                    ],
                )
            )
        )
        assert (row.events_timestamp, row.events_name) == ([1544712660500000000], ["retry"])
        assert row.events_attributes == [{"attempt": "2"}]
        assert (row.links_trace_id, row.links_span_id) == ([TRACE_ID.lower()], ["00f067aa0ba902b7"])
        assert (row.links_trace_state, row.links_attributes) == (["k=v"], [{}])

    def test_a_root_span_has_an_empty_parent(self) -> None:
        """Without parentSpanId (or with an empty one) ParentSpanId is ''."""
        assert only_row(request(span(parentSpanId=""))).parent_span_id == ""
        assert only_row(request(span(parentSpanId=None))).parent_span_id == ""

    def test_an_empty_request_succeeds_with_no_rows(self) -> None:
        """{} is a valid, empty export request."""
        assert decode({}) == DecodeResult()


class TestValueText:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            ({"stringValue": "TE-1"}, "TE-1"),
            ({"boolValue": True}, "true"),
            ({"intValue": "-42"}, "-42"),
            ({"intValue": 42}, "42"),
            ({"doubleValue": 3.0}, "3"),
            ({"doubleValue": 0.5}, "0.5"),
            ({"doubleValue": 1e21}, "1e+21"),
            ({"doubleValue": "NaN"}, "json: unsupported value: NaN"),
            ({"doubleValue": "-Infinity"}, "json: unsupported value: -Inf"),
            ({"bytesValue": "AAH+"}, "AAH+"),
            ({"bytesValue": "AAH-"}, "AAH+"),
            (
                {"arrayValue": {"values": [{"stringValue": "TE-1"}, {"stringValue": "TE-2"}]}},
                '["TE-1","TE-2"]',
            ),
            (
                {
                    "arrayValue": {
                        "values": [
                            {"intValue": "1"},
                            {"doubleValue": 2.5},
                            {"boolValue": False},
                            {},
                        ]
                    }
                },
                "[1,2.5,false,null]",
            ),
            ({"arrayValue": {}}, "[]"),
            (
                {
                    "kvlistValue": {
                        "values": [
                            {"key": "z", "value": {"intValue": "1"}},
                            {"key": "a", "value": {"stringValue": "x"}},
                        ]
                    }
                },
                '{"a":"x","z":1}',
            ),
            ({}, ""),
            (None, ""),
        ],
    )
    def test_value_text_matches_the_go_exporter(self, value: Any, text: str) -> None:
        """Every AnyValue form is stored as pcommon.Value.AsString() writes it."""
        assert value_text(value) == text

    def test_long_values_are_truncated_and_counted(self) -> None:
        """The value length cap applies to JSON requests too."""
        document = request(span(attributes=[{"key": "v", "value": {"stringValue": "x" * 20}}]))
        result = decode(document, DecodeLimits(max_attribute_value_length=4))
        assert SpanRow(*result.rows[0]).span_attributes == {"v": "xxxx"}
        # the value, service.name "psa-sync", the scope's name and version and the span name
        assert result.truncated_values == 5

    def test_business_keys_survive_the_count_cap(self) -> None:
        """The count cap keeps biz.* keys first, as for protobuf."""
        attributes = [{"key": f"k{n}", "value": {"intValue": n}} for n in range(3)]
        attributes.append({"key": sc.EVENT_ID, "value": {"stringValue": "e1"}})
        result = decode(
            request(span(attributes=attributes)), DecodeLimits(max_attributes_per_span=2)
        )
        assert SpanRow(*result.rows[0]).span_attributes == {"k0": "0", sc.EVENT_ID: "e1"}
        assert result.dropped_attributes == 2


class TestPartialInvalidity:
    @pytest.mark.parametrize(
        ("overrides", "reason"),
        [
            ({"traceId": "5B8EFFF798038103D269B633813FC6"}, "trace id is 15 bytes, expected 16"),
            ({"traceId": "0" * 32}, "trace id is all zeros"),
            ({"traceId": "XYZ" + TRACE_ID[3:]}, "traceId 'XYZ"),
            ({"traceId": "5B8E FFF798038103D269B633813FC60"}, "is not hex"),
            ({"spanId": "0000000000000000"}, "span id is all zeros"),
            ({"spanId": None}, "span id is 0 bytes, expected 8"),
            ({"parentSpanId": "ABCD"}, "parent span id is 2 bytes"),
            ({"endTimeUnixNano": "1544712659000000000"}, "is before start time"),
            ({"startTimeUnixNano": "soon"}, "startTimeUnixNano 'soon' is not an integer"),
            ({"startTimeUnixNano": "-5"}, "out of the unsigned 64-bit range"),
            ({"kind": "SERVER"}, "kind 'SERVER' is neither an integer nor one of"),
            ({"name": 7}, "name must be a string, got number"),
            ({"attributes": {"k": "v"}}, "attributes must be a list, got object"),
            (
                {"attributes": [{"key": "k", "value": {"intValue": "1.5"}}]},
                "attributes[0] ('k'): intValue '1.5' is not an integer",
            ),
            ({"attributes": [{"key": "k", "value": {"bytesValue": "!!"}}]}, "is not base64"),
            ({"links": [{"traceId": TRACE_ID, "spanId": "ABCDEF"}]}, "links[0] span id is 3 bytes"),
            ({"events": [{"timeUnixNano": []}]}, "events[0].timeUnixNano [] is not an integer"),
        ],
    )
    def test_an_invalid_span_is_rejected_alone(
        self, overrides: dict[str, Any], reason: str
    ) -> None:
        """One bad span is counted and described; its neighbours are stored."""
        document = request(
            span(spanId="0000000000000001"), span(**overrides), span(spanId="0000000000000003")
        )
        result = decode(document)
        assert result.rejected_spans == 1
        assert [SpanRow(*row).span_id for row in result.rows] == [
            "0000000000000001",
            "0000000000000003",
        ]
        (error,) = result.errors
        assert error.startswith("resourceSpans[0].scopeSpans[0].spans[1]")
        assert reason in error

    def test_a_rejected_span_adds_nothing_to_the_cut_and_dropped_counts(self) -> None:
        """A value cut inside a span that is then rejected is not reported as truncated."""
        bad = span(attributes=[{"key": "v", "value": {"stringValue": "x" * 20}}], status=[])
        result = decode(request(bad), DecodeLimits(max_attribute_value_length=10))
        # only the scope's name, cut whatever its spans are, is counted
        assert (result.rejected_spans, result.truncated_values) == (1, 1)
        assert "status must be an object, got list" in result.errors[0]

    def test_rejected_counts_are_exact(self) -> None:
        """Four bad spans out of six are four rejections with five-at-most descriptions."""
        spans = [span(spanId=f"{n + 1:016X}") for n in range(6)]
        for index in (0, 2, 3, 5):
            spans[index]["traceId"] = ""
        result = decode(request(*spans))
        assert (len(result.rows), result.rejected_spans, len(result.errors)) == (2, 4, 4)


class TestUndecodable:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"{not json", "JSON parse error"),
            (b"\xff\xfe\x00", "JSON parse error"),
            (b"[]", "JSON: expected object at the top level, got list"),
            (b'{"resourceSpans": {}}', "JSON: expected list at resourceSpans, got object"),
            (b'{"resourceSpans": [[]]}', "JSON: expected object at resourceSpans[0], got list"),
            (
                b'{"resourceSpans": [{"scopeSpans": [[]]}]}',
                "JSON: expected object at resourceSpans[0].scopeSpans[0], got list",
            ),
            (
                b'{"resourceSpans": [{"scopeSpans": [{"spans": "x"}]}]}',
                "JSON: expected list at resourceSpans[0].scopeSpans[0].spans, got string",
            ),
            (
                b'{"resourceSpans": [{"scopeSpans": [{"scope": {"name": 1}}]}]}',
                "JSON: expected string at resourceSpans[0].scopeSpans[0].scope.name, got number",
            ),
            (
                b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"intValue": "x"}}]}}]}',
                "JSON: resourceSpans[0].resource.attributes[0] ('k'): intValue 'x' is not an integer",
            ),
        ],
    )
    def test_a_body_with_a_wrong_structure_is_refused_whole(
        self, body: bytes, message: str
    ) -> None:
        """Above the spans a wrong shape refuses the body, saying where and what was expected."""
        with pytest.raises(UndecodableRequest) as raised:
            decode_json(body, LIMITS)
        assert message in str(raised.value)


def sdk_request() -> Any:
    """A protobuf request from the SDK: business attributes, an event, a link and an error."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource({"service.name": "erp-sync", "service.version": "3.1"}),
        shutdown_on_exit=False,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("syncsight.tests", "1.0")
    with tracer.start_as_current_span("billing.ready", kind=SpanKind.PRODUCER) as upstream:
        upstream.set_attributes(
            {
                sc.EVENT_TYPE: sc.BILLING_READY,
                sc.object_id_key(sc.TIME_ENTRY): ["TE-1", "TE-2"],
                sc.AMOUNT: 980.0,
                sc.ATTEMPT: 1,
                "flags": {"late": True, "ratio": 0.25},
            }
        )
        upstream.add_event("validated", {"rules": 12})
    with tracer.start_as_current_span(
        "invoice.posted", links=[Link(upstream.get_span_context())]
    ) as posting:
        posting.set_status(Status(StatusCode.ERROR, "period closed"))
        posting.set_attribute(sc.PERIOD, "2026-01")
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def as_otlp_json(message: Any, *, snake_case: bool = False) -> dict[str, Any]:
    """The OTLP/JSON form of a request: proto3 JSON, but ids in uppercase hex and enums as integers."""
    document = json_format.MessageToDict(
        message, use_integers_for_enums=True, preserving_proto_field_name=snake_case
    )
    id_members = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}

    def hex_ids(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: base64.b64decode(value).hex().upper() if key in id_members else hex_ids(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [hex_ids(item) for item in node]
        return node

    converted: dict[str, Any] = hex_ids(document)
    return converted


class TestSameRowsAsProtobuf:
    @pytest.mark.parametrize("snake_case", [False, True], ids=["camelCase", "snake_case"])
    def test_json_and_protobuf_of_one_request_give_equal_rows(self, snake_case: bool) -> None:
        """The same SDK request decodes to identical rows from either encoding."""
        message = sdk_request()
        from_protobuf = decode_protobuf(message.SerializeToString(), LIMITS)
        from_json = decode(as_otlp_json(message, snake_case=snake_case))
        assert from_json == from_protobuf
        assert len(from_json.rows) == 2
