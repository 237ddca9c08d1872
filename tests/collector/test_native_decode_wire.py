"""Hand-built unusual and malformed protobuf bytes: the compiled decoder either gives the Python
decoder's exact outcome or leaves the request to it (random ones: test_native_decode_fuzz.py)."""

from __future__ import annotations

import struct

import pytest

from collector.limits import DecodeLimits
from tests.collector.differential import (
    SPAN_ID,
    TRACE_ID,
    compare,
    field,
    fixed64_field,
    key_value,
    needs_native_decoder,
    request,
    span,
    tag,
    varint,
    varint_field,
)

pytestmark = needs_native_decoder

LIMITS = DecodeLimits()
TIGHT = DecodeLimits(max_attributes_per_span=2, max_attribute_value_length=3, max_links_per_span=1)


def string(text: str | bytes) -> bytes:
    """An AnyValue holding a string (bytes are taken as they are, valid UTF-8 or not)."""
    return field(1, text.encode() if isinstance(text, str) else text)


def with_attributes(*encoded_key_values: bytes) -> bytes:
    return request(span(*(field(9, kv) for kv in encoded_key_values)))


ATTRIBUTES = {
    "value first": field(2, string("late")) + field(1, b"k"),
    "key twice": field(1, b"x") + field(1, b"k") + field(2, string("v")),
    "last oneof wins": field(1, b"k") + field(2, string("s") + varint_field(3, 5)),
    "value twice merges": field(1, b"k") + field(2, string("a")) + field(2, varint_field(3, 7)),
    "arrays twice concatenate": key_value("k", field(5, field(1, string("a"))))
    + field(2, field(5, field(1, string("b")))),
    "no value": field(1, b"k"),
    "empty value": key_value("k", b""),
    "no key": field(2, string("v")),
    "empty": b"",
    "unknown field": key_value("k", string("v")) + varint_field(7, 1),
    "key_strindex": key_value("k", string("v")) + varint_field(3, 4),
    "string_value_strindex": key_value("k", varint_field(8, 2)),
    "unknown value field": key_value("k", string("v") + fixed64_field(12, 1)),
    "bool from a big varint": key_value("k", tag(2, 0) + varint(1 << 63)),
    "int of ten bytes": key_value("k", tag(3, 0) + varint(-1)),
    "int with high bits past 64": key_value("k", tag(3, 0) + b"\xff" * 9 + b"\x7f"),
    "overlong int": key_value("k", tag(3, 0) + b"\x85\x80\x80\x00"),
    "double nan": key_value("k", tag(4, 1) + b"\x00\x00\x00\x00\x00\x00\xf8\x7f"),
    "double e-7": key_value("k", tag(4, 1) + struct.pack("<d", 1e-7)),
    "double 1e16": key_value("k", tag(4, 1) + struct.pack("<d", 1e16)),
    "double -0.0": key_value("k", tag(4, 1) + struct.pack("<d", -0.0)),
    "bytes": key_value("k", field(7, b"\x00\xff")),
    "kvlist": key_value("k", field(6, field(1, key_value("z", string("1")) + key_value("a", b"")))),
    "nested array": key_value("k", field(5, field(1, field(5, field(1, string("x")))))),
    "mixed array": key_value("k", field(5, field(1, string("a")) + field(1, varint_field(3, 2)))),
    "array with an empty element": key_value("k", field(5, field(1, b""))),
    "array element of two fields": key_value("k", field(5, field(1, string("a") + string("b")))),
    "array with an unknown field": key_value(
        "k", field(5, field(1, string("a")) + varint_field(2, 1))
    ),
    "value as a varint": field(1, b"k") + varint_field(2, 1),
    "invalid UTF-8 key": field(1, b"k\xff") + field(2, string("v")),
    "invalid UTF-8 value": key_value("k", string(b"evt\xff")),
    "surrogate in value": key_value("k", string(b"\xed\xa0\x80")),
    "invalid UTF-8 array element": key_value("k", field(5, field(1, string(b"\xc0\x80")))),
    "value longer than its KeyValue": field(1, b"k") + tag(2, 2) + varint(40) + b"ab",
}


