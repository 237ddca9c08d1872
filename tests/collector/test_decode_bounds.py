"""What one request may expand into: the biz.* caps, the caps on every text field and the row budget,
each checked on the Python protobuf decoder, the compiled one (through the differential comparison)
and the JSON decoder, which must all give the same answer."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.decode import decode_protobuf
from collector.decode_result import DecodeResult, RequestOverBudget
from collector.limits import DecodeLimits
from collector.native_decode import NATIVE_DECODER_BUILT, decode_natively
from collector.otlp_json import decode_json
from tests.collector.differential import compare, field, fixed64_field, key_value, request, span
from tests.collector.test_otlp_json import as_otlp_json
from warehouse.spans import SpanRow


def string(text: str) -> bytes:
    return field(1, text.encode())


def attributes(*pairs: tuple[str, str]) -> list[bytes]:
    return [field(9, key_value(key, string(value))) for key, value in pairs]


def business(count: int, value: str = "v") -> list[tuple[str, str]]:
    return [(f"biz.custom.k{number}", value) for number in range(count)]


def resource(*pairs: tuple[str, str]) -> bytes:
    return b"".join(field(1, key_value(key, string(value))) for key, value in pairs)


def decoded(body: bytes, limits: DecodeLimits) -> DecodeResult:
    """The Python decoder's result, after checking the compiled and JSON decoders agree with it."""
    compare(body, limits)
    result = decode_protobuf(body, limits)
    from_json = decode_json(_json_body(body), limits)
    assert from_json == result
    return result


def _json_body(body: bytes) -> bytes:
    return json.dumps(as_otlp_json(ExportTraceServiceRequest.FromString(body))).encode()


def refusal(body: bytes, limits: DecodeLimits) -> str:
    """The over-budget message, the same from every decoder."""
    compare(body, limits)
    with pytest.raises(RequestOverBudget) as from_python:
        decode_protobuf(body, limits)
    with pytest.raises(RequestOverBudget) as from_json:
        decode_json(_json_body(body), limits)
    assert str(from_json.value) == str(from_python.value)
    return str(from_python.value)


class TestBusinessKeys:
    def test_a_span_over_the_business_key_cap_is_rejected_alone(self) -> None:
        """Too many biz.* keys refuse that span, named with the cap; its neighbours are stored."""
        limits = DecodeLimits(max_business_attributes_per_span=3)
        other_span_id = bytes(range(2, 10))
        body = request(
            span(*attributes(*business(4))),
            span(*attributes(*business(3)), span_id=other_span_id),
        )
        result = decoded(body, limits)
        assert result.rejected_spans == 1
        assert len(result.rows) == 1
        assert SpanRow(*result.rows[0]).span_id == other_span_id.hex()
        assert "4 biz.* attributes, more than the 3" in result.errors[0]
        assert "max_business_attributes_per_span" in result.errors[0]

    def test_repeated_business_keys_count_once(self) -> None:
        """A key sent twice is one attribute, for the cap as for the map."""
        limits = DecodeLimits(max_business_attributes_per_span=2)
        body = request(span(*attributes(*business(2), *business(2, "again"))))
        assert decoded(body, limits).rejected_spans == 0

    def test_a_resource_keeps_its_first_business_keys(self) -> None:
        """Resource biz.* keys past their cap are dropped and counted, the spans stored."""
        limits = DecodeLimits(max_business_attributes_per_resource=2)
        pairs = [("service.name", "erp"), *business(4)]
        result = decoded(request(span(), resource=resource(*pairs)), limits)
        row = SpanRow(*result.rows[0])
        assert row.resource_attributes == dict(pairs[:3])
        assert result.dropped_attributes == 2


class TestTextCaps:
    def test_every_text_field_is_cut_and_counted(self) -> None:
        """Span name, trace state, status message, event name, link trace state and the scope's
        name and version are cut to the value length cap like attribute values."""
        limits = DecodeLimits(max_attribute_value_length=4)
        long = "é" * 9  # two bytes a character: cut on characters, not bytes
        body = request(
            span(
                field(5, long.encode()),  # the name, a second time: the last one wins
                field(3, long.encode()),
                field(11, fixed64_field(1, 5) + field(2, long.encode())),
                field(13, field(3, long.encode())),
                field(15, field(2, long.encode())),
            ),
            scope=field(1, long.encode()) + field(2, long.encode()),
        )
        result = decoded(body, limits)
        row = SpanRow(*result.rows[0])
        cut = "é" * 4
        assert (row.span_name, row.trace_state, row.status_message) == (cut, cut, cut)
        assert (row.events_name, row.links_trace_state) == ([cut], [cut])
        assert (row.scope_name, row.scope_version) == (cut, cut)
        assert result.truncated_values == 7


class TestRowBudget:
    def test_a_request_repeating_its_resource_past_the_budget_is_refused(self) -> None:
        """The refusal names the limit, its setting and the span where the budget ran out."""
        pairs = [("service.name", "erp"), ("biz.note", "x" * 100)]
        body = request(*[span()] * 5, resource=resource(*pairs))
        one_row = len('"erp",{"service.name":"erp","biz.note":""}') + 100 + len(',"",""')
        message = refusal(body, DecodeLimits(max_request_row_bytes=4 * one_row))
        assert f"more than {4 * one_row} bytes (max_request_row_bytes)" in message
        assert f"{5 * one_row} bytes by resourceSpans[0].scopeSpans[0].spans[4]" in message

    def test_a_request_within_the_budget_is_stored_whole(self) -> None:
        """Exactly at the budget every span is stored."""
        pairs = [("service.name", "erp"), ("biz.note", "x" * 100)]
        body = request(*[span()] * 5, resource=resource(*pairs))
        one_row = len('"erp",{"service.name":"erp","biz.note":""}') + 100 + len(',"",""')
        assert len(decoded(body, DecodeLimits(max_request_row_bytes=5 * one_row)).rows) == 5

    def test_rejected_spans_do_not_spend_the_budget(self) -> None:
        """Only stored rows repeat the resource: refused spans cost nothing."""
        invalid = span(fixed64_field(8, 0))  # ends before it starts
        body = request(invalid, invalid, span(), resource=resource(("service.name", "erp")))
        one_row = len('"erp",{"service.name":"erp"},"",""')
        result = decoded(body, DecodeLimits(max_request_row_bytes=one_row))
        assert (len(result.rows), result.rejected_spans) == (1, 2)


@pytest.mark.skipif(not NATIVE_DECODER_BUILT, reason="collector._otlp_native is not built")
def test_thousands_of_attribute_keys_are_read_by_the_compiled_decoder() -> None:
    """Duplicate keys are found through a hash set, so a large map is no reason to give up."""
    pairs = [(f"k{number % 3000}", str(number)) for number in range(9000)]
    body = request(span(*attributes(*pairs)))
    native = decode_natively(body, DecodeLimits(max_attributes_per_span=10_000))
    assert native is not None
    assert native.spans.json_lines.count(b'"k') == 3000
    assert b'"k0":"6000"' in native.spans.json_lines
