"""Protobuf OTLP trace decoding: ``ExportTraceServiceRequest`` bytes in, ``otel_traces`` rows out.

The result and span validation it shares with the JSON decoder live in ``decode_result``, the text
of attribute values in ``attribute_text``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from collector.attribute_text import (
    business_key_count,
    cap_attributes,
    id_text,
    key_value_text,
    resource_attributes_text,
)
from collector.decode_result import (
    SERVICE_NAME_KEY,
    SPAN_KIND_TEXT,
    STATUS_CODE_TEXT,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    DecodeResult,
    RowBudget,
    UndecodableRequest,
    business_attributes_problem,
    capped_text,
    link_problem,
    resource_columns_json,
    scope_columns_json,
    shared_columns_bytes,
    span_label,
    span_problem,
)
from collector.limits import DecodeLimits
from warehouse.spans import STATUS_CODE_NAMES

# The "wire" schema reads the same bytes as the OTLP classes (identical field numbers and wire
# types) but declares attributes, events, links, status, resource and scope as plain ``bytes``: upb
# hands over each encoding without building Python wrappers, which are read lazily below.
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
        key, text, cut = key_value_text(encoded, self.max_length)
        if cut:  # not cached: every span carrying the value counts its truncation
            self.truncated_values += cut
            return key, text
        pair = self[encoded] = (key, text)
        return pair


def decode_protobuf(body: bytes, limits: DecodeLimits) -> DecodeResult:
    """Rows for every valid span of a protobuf ``ExportTraceServiceRequest``.

    Raises ``UndecodableRequest`` when the body is not a well-formed request and
    ``RequestOverBudget`` when its rows would pass ``limits.max_request_row_bytes``; invalid spans
    are only counted and described in the result.
    """
    result = DecodeResult()
    budget = RowBudget(limits.max_request_row_bytes)
    try:
        request = _parse_request(body)
        texts = _AttributeTexts(limits.max_attribute_value_length)
        statuses: dict[bytes, tuple[str, str, int]] = {b"": (STATUS_CODE_NAMES[0], "", 0)}
        for resource_index, resource_spans in enumerate(request.resource_spans):
            service_name, resource_attributes = resource_columns(
                resource_spans.resource, limits, result
            )
            resource_json = resource_columns_json(service_name, resource_attributes)
            for scope_index, scope_spans in enumerate(resource_spans.scope_spans):
                scope_name, scope_version = scope_columns(scope_spans.scope, limits, result)
                _append_rows(
                    scope_spans.spans,
                    (resource_index, scope_index),
                    (service_name, resource_attributes, scope_name, scope_version),
                    shared_columns_bytes(
                        resource_json, scope_columns_json(scope_name, scope_version)
                    ),
                    limits,
                    (texts, statuses, budget),
                    result,
                )
    except (DecodeError, UnicodeDecodeError) as error:
        raise UndecodableRequest(f"protobuf parse error: {error}") from None
    result.truncated_values += texts.truncated_values
    return result


def resource_columns(
    encoded: bytes, limits: DecodeLimits, result: DecodeResult
) -> tuple[str, dict[str, str]]:
    """ServiceName and ResourceAttributes of an encoded ``Resource``, limits applied and counted."""
    resource = Resource.FromString(encoded)
    attributes = resource_attributes_text(resource.attributes, limits, result)
    return attributes.get(SERVICE_NAME_KEY, ""), attributes


def scope_columns(encoded: bytes, limits: DecodeLimits, result: DecodeResult) -> tuple[str, str]:
    """ScopeName and ScopeVersion of an encoded ``InstrumentationScope``, cut and counted."""
    scope = InstrumentationScope.FromString(encoded)
    name, name_cut = capped_text(scope.name, limits.max_attribute_value_length)
    version, version_cut = capped_text(scope.version, limits.max_attribute_value_length)
    result.truncated_values += name_cut + version_cut
    return name, version


def span_path(resource_index: int, scope_index: int, span_index: int) -> str:
    """How errors locate a span in the request."""
    return f"resourceSpans[{resource_index}].scopeSpans[{scope_index}].spans[{span_index}]"


def _append_rows(
    spans: Iterable[Any],
    scope_path: tuple[int, int],
    shared: tuple[str, dict[str, str], str, str],
    shared_bytes: int,
    limits: DecodeLimits,
    request_state: tuple[_AttributeTexts, dict[bytes, tuple[str, str, int]], RowBudget],
    result: DecodeResult,
) -> None:
    """Append the rows of one ``ScopeSpans``: the hot loop of ingest, kept flat on purpose.

    The order of steps is the compiled decoder's (collector/native/request_rows.c): validation,
    span attributes and their ``biz.*`` cap, links, events, status, text caps, row budget.
    """
    service_name, resource_attributes, scope_name, scope_version = shared
    texts, statuses, budget = request_state
    append_row = result.rows.append
    text_of = texts.__getitem__
    known_status = statuses.get
    kind_text = SPAN_KIND_TEXT.get
    max_attributes = limits.max_attributes_per_span
    max_business = limits.max_business_attributes_per_span
    max_length = limits.max_attribute_value_length
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
            result.reject(span_label(span_path(*scope_path, index), span_id), str(problem))
            continue

        attributes = dict(map(text_of, span.attributes))
        if len(attributes) > max_business:
            business = business_key_count(attributes)
            if business > max_business:
                result.reject(
                    span_label(span_path(*scope_path, index), span_id),
                    business_attributes_problem(business, max_business),
                )
                continue

        encoded_links = span.links
        if encoded_links:
            links = _links(encoded_links, limits, texts, result)
            if isinstance(links, str):
                result.reject(span_label(span_path(*scope_path, index), span_id), links)
                continue
        else:
            links = ([], [], [], [])

        if len(attributes) > max_attributes:
            attributes, dropped = cap_attributes(attributes, max_attributes)
            result.dropped_attributes += dropped

        encoded_events = span.events
        events = _events(encoded_events, limits, texts, result) if encoded_events else ([], [], [])

        encoded_status = span.status
        status = known_status(encoded_status)
        if status is None:
            decoded_status = Status.FromString(encoded_status)
            message, cut = capped_text(decoded_status.message, max_length)
            status = (STATUS_CODE_TEXT.get(decoded_status.code, ""), message, cut)
            statuses[encoded_status] = status
        name = span.name
        trace_state = span.trace_state
        if len(name) > max_length or len(trace_state) > max_length or status[2]:
            name, name_cut = capped_text(name, max_length)
            trace_state, trace_state_cut = capped_text(trace_state, max_length)
            result.truncated_values += name_cut + trace_state_cut + status[2]

        budget.spend(shared_bytes, span_path(*scope_path, index))
        append_row(
            (
                start,
                trace_id.hex(),
                span_id.hex(),
                ""
                if not parent_span_id or parent_span_id == ZERO_SPAN_ID
                else parent_span_id.hex(),
                trace_state,
                name,
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
        [_capped(event.name, limits, result) for event in events],
        [_attribute_map(event.attributes, max_count, texts, result) for event in events],
    )


def _capped(text: str, limits: DecodeLimits, result: DecodeResult) -> str:
    text, cut = capped_text(text, limits.max_attribute_value_length)
    result.truncated_values += cut
    return text


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
        [_capped(link.trace_state, limits, result) for link in links],
        [_attribute_map(link.attributes, max_count, texts, result) for link in links],
    )
