"""Attribute values as text, exactly as the Go exporter's ``pcommon.Value.AsString()`` writes them
(doubles, JSON for arrays and maps, base64 for bytes), with the attribute-count and length caps."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable
from decimal import Decimal
from json.encoder import encode_basestring as json_string
from typing import Final

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.decode_result import BUSINESS_KEY_PREFIX, DecodeResult
from collector.limits import DecodeLimits


def id_text(span_or_trace_id: bytes) -> str:
    """Lowercase hex, '' for an all-zero id, as the exporter's ``…ToHexOrEmptyString``."""
    return "" if not span_or_trace_id.strip(b"\0") else span_or_trace_id.hex()


# --- attribute values as text (shared with the JSON decoder) ---------------------------------------


def double_text(value: float) -> str:
    """A double as ``pcommon`` writes it: ES6 number text (Go's encoding/json float format)."""
    text = repr(value)  # the shortest text that reads back, as Go's strconv uses
    if "e" in text:
        return _exponent_double_text(value, text)
    if text.endswith(".0"):
        return text[:-2]
    if text[-1] in "nf":
        return f"json: unsupported value: {_GO_NON_FINITE_TEXT[text]}"
    return text


_GO_NON_FINITE_TEXT: Final = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}


def _exponent_double_text(value: float, text: str) -> str:
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        # repr has Go's 'e' shape (at least two exponent digits); Go then trims "e-07" to "e-7".
        if text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
            return text[:-2] + text[-1]
        return text
    # Python switches to exponents at 1e16 and 1e-4, ES6 only at 1e21 and 1e-6.
    positional = format(Decimal(text), "f")
    return positional.rstrip("0").rstrip(".") if "." in positional else positional


class _UnsupportedJsonValueError(ValueError):
    """NaN or an infinity inside an array or map: Go's json.Marshal fails, AsString gives ''."""


def go_json(raw: object) -> str:
    """Compact JSON of an array or map value as Go's json.Marshal writes ``Value.AsRaw()``.

    Map keys are sorted, non-ASCII is kept, HTML characters are not escaped (pdata since 2026),
    U+2028/U+2029 are escaped, doubles use ES6 text; NaN or infinities make the whole text ''.
    """
    if type(raw) is list and all(type(item) is str for item in raw):
        text = "[" + ",".join(map(json_string, raw)) + "]"
    else:
        try:
            text = _json_fragment(raw)
        except _UnsupportedJsonValueError:
            return ""
    if "\u2028" in text or "\u2029" in text:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text


def _json_fragment(raw: object) -> str:
    if raw is None:
        return "null"
    if raw is True:
        return "true"
    if raw is False:
        return "false"
    if isinstance(raw, str):
        return json_string(raw)
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        if raw != raw or raw - raw != 0:  # NaN or an infinity
            raise _UnsupportedJsonValueError(repr(raw))
        return double_text(raw)
    if isinstance(raw, list):
        return "[" + ",".join(_json_fragment(item) for item in raw) + "]"
    if isinstance(raw, dict):
        members = (json_string(key) + ":" + _json_fragment(raw[key]) for key in sorted(raw))
        return "{" + ",".join(members) + "}"
    raise TypeError(f"not a JSON value: {raw!r}")


def cap_attributes(
    attributes: dict[str, str], max_count: int, max_business: int | None = None
) -> tuple[dict[str, str], int]:
    """At most ``max_count`` attributes in wire order, ``biz.*`` ones kept first; and the number
    dropped. With ``max_business``, only the first that many ``biz.*`` keys are kept at all."""
    dropped_business = 0
    if max_business is not None and len(attributes) > max_business:
        business = [key for key in attributes if key.startswith(BUSINESS_KEY_PREFIX)]
        if len(business) > max_business:
            excess = set(business[max_business:])
            attributes = {key: value for key, value in attributes.items() if key not in excess}
            dropped_business = len(excess)
    if len(attributes) <= max_count:
        return attributes, dropped_business
    room = max(max_count - business_key_count(attributes), 0)
    kept: dict[str, str] = {}
    for key, value in attributes.items():
        if key.startswith(BUSINESS_KEY_PREFIX):
            kept[key] = value
        elif room:
            kept[key] = value
            room -= 1
    return kept, dropped_business + len(attributes) - len(kept)


def business_key_count(attributes: dict[str, str]) -> int:
    """How many ``biz.*`` keys ``attributes`` holds."""
    return sum(1 for key in attributes if key.startswith(BUSINESS_KEY_PREFIX))


# --- protobuf values ---------------------------------------------------------------------------------


