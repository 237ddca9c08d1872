"""Seeded random, mutated and truncated protobuf bytes: the compiled decoder never disagrees with the
Python decoder, and reads most OTLP-shaped requests itself (so the comparison bites)."""

from __future__ import annotations

import random
import struct

import pytest

from collector.decode_result import DecodedRequest
from collector.limits import DecodeLimits
from tests.collector.differential import (
    SPAN_ID,
    TRACE_ID,
    compare,
    field,
    fixed64_field,
    needs_native_decoder,
    tag,
    varint_field,
)
from tests.collector.test_decode import business_spans, record
from tests.collector.test_native_decode_wire import REQUESTS, SPANS

pytestmark = needs_native_decoder

LIMITS = DecodeLimits()
TIGHT = DecodeLimits(max_attributes_per_span=2, max_attribute_value_length=3, max_links_per_span=1)


def mutated(body: bytes, rnd: random.Random) -> bytes:
    """``body`` with one to three random edits: bit flips, byte changes, cuts, inserts, copies."""
    edited = bytearray(body)
    for _ in range(rnd.randint(1, 3)):
        if not edited:
            break
        position = rnd.randrange(len(edited))
        edit = rnd.randrange(5)
        if edit == 0:
            edited[position] ^= 1 << rnd.randrange(8)
        elif edit == 1:
            edited[position] = rnd.randrange(256)
        elif edit == 2:
            del edited[position : position + rnd.randint(1, 8)]
        elif edit == 3:
            edited[position:position] = rnd.randbytes(rnd.randint(1, 6))
        else:
            edited[position:position] = edited[position : position + rnd.randint(2, 40)]
    return bytes(edited)


def sdk_bodies() -> list[bytes]:
    sdk = record(business_spans(3))[0].SerializeToString()
    return [sdk, REQUESTS["many resources and scopes"], *SPANS.values()]


@pytest.mark.parametrize("seed", range(4))
def test_mutated_requests_never_disagree(seed: int) -> None:
    """Thousands of randomly edited requests: same outcome, or left to Python; never a crash."""
    rnd = random.Random(seed)
    bodies = sdk_bodies()
    read_natively = 0
    for _ in range(1500):
        native = compare(mutated(rnd.choice(bodies), rnd), rnd.choice([LIMITS, TIGHT]))
        read_natively += native is not None
    assert read_natively > 100  # the edits leave plenty of readable requests: the comparison bites


TEXTS = [
    "",
    "k",
    "TE-1",
    "Zürich 漢字 😀",
    "a\u2028b",
    'q"\\\n\t\x01',
    "x" * 70,
    "biz.event.id",
    "biz.x",
]


def random_text(rnd: random.Random) -> bytes:
    if rnd.random() < 0.8:
        return rnd.choice(TEXTS).encode()
    return "".join(
        chr(rnd.choice([rnd.randrange(0x20), rnd.randrange(0x80), rnd.randrange(0x110000)]))
        for _ in range(rnd.randrange(6))
    ).encode("utf-8", "surrogatepass")


def random_any_value(rnd: random.Random, depth: int) -> bytes:
    """An AnyValue of any kind, now and then with an oddity (repeats, unknown or random fields)."""
    kind = rnd.randrange(12)
    if kind == 0:
        value = field(1, random_text(rnd))
    elif kind == 1:
        value = varint_field(2, rnd.choice([0, 1, 2, 1 << 63]))
    elif kind == 2:
        value = varint_field(3, rnd.choice([0, 7, -1, -(1 << 63), rnd.getrandbits(64), 10**12]))
    elif kind == 3:
        special = [0.5, 3.0, -0.0, 1e-7, 1e16, 1e21, 1e300, 0.1 + 0.2, float("nan"), float("inf")]
        number = rnd.choice(
            [*special, rnd.uniform(-1e6, 1e6), rnd.uniform(-1, 1) * 10.0 ** rnd.randrange(-30, 30)]
        )
        value = tag(4, 1) + struct.pack("<d", number)
    elif kind in (4, 5):
        elements = [
            field(1, random_text(rnd))
            if kind == 4 or not depth
            else random_any_value(rnd, depth - 1)
            for _ in range(rnd.randrange(4))
        ]
        value = field(5, b"".join(field(1, element) for element in elements))
    elif kind == 6 and depth:
        pairs = [random_key_value(rnd, depth - 1) for _ in range(rnd.randrange(3))]
        value = field(6, b"".join(field(1, pair) for pair in pairs))
    elif kind == 7:
        value = field(7, rnd.randbytes(rnd.randrange(5)))
    elif kind == 8:
        value = b""
    else:
        value = field(1, b"plain")
    if rnd.random() < 0.05:
        value += rnd.choice(
            [varint_field(3, 1), field(1, b"again"), varint_field(20, 1), rnd.randbytes(2)]
        )
    return value


def random_key_value(rnd: random.Random, depth: int = 2) -> bytes:
    key = field(1, rnd.choice([*TEXTS[1:], "service.name"]).encode())
    value = field(2, random_any_value(rnd, depth))
    if rnd.random() < 0.9:
        return key + value
    return rnd.choice([value + key, key, value, key + key + value, key + value + value])