@pytest.mark.parametrize("limits", [LIMITS, TIGHT], ids=["default", "tight"])
@pytest.mark.parametrize("encoded", list(ATTRIBUTES.values()), ids=list(ATTRIBUTES))
def test_unusual_key_values_decode_as_python_reads_them(
    encoded: bytes, limits: DecodeLimits
) -> None:
    """Field order, repeats, merges, unknown fields and bad text follow the Python decoder."""
    compare(with_attributes(key_value("first", string("1")), encoded), limits)


def test_repeated_keys_keep_their_place_and_the_last_value() -> None:
    """A key set twice in one span appears once, where it first appeared, with the later value."""
    body = with_attributes(
        key_value("a", string("1")), key_value("b", string("2")), key_value("a", string("3"))
    )
    native = compare(body, LIMITS)
    assert native is not None
    assert b'{"a":"3","b":"2"}' in native.spans.json_lines


@pytest.mark.parametrize("count", [10, 5000])
def test_many_attributes_with_business_keys_over_the_cap(count: int) -> None:
    """biz.* keys survive the cap, in small maps and in maps of thousands of entries alike."""
    pairs = [key_value(f"k{number % 97}", string(str(number))) for number in range(count)]
    pairs.insert(count // 2, key_value("biz.event.id", string("e")))
    compare(with_attributes(*pairs), DecodeLimits(max_attributes_per_span=3))


def span_with(*fields: bytes) -> bytes:
    return request(span(*fields))


SPANS = {
    "invalid UTF-8 name": span_with(field(5, b"\xff")),
    "name twice, the first invalid": span_with(field(5, b"\xff") + field(5, b"ok")),
    "trace state": span_with(field(3, b"vendor=1")),
    "kind as bytes": span_with(field(6, b"\x02")),
    "kind past 32 bits": span_with(tag(6, 0) + varint(2 + (1 << 32))),
    "kind of ten bytes": span_with(tag(6, 0) + b"\x82" + b"\x80" * 8 + b"\x7f"),
    "negative kind": span_with(tag(6, 0) + varint(-3)),
    "start as a varint": span_with(varint_field(7, 5)),
    "trace id as a varint": request(span(varint_field(1, 5))),
    "unknown fields of every wire type": span_with(
        varint_field(10, 3) + fixed64_field(16, 1) + field(20, b"x") + tag(21, 5) + b"abcd"
    ),
    "a group": span_with(tag(30, 3) + varint_field(1, 1) + tag(30, 4)),
    "an end group alone": span_with(tag(30, 4)),
    "wire type 6": span_with(tag(30, 6)),
    "field number 0": span_with(tag(0, 0) + b"\x00"),
    "overlong tag": span_with(b"\xaa\x80\x80\x80\x00" + varint(1) + b"x"),
    "tag of six bytes": span_with(b"\xaa\x80\x80\x80\x80\x00" + varint(1) + b"x"),
    "overlong length": span_with(tag(5, 2) + b"\x81\x80\x80\x80\x00" + b"x"),
    "length of six bytes": span_with(tag(5, 2) + b"\x81\x80\x80\x80\x80\x00" + b"x"),
    "length past 2**31": span_with(tag(5, 2) + varint(1 << 31) + b"x"),
    "status with unknown fields": span_with(field(15, varint_field(1, 9) + field(2, b"m"))),
    "status code past 32 bits": span_with(field(15, tag(3, 0) + varint(2 + (1 << 32)))),
    "negative status code": span_with(field(15, tag(3, 0) + varint(-1))),
    "status message invalid": span_with(field(15, field(2, b"\xfe"))),
    "status twice": span_with(field(15, varint_field(3, 2)) + field(15, field(2, b"later"))),
    "status code as bytes": span_with(field(15, field(3, b"\x02"))),
    "event time as a varint": span_with(field(11, varint_field(1, 5))),
    "event with everything": span_with(
        field(11, fixed64_field(1, 7) + field(2, b"e") + field(3, key_value("a", string("b"))))
        + field(11, field(2, b"second") + varint_field(4, 1))
    ),
    "event name invalid": span_with(field(11, field(2, b"\xc3"))),
    "events over the cap, a malformed one unread": span_with(
        *(field(11, field(2, b"e")) for _ in range(3)), field(11, b"\xff")
    ),
    "link with everything": span_with(
        field(
            13,
            field(1, TRACE_ID)
            + field(2, SPAN_ID)
            + field(3, b"k=v")
            + field(4, key_value("a", b"")),
        )
    ),
    "link with empty and zero ids": span_with(
        field(13, b"") + field(13, field(1, bytes(16)) + field(2, bytes(8)))
    ),
    "link with a short span id": span_with(field(13, field(2, b"\x01" * 3))),
    "link trace state invalid": span_with(field(13, field(3, b"\xff"))),
    "links over the cap, a bad one unread": span_with(field(13, b""), field(13, field(1, b"x"))),
    "all-zero parent": span_with(field(4, bytes(8))),
    "short parent": span_with(field(4, b"\x01")),
    "end before start": span_with(fixed64_field(8, 1)),
    "zero ids": request(span(trace_id=bytes(16), span_id=bytes(8))),
    "short ids, no span id to name": request(span(trace_id=b"\x01", span_id=b"\x02")),
    "an invalid span's malformed attributes are not read": request(
        span(field(9, b"\xff\xff"), trace_id=b"\x01")
    ),
}


@pytest.mark.parametrize("limits", [LIMITS, TIGHT], ids=["default", "tight"])
@pytest.mark.parametrize("body", list(SPANS.values()), ids=list(SPANS))
def test_unusual_spans_decode_as_python_reads_them(body: bytes, limits: DecodeLimits) -> None:
    """Every span-level oddity gives the Python decoder's rows, rejection or refusal."""
    compare(body, limits)


RESOURCE = field(1, key_value("service.name", string("erp")) + key_value("zone", string("eu")))
SCOPE = field(1, b"syncsight") + field(2, b"1.0")
VALID = span()

REQUESTS = {
    "empty": b"",
    "resource and scope": request(VALID, resource=RESOURCE, scope=SCOPE),
    "resource twice, the last wins": field(
        1,
        field(1, RESOURCE)
        + field(1, field(1, key_value("service.name", string("crm"))))
        + field(2, field(2, VALID)),
    ),
    "scope after its spans": field(1, field(2, field(2, VALID) + field(1, SCOPE))),
    "invalid UTF-8 schema url (not read)": field(1, field(2, field(2, VALID)) + field(3, b"\xff")),
    "unknown top-level fields": varint_field(9, 1) + request(VALID) + field(99, b"x"),
    "resource with an invalid value": request(
        VALID, resource=field(1, key_value("k", string(b"\xff")))
    ),
    "scope with an invalid attribute": request(
        VALID, scope=field(3, key_value("k", string(b"\xff")))
    ),
    "scope that is not protobuf": request(VALID, scope=b"\xff\xff"),
    "resource spans as a varint": varint_field(1, 7),
    "a span longer than its scope": field(1, field(2, tag(2, 2) + varint(len(VALID) + 8) + VALID))
    + b"\x00" * 8,
    "truncated": request(VALID, resource=RESOURCE)[:-3],
    "many resources and scopes": b"".join(
        field(
            1,
            field(1, RESOURCE)
            + b"".join(field(2, field(1, SCOPE) + field(2, VALID)) for _ in range(3)),
        )
        for _ in range(3)
    ),
}


@pytest.mark.parametrize("body", list(REQUESTS.values()), ids=list(REQUESTS))
def test_unusual_requests_decode_as_python_reads_them(body: bytes) -> None:
    """Envelope oddities, including nested lengths past their parent, follow the Python decoder."""
    compare(body, LIMITS)
