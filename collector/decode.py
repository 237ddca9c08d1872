"""Protobuf OTLP trace decoding: ``ExportTraceServiceRequest`` bytes in, ``otel_traces`` rows out.

Also holds what the JSON decoder shares with it: the result, per-span validation, attribute limits
and the text of attribute values, which must match the Go exporter's ``pcommon.Value.AsString()``.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from json.encoder import encode_basestring as json_string
from typing import Any, Final

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from collector.limits import DecodeLimits
from warehouse import semconv
from warehouse.spans import SPAN_KIND_NAMES, STATUS_CODE_NAMES

Row = tuple[Any, ...]
"""One ``otel_traces`` row in ``OTEL_TRACES_COLUMNS`` order (``SpanRow`` names the positions)."""

MAX_REPORTED_ERRORS: Final = 5
SERVICE_NAME_KEY: Final = "service.name"
# Every biz.* key starts with the object-id prefix, "biz.".
BUSINESS_KEY_PREFIX: Final = semconv.OBJECT_ID_PREFIX

ZERO_TRACE_ID: Final = bytes(16)
ZERO_SPAN_ID: Final = bytes(8)
SPAN_KIND_TEXT: Final = dict(enumerate(SPAN_KIND_NAMES))
"""OTLP enum value → exporter text; values outside the enum are stored as ''."""
STATUS_CODE_TEXT: Final = dict(enumerate(STATUS_CODE_NAMES))


class UndecodableRequest(ValueError):
    """The body as a whole is not an OTLP trace export request; nothing in it was decoded."""


@dataclass(slots=True)
class DecodeResult:
    """Rows of the valid spans of one request, and an account of what was refused or cut."""

    rows: list[Row] = field(default_factory=list)
    rejected_spans: int = 0
    errors: list[str] = field(default_factory=list)
    """The first ``MAX_REPORTED_ERRORS`` problems, each naming the span and the reason."""
    dropped_attributes: int = 0
    truncated_values: int = 0
    dropped_events: int = 0
    dropped_links: int = 0

    def reject(self, span: str, reason: str) -> None:
        """Count one refused span; remember why while fewer than ``MAX_REPORTED_ERRORS`` are."""
        self.rejected_spans += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"{span}: {reason}")

    @property
    def error_message(self) -> str:
        """One line for an OTLP partial-success answer; '' when every span was accepted."""
        if not self.rejected_spans:
            return ""
        unreported = self.rejected_spans - len(self.errors)
        more = f"; and {unreported} more" if unreported else ""
        noun = "span" if self.rejected_spans == 1 else "spans"
        return f"{self.rejected_spans} {noun} rejected: " + "; ".join(self.errors) + more


# --- span validation (shared with the JSON decoder) ------------------------------------------------


def span_problem(
    trace_id: bytes, span_id: bytes, parent_span_id: bytes, start_ns: int, end_ns: int
) -> str | None:
    """Why a span cannot be stored, or None when it can."""
    if len(trace_id) != len(ZERO_TRACE_ID):
        return f"trace id is {len(trace_id)} bytes, expected 16"
    if trace_id == ZERO_TRACE_ID:
        return "trace id is all zeros"
    if len(span_id) != len(ZERO_SPAN_ID):
        return f"span id is {len(span_id)} bytes, expected 8"
    if span_id == ZERO_SPAN_ID:
        return "span id is all zeros"
    if parent_span_id and len(parent_span_id) != len(ZERO_SPAN_ID):
        return f"parent span id is {len(parent_span_id)} bytes, expected 8 or none"
    if end_ns < start_ns:
        return f"end time {end_ns} is before start time {start_ns}"
    return None


def link_problem(index: int, trace_id: bytes, span_id: bytes) -> str | None:
    """Why a span's link makes the span unstorable, or None. Empty ids are allowed, as in Go."""
    if trace_id and len(trace_id) != len(ZERO_TRACE_ID):
        return f"links[{index}] trace id is {len(trace_id)} bytes, expected 16"
    if span_id and len(span_id) != len(ZERO_SPAN_ID):
        return f"links[{index}] span id is {len(span_id)} bytes, expected 8"
    return None