def random_id(rnd: random.Random, size: int) -> bytes:
    if rnd.random() < 0.9:
        return rnd.randbytes(size)
    return rnd.choice([b"", bytes(size), rnd.randbytes(rnd.randrange(20))])


def random_span(rnd: random.Random) -> bytes:
    start = rnd.getrandbits(64)
    parts = [
        field(1, random_id(rnd, 16)),
        field(2, random_id(rnd, 8)),
        field(5, random_text(rnd)),
        varint_field(6, rnd.choice([0, 1, 2, 3, 4, 5, 9, -1])),
        fixed64_field(7, start),
        fixed64_field(8, start + rnd.randrange(10**9) if rnd.random() < 0.95 else start - 1),
    ]
    if rnd.random() < 0.5:
        parts.append(field(4, random_id(rnd, 8)))
    if rnd.random() < 0.2:
        parts.append(field(3, random_text(rnd)))
    parts += [field(9, random_key_value(rnd)) for _ in range(rnd.randrange(8))]
    for _ in range(rnd.randrange(3)):
        attributes = b"".join(field(3, random_key_value(rnd)) for _ in range(rnd.randrange(3)))
        parts.append(
            field(
                11, fixed64_field(1, rnd.getrandbits(64)) + field(2, random_text(rnd)) + attributes
            )
        )
    for _ in range(rnd.randrange(3)):
        attributes = b"".join(field(4, random_key_value(rnd)) for _ in range(rnd.randrange(3)))
        ids = field(1, random_id(rnd, 16)) + field(2, random_id(rnd, 8))
        parts.append(field(13, ids + field(3, random_text(rnd)) + attributes))
    if rnd.random() < 0.5:
        parts.append(
            field(15, field(2, random_text(rnd)) + varint_field(3, rnd.choice([0, 1, 2, 5, -1])))
        )
    if rnd.random() < 0.1:
        parts.append(
            rnd.choice(
                [varint_field(10, 3), field(6, b"\x01"), tag(30, 3) + tag(30, 4), rnd.randbytes(3)]
            )
        )
    if rnd.random() < 0.2:
        rnd.shuffle(parts)
    return b"".join(parts)


def random_request(rnd: random.Random) -> bytes:
    """A request of OTLP's shape: resources, scopes and spans with random content and oddities."""
    resources = []
    for _ in range(rnd.randint(1, 2)):
        resource = field(
            1, b"".join(field(1, random_key_value(rnd)) for _ in range(rnd.randrange(3)))
        )
        scopes = b"".join(
            field(
                2,
                field(1, field(1, random_text(rnd)) + field(2, random_text(rnd)))
                + b"".join(field(2, random_span(rnd)) for _ in range(rnd.randrange(5))),
            )
            for _ in range(rnd.randint(1, 2))
        )
        resources.append(field(1, resource + scopes))
    return b"".join(resources)


def random_message(rnd: random.Random, depth: int) -> bytes:
    """Protobuf-shaped random bytes: fields of OTLP's numbers and wire types, many of them wrong."""
    parts = []
    for _ in range(rnd.randint(0, 6)):
        number = rnd.choice([1, 1, 2, 2, 3, 5, 6, 7, 8, 9, 11, 13, 15, rnd.randrange(1, 40)])
        wire_type = rnd.choice([2, 2, 2, 0, 1, 5, rnd.randrange(8)])
        if wire_type == 2:
            payload = (
                random_message(rnd, depth - 1)
                if depth and rnd.random() < 0.7
                else rnd.choice([TRACE_ID, SPAN_ID, b"", b"k", rnd.randbytes(rnd.randrange(20))])
            )
            parts.append(field(number, payload))
        elif wire_type == 0:
            parts.append(varint_field(number, rnd.choice([0, 1, 2, -1, rnd.getrandbits(64)])))
        elif wire_type == 1:
            parts.append(fixed64_field(number, rnd.getrandbits(64)))
        else:
            parts.append(tag(number, wire_type) + rnd.randbytes(rnd.choice([0, 4])))
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(2))
def test_random_protobuf_shaped_bytes_never_disagree(seed: int) -> None:
    """Random nested fields with OTLP's numbers and any wire type: the decoders never disagree."""
    rnd = random.Random(2000 + seed)
    read_natively = 0
    for _ in range(1500):
        read_natively += (
            compare(random_message(rnd, depth=6), rnd.choice([LIMITS, TIGHT])) is not None
        )
    # about half are well-formed enough for the compiled decoder: a decoder that gave up on every
    # input would agree with Python vacuously, and fail here
    assert read_natively > 500


@pytest.mark.parametrize("seed", range(4))
def test_random_requests_never_disagree(seed: int) -> None:
    """Random OTLP-shaped requests, whole and randomly edited: the decoders never disagree."""
    rnd = random.Random(1000 + seed)
    stored_natively = 0
    for _ in range(600):
        body = random_request(rnd)
        native = compare(body, rnd.choice([LIMITS, TIGHT]))
        stored_natively += isinstance(native, DecodedRequest) and native.spans.row_count > 0
        compare(mutated(body, rnd), rnd.choice([LIMITS, TIGHT]))
    assert stored_natively > 100  # most random requests are read, and stored, by the compiled code