def any_value_text(value: AnyValue, max_length: int) -> tuple[str, int]:
    """The text of a protobuf ``AnyValue``, cut to ``max_length``; and how many values were cut."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        text = value.string_value
    elif kind == "int_value":
        text = str(value.int_value)
    elif kind == "double_value":
        text = double_text(value.double_value)
    elif kind == "bool_value":
        text = "true" if value.bool_value else "false"
    elif kind == "bytes_value":
        text = base64.b64encode(value.bytes_value).decode("ascii")
    elif kind in ("array_value", "kvlist_value"):
        raw, cut = _any_value_raw(value, max_length)
        return go_json(raw), cut
    else:
        return "", 0
    if len(text) > max_length:
        return text[:max_length], 1
    return text, 0


def _any_value_raw(value: AnyValue, max_length: int) -> tuple[object, int]:
    """``pcommon.Value.AsRaw()`` of a protobuf value, string leaves cut to ``max_length``."""
    kind = value.WhichOneof("value")
    if kind == "string_value" or kind == "bytes_value":
        text = (
            value.string_value
            if kind == "string_value"
            else base64.b64encode(value.bytes_value).decode("ascii")
        )
        return (text[:max_length], 1) if len(text) > max_length else (text, 0)
    if kind == "array_value":
        items = [_any_value_raw(item, max_length) for item in value.array_value.values]
        return [raw for raw, _ in items], sum(cut for _, cut in items)
    if kind == "kvlist_value":
        members = {kv.key: _any_value_raw(kv.value, max_length) for kv in value.kvlist_value.values}
        return {key: raw for key, (raw, _) in members.items()}, sum(c for _, c in members.values())
    if kind is None:
        return None, 0
    return getattr(value, kind), 0


def resource_attributes_text(
    key_values: Iterable[KeyValue], limits: DecodeLimits, result: DecodeResult
) -> dict[str, str]:
    """A resource's protobuf ``KeyValue``s as the exporter's string map, with the resource's caps
    applied and accounted."""
    attributes: dict[str, str] = {}
    max_length = limits.max_attribute_value_length
    for kv in key_values:
        text, cut = any_value_text(kv.value, max_length)
        attributes[kv.key] = text
        result.truncated_values += cut
    attributes, dropped = cap_attributes(
        attributes,
        limits.max_attributes_per_resource,
        limits.max_business_attributes_per_resource,
    )
    result.dropped_attributes += dropped
    return attributes


# --- encoded KeyValues ----------------------------------------------------------------------------
#
# Reading 15 attributes through the generated classes costs ~6 µs a span, mostly for the Python
# wrapper of each nested KeyValue and AnyValue. collector.decode hands over each KeyValue's
# encoding instead, and resolves repeated encodings through a per-request cache; the rest is read by
# the short parser below, which falls back to the generated classes for anything unusual. The
# compiled decoder (collector/native/) calls it for the shapes it does not read itself.


_unpack_double = struct.Struct("<d").unpack_from


def key_value_text(encoded: bytes, max_length: int) -> tuple[str, str, int]:
    """(key, value text, values cut) of one encoded ``KeyValue``.

    The common shape (a short key, then a short string, double, bool, small int or string array)
    is read here; anything else, including other field orders, goes through ``KeyValue``.
    """
    size = len(encoded)
    key_end = encoded[1] + 2 if 3 < size < 0x80 and encoded[0] == 0x0A else size
    if (
        key_end + 2 <= size
        and encoded[key_end] == 0x12  # field 2 (value), length-delimited, as long as the rest
        and encoded[key_end + 1] == size - key_end - 2
    ):
        # size < 0x80, so every length byte that matched is a whole one-byte varint.
        key = encoded[2:key_end].decode()
        value = encoded[key_end + 2 :]
        value_size = size - key_end - 2
        tag = value[0] if value_size > 1 else 0
        text: str | None = None
        if tag == 0x0A and value[1] == value_size - 2:  # string_value
            text = value[2:].decode()
        elif tag == 0x21 and value_size == 9:  # double_value
            text = double_text(_unpack_double(value, 1)[0])
        elif tag == 0x10 and value_size == 2 and value[1] < 0x80:  # bool_value
            text = "true" if value[1] else "false"
        elif tag == 0x18 and value_size == 2 and value[1] < 0x80:  # int_value, one-byte varint
            text = str(value[1])
        if text is not None:
            if len(text) > max_length:
                return key, text[:max_length], 1
            return key, text, 0
        # Arrays of short strings (element texts then cannot exceed the cap) are read here too.
        if tag == 0x2A and value[1] == value_size - 2 and value_size <= max_length:
            text = _string_array_text(value)
            if text is not None:
                return key, text, 0
        text, cut = any_value_text(AnyValue.FromString(value), max_length)
        return key, text, cut
    kv = KeyValue.FromString(encoded)
    text, cut = any_value_text(kv.value, max_length)
    return kv.key, text, cut


def _string_array_text(value: bytes) -> str | None:
    """The text of an encoded ``AnyValue`` holding an array of short strings, else None."""
    items = []
    position = 2
    end = len(value)
    while position + 3 < end:
        element_size = value[position + 1]
        if (
            value[position] != 0x0A  # ArrayValue.values, length-delimited
            or value[position + 2] != 0x0A  # AnyValue.string_value
            or value[position + 3] != element_size - 2
        ):
            return None
        start = position + 4
        position = start + element_size - 2
        items.append(value[start:position].decode())
    if position != end:
        return None
    text = "[" + ",".join(map(json_string, items)) + "]"
    if "\u2028" in text or "\u2029" in text:
        return go_json(items)
    return text