def span_label(path: str, span_id: bytes) -> str:
    """How errors name a span: its index path, plus its id when that is well formed."""
    if len(span_id) == len(ZERO_SPAN_ID):
        return f"{path} (span id {span_id.hex()})"
    return path


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


def cap_attributes(attributes: dict[str, str], max_count: int) -> tuple[dict[str, str], int]:
    """At most ``max_count`` attributes in wire order, ``biz.*`` ones always kept; and the number dropped."""
    if len(attributes) <= max_count:
        return attributes, 0
    business = sum(1 for key in attributes if key.startswith(BUSINESS_KEY_PREFIX))
    room = max(max_count - business, 0)
    kept: dict[str, str] = {}
    for key, value in attributes.items():
        if key.startswith(BUSINESS_KEY_PREFIX):
            kept[key] = value
        elif room:
            kept[key] = value
            room -= 1
    return kept, len(attributes) - len(kept)


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


def attributes_text(
    key_values: Iterable[KeyValue], limits: DecodeLimits, max_count: int, result: DecodeResult
) -> dict[str, str]:
    """Protobuf ``KeyValue``s as the exporter's string map, limits applied and accounted."""
    attributes: dict[str, str] = {}
    max_length = limits.max_attribute_value_length
    for kv in key_values:
        text, cut = any_value_text(kv.value, max_length)
        attributes[kv.key] = text
        result.truncated_values += cut
    attributes, dropped = cap_attributes(attributes, max_count)
    result.dropped_attributes += dropped
    return attributes


# --- protobuf decoding -------------------------------------------------------------------------------
#
# Reading 15 attributes through the generated classes costs ~6 µs a span, mostly for the Python
# wrapper of each nested KeyValue and AnyValue. The "wire" schema below reads the same bytes
# (identical field numbers and wire types) but declares attributes, events, links, status, resource
# and scope as plain ``bytes``: upb hands over each KeyValue's encoding without building wrappers.
# Repeated (key, value) encodings are resolved through a per-request cache, the rest by the short
# parser in ``_key_value_text``, which falls back to the generated classes for anything unusual.

_T = descriptor_pb2.FieldDescriptorProto
_WIRE_PACKAGE: Final = "syncsight.collector.wire"
_WIRE_SCHEMA: Final[dict[str, tuple[tuple[str, int, int, str], ...]]] = {
    # message: (field, number, type, shape): shape is "" (singular), "repeated", or
    # "repeated <message>" for the wire schema's own messages.
    "ExportTraceServiceRequest": (
        ("resource_spans", 1, _T.TYPE_MESSAGE, "repeated ResourceSpans"),
    ),
    "ResourceSpans": (
        ("resource", 1, _T.TYPE_BYTES, ""),
        ("scope_spans", 2, _T.TYPE_MESSAGE, "repeated ScopeSpans"),
    ),
    "ScopeSpans": (
        ("scope", 1, _T.TYPE_BYTES, ""),
        ("spans", 2, _T.TYPE_MESSAGE, "repeated Span"),
    ),
    "Span": (
        ("trace_id", 1, _T.TYPE_BYTES, ""),
        ("span_id", 2, _T.TYPE_BYTES, ""),
        ("trace_state", 3, _T.TYPE_STRING, ""),
        ("parent_span_id", 4, _T.TYPE_BYTES, ""),
        ("name", 5, _T.TYPE_STRING, ""),
        ("kind", 6, _T.TYPE_INT32, ""),
        ("start_time_unix_nano", 7, _T.TYPE_FIXED64, ""),
        ("end_time_unix_nano", 8, _T.TYPE_FIXED64, ""),
        ("attributes", 9, _T.TYPE_BYTES, "repeated"),
        ("events", 11, _T.TYPE_BYTES, "repeated"),
        ("links", 13, _T.TYPE_BYTES, "repeated"),
        ("status", 15, _T.TYPE_BYTES, ""),
    ),
    "Event": (
        ("time_unix_nano", 1, _T.TYPE_FIXED64, ""),
        ("name", 2, _T.TYPE_STRING, ""),
        ("attributes", 3, _T.TYPE_BYTES, "repeated"),
    ),
    "Link": (
        ("trace_id", 1, _T.TYPE_BYTES, ""),
        ("span_id", 2, _T.TYPE_BYTES, ""),
        ("trace_state", 3, _T.TYPE_STRING, ""),
        ("attributes", 4, _T.TYPE_BYTES, "repeated"),
    ),
}


