"""Comparing the compiled protobuf decoder with the Python one, and the protobuf bytes to feed them.

``decode_protobuf`` is the reference. For any body the compiled decoder must either give exactly its
outcome (rows text, rejections, error messages, counters, or the refusal of a request over its row
budget) or leave the request to it (None).
"""

from __future__ import annotations

import pytest

from collector.decode import decode_protobuf
from collector.decode_result import DecodedRequest, RequestOverBudget, UndecodableRequest
from collector.limits import DecodeLimits
from collector.native_decode import NATIVE_DECODER_BUILT, decode_natively, decode_protobuf_request

needs_native_decoder = pytest.mark.skipif(
    not NATIVE_DECODER_BUILT,
    reason="collector._otlp_native is not built (no C compiler when the package was installed); "
    "the Python decoder serves alone and there is nothing to compare",
)

Outcome = DecodedRequest | str
"""A decoded request, or the kind and message of the refusal it raised."""


def refusal(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def python_outcome(body: bytes, limits: DecodeLimits) -> Outcome:
    try:
        return decode_protobuf(body, limits).encoded()
    except (UndecodableRequest, RequestOverBudget) as error:
        return refusal(error)


def public_outcome(body: bytes, limits: DecodeLimits) -> Outcome:
    try:
        return decode_protobuf_request(body, limits)
    except (UndecodableRequest, RequestOverBudget) as error:
        return refusal(error)


def native_outcome(body: bytes, limits: DecodeLimits) -> Outcome | None:
    """The compiled decoder's outcome; None where it leaves the request to Python."""
    try:
        return decode_natively(body, limits)
    except RequestOverBudget as error:
        return refusal(error)


def first_difference(native: Outcome, expected: Outcome) -> str:
    """A readable account of how the compiled outcome differs from the Python one."""
    if isinstance(native, str) or isinstance(expected, str):
        return f"compiled {native!r}\npython   {expected!r}"
    for number, (got, want) in enumerate(
        zip(
            native.spans.json_lines.split(b"\n"),
            expected.spans.json_lines.split(b"\n"),
            strict=False,
        )
    ):
        if got != want:
            return f"line {number} differs:\n  compiled {got!r}\n  python   {want!r}"
    return f"compiled {native!r}\npython   {expected!r}"


def compare(body: bytes, limits: DecodeLimits) -> Outcome | None:
    """Assert both decoders agree on ``body``; the compiled outcome, None where it gave up."""
    expected = python_outcome(body, limits)
    native = native_outcome(body, limits)
    if native is not None:
        assert native == expected, first_difference(native, expected)
    assert public_outcome(body, limits) == expected
    return native


# --- protobuf encoding by hand ----------------------------------------------------------------------


def varint(value: int) -> bytes:
    """Base-128 varint of a value below 2**70 (negative int64s as their 64-bit two's complement)."""
    value &= (1 << 70) - 1
    encoded = bytearray()
    while value >= 0x80:
        encoded.append(value & 0x7F | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def field(number: int, payload: bytes) -> bytes:
    """One length-delimited field."""
    return tag(number, 2) + varint(len(payload)) + payload


def varint_field(number: int, value: int) -> bytes:
    return tag(number, 0) + varint(value)


def fixed64_field(number: int, value: int) -> bytes:
    return tag(number, 1) + (value % (1 << 64)).to_bytes(8, "little")


TRACE_ID = bytes(range(1, 17))
SPAN_ID = bytes(range(1, 9))
START_NS = 1_767_225_600_000_000_000


def span(*fields: bytes, trace_id: bytes = TRACE_ID, span_id: bytes = SPAN_ID) -> bytes:
    """A valid span's encoding (ids, name, times) followed by ``fields``."""
    return (
        field(1, trace_id)
        + field(2, span_id)
        + field(5, b"sync.step")
        + fixed64_field(7, START_NS)
        + fixed64_field(8, START_NS + 250)
        + b"".join(fields)
    )


def key_value(key: str, any_value: bytes) -> bytes:
    return field(1, key.encode()) + field(2, any_value)


def request(*spans: bytes, resource: bytes = b"", scope: bytes = b"") -> bytes:
    """One resource with one scope holding ``spans``."""
    scope_spans = field(1, scope) + b"".join(field(2, encoded) for encoded in spans)
    return field(1, field(1, resource) + field(2, scope_spans))