def _wire_classes() -> dict[str, Any]:
    schema = descriptor_pb2.FileDescriptorProto(
        name="syncsight/collector/wire.proto", package=_WIRE_PACKAGE, syntax="proto3"
    )
    for message_name, fields in _WIRE_SCHEMA.items():
        message = schema.message_type.add(name=message_name)
        for name, number, field_type, shape in fields:
            repeated, _, type_name = shape.partition(" ")
            message.field.add(
                name=name,
                number=number,
                type=field_type,
                label=_T.LABEL_REPEATED if repeated == "repeated" else _T.LABEL_OPTIONAL,
                type_name=f".{_WIRE_PACKAGE}.{type_name}" if type_name else None,
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(schema)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_WIRE_PACKAGE}.{name}"))
        for name in _WIRE_SCHEMA
    }


_WIRE: Final = _wire_classes()
_parse_request = _WIRE["ExportTraceServiceRequest"].FromString
_parse_event = _WIRE["Event"].FromString
_parse_link = _WIRE["Link"].FromString
_unpack_double = struct.Struct("<d").unpack_from


class _AttributeTexts(dict[bytes, tuple[str, str]]):
    """Encoded ``KeyValue`` → (key, value text), filled on first sight; one per request.

    Spans repeat most (key, value) pairs byte for byte, so ``dict(map(texts.__getitem__, …))``
    builds most attribute maps without running any Python code.
    """

    def __init__(self, max_length: int) -> None:
        super().__init__()
        self.max_length = max_length
        self.truncated_values = 0

    def __missing__(self, encoded: bytes) -> tuple[str, str]:
        key, text, cut = _key_value_text(encoded, self.max_length)
        if cut:  # not cached: every span carrying the value counts its truncation
            self.truncated_values += cut
            return key, text
        pair = self[encoded] = (key, text)
        return pair


def _key_value_text(encoded: bytes, max_length: int) -> tuple[str, str, int]:
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


def decode_protobuf(body: bytes, limits: DecodeLimits) -> DecodeResult:
    """Rows for every valid span of a protobuf ``ExportTraceServiceRequest``.

    Raises ``UndecodableRequest`` when the body is not a well-formed request; invalid spans are
    only counted and described in the result.
    """
    result = DecodeResult()
    try:
        request = _parse_request(body)
        texts = _AttributeTexts(limits.max_attribute_value_length)
        statuses: dict[bytes, tuple[str, str]] = {b"": (STATUS_CODE_NAMES[0], "")}
        for resource_index, resource_spans in enumerate(request.resource_spans):
            resource = Resource.FromString(resource_spans.resource)
            resource_attributes = attributes_text(
                resource.attributes, limits, limits.max_attributes_per_resource, result
            )
            service_name = resource_attributes.get(SERVICE_NAME_KEY, "")
            for scope_index, scope_spans in enumerate(resource_spans.scope_spans):
                scope = InstrumentationScope.FromString(scope_spans.scope)
                _append_rows(
                    scope_spans.spans,
                    f"resourceSpans[{resource_index}].scopeSpans[{scope_index}].spans",
                    (service_name, resource_attributes, scope.name, scope.version),
                    limits,
                    texts,
                    statuses,
                    result,
                )
    except (DecodeError, UnicodeDecodeError) as error:
        raise UndecodableRequest(f"protobuf parse error: {error}") from None
    result.truncated_values += texts.truncated_values
    return result


def _append_rows(
    spans: Iterable[Any],
    path: str,
    shared: tuple[str, dict[str, str], str, str],
    limits: DecodeLimits,
    texts: _AttributeTexts,
    statuses: dict[bytes, tuple[str, str]],
    result: DecodeResult,
) -> None:
    """Append the rows of one ``ScopeSpans``: the hot loop of ingest, kept flat on purpose."""
    service_name, resource_attributes, scope_name, scope_version = shared
    append_row = result.rows.append
    text_of = texts.__getitem__
    known_status = statuses.get
    kind_text = SPAN_KIND_TEXT.get
    max_attributes = limits.max_attributes_per_span
    for index, span in enumerate(spans):
        trace_id = span.trace_id
        span_id = span.span_id
        parent_span_id = span.parent_span_id
        start = span.start_time_unix_nano
        end = span.end_time_unix_nano
        if (
            len(trace_id) != 16
            or len(span_id) != 8
            or trace_id == ZERO_TRACE_ID
            or span_id == ZERO_SPAN_ID
            or end < start
            or (parent_span_id and len(parent_span_id) != 8)
        ):
            problem = span_problem(trace_id, span_id, parent_span_id, start, end)
            result.reject(span_label(f"{path}[{index}]", span_id), str(problem))
            continue

        encoded_links = span.links
        if encoded_links:
            links = _links(encoded_links, limits, texts, result)
            if isinstance(links, str):
                result.reject(span_label(f"{path}[{index}]", span_id), links)
                continue
        else:
            links = ([], [], [], [])

        attributes = dict(map(text_of, span.attributes))
        if len(attributes) > max_attributes:
            attributes, dropped = cap_attributes(attributes, max_attributes)
            result.dropped_attributes += dropped

        encoded_events = span.events
        events = _events(encoded_events, limits, texts, result) if encoded_events else ([], [], [])

        encoded_status = span.status
        status = known_status(encoded_status)
        if status is None:
            decoded_status = Status.FromString(encoded_status)
            status = (STATUS_CODE_TEXT.get(decoded_status.code, ""), decoded_status.message)
            statuses[encoded_status] = status

        append_row(
            (
                start,
                trace_id.hex(),
                span_id.hex(),
                ""
                if not parent_span_id or parent_span_id == ZERO_SPAN_ID
                else parent_span_id.hex(),
                span.trace_state,
                span.name,
                kind_text(span.kind, ""),
                service_name,
                resource_attributes,
                scope_name,
                scope_version,
                attributes,
                end - start,
                status[0],
                status[1],
                *events,
                *links,
            )
        )


def _attribute_map(
    encoded_attributes: Iterable[bytes],
    max_count: int,
    texts: _AttributeTexts,
    result: DecodeResult,
) -> dict[str, str]:
    attributes, dropped = cap_attributes(
        dict(map(texts.__getitem__, encoded_attributes)), max_count
    )
    result.dropped_attributes += dropped
    return attributes


def _events(
    encoded_events: list[bytes],
    limits: DecodeLimits,
    texts: _AttributeTexts,
    result: DecodeResult,
) -> tuple[list[int], list[str], list[dict[str, str]]]:
    if len(encoded_events) > limits.max_events_per_span:
        result.dropped_events += len(encoded_events) - limits.max_events_per_span
        encoded_events = encoded_events[: limits.max_events_per_span]
    events = [_parse_event(encoded) for encoded in encoded_events]
    max_count = limits.max_attributes_per_event
    return (
        [event.time_unix_nano for event in events],
        [event.name for event in events],
        [_attribute_map(event.attributes, max_count, texts, result) for event in events],
    )


def _links(
    encoded_links: list[bytes],
    limits: DecodeLimits,
    texts: _AttributeTexts,
    result: DecodeResult,
) -> tuple[list[str], list[str], list[str], list[dict[str, str]]] | str:
    """The four Links columns, or why the links make the span unstorable."""
    links = [_parse_link(encoded) for encoded in encoded_links[: limits.max_links_per_span]]
    for index, link in enumerate(links):
        problem = link_problem(index, link.trace_id, link.span_id)
        if problem:
            return problem
    result.dropped_links += len(encoded_links) - len(links)
    max_count = limits.max_attributes_per_link
    return (
        [id_text(link.trace_id) for link in links],
        [id_text(link.span_id) for link in links],
        [link.trace_state for link in links],
        [_attribute_map(link.attributes, max_count, texts, result) for link in links],
    )
