"""OTLP/JSON trace decoding: the JSON form of ``ExportTraceServiceRequest`` in, ``otel_traces`` rows out.

OTLP's JSON is not plain proto3 JSON (ids are hex, enums integers), so the body is read with the
json module and walked here; validation, limits and value text are shared with ``collector.decode``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.attribute_text import (
    business_key_count,
    cap_attributes,
    double_text,
    go_json,
    id_text,
)
from collector.decode_result import (
    SERVICE_NAME_KEY,
    SPAN_KIND_TEXT,
    STATUS_CODE_TEXT,
    DecodeResult,
    Row,
    RowBudget,
    UndecodableRequest,
    business_attributes_problem,
    capped_text,
    link_problem,
    resource_columns_json,
    scope_columns_json,
    shared_columns_bytes,
    span_problem,
)
from collector.limits import DecodeLimits

_KIND_BY_NAME: Final = dict(Span.SpanKind.items())
"""``SPAN_KIND_SERVER`` → 2 …: proto3 JSON allows enum names where OTLP writes integers."""
_STATUS_CODE_BY_NAME: Final = dict(Status.StatusCode.items())
_INT64_RANGE: Final = range(-(1 << 63), 1 << 63)
_UINT64_RANGE: Final = range(1 << 64)
_VALUE_KINDS: Final = {
    "stringValue": "string",
    "string_value": "string",
    "boolValue": "bool",
    "bool_value": "bool",
    "intValue": "int",
    "int_value": "int",
    "doubleValue": "double",
    "double_value": "double",
    "arrayValue": "array",
    "array_value": "array",
    "kvlistValue": "kvlist",
    "kvlist_value": "kvlist",
    "bytesValue": "bytes",
    "bytes_value": "bytes",
}
"""Both spellings of the ``AnyValue`` members, as proto3 JSON parsers accept either."""


class _UnreadableSpanError(ValueError):
    """Something inside one span (or its attributes, events, links) has the wrong JSON shape."""


def decode_json(body: bytes, limits: DecodeLimits) -> DecodeResult:
    """Rows for every valid span of an OTLP/JSON ``ExportTraceServiceRequest``.

    Raises ``UndecodableRequest`` when the body is not JSON, is nested deeper than Python can
    walk, or its structure above the spans is wrong, and ``RequestOverBudget`` when its rows would
    pass ``limits.max_request_row_bytes``; a span that is invalid or has a wrongly shaped member is
    only counted and described.
    """
    try:
        try:
            document = json.loads(body)
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
            raise UndecodableRequest(f"JSON parse error: {error}") from None
        return _decode_document(document, limits)
    except RecursionError:
        raise UndecodableRequest(
            "JSON nested too deeply: OTLP trace requests are a few levels deep, "
            "attribute values at most a few more"
        ) from None


def _decode_document(document: Any, limits: DecodeLimits) -> DecodeResult:
    request = _container(document, dict, "the top level")
    result = DecodeResult()
    budget = RowBudget(limits.max_request_row_bytes)
    all_resource_spans = _container(
        _member(request, "resourceSpans", "resource_spans"), list, "resourceSpans"
    )
    for resource_index, resource_spans in enumerate(all_resource_spans):
        path = f"resourceSpans[{resource_index}]"
        resource_spans = _container(resource_spans, dict, path)
        resource = _container(_member(resource_spans, "resource"), dict, f"{path}.resource")
        try:
            resource_attributes = _attribute_map(
                _member(resource, "attributes"),
                limits.max_attributes_per_resource,
                limits,
                result,
                max_business=limits.max_business_attributes_per_resource,
            )
        except _UnreadableSpanError as error:
            raise UndecodableRequest(f"JSON: {path}.resource.{error}") from None
        service_name = resource_attributes.get(SERVICE_NAME_KEY, "")
        resource_json = resource_columns_json(service_name, resource_attributes)
        all_scope_spans = _container(
            _member(resource_spans, "scopeSpans", "scope_spans"), list, f"{path}.scopeSpans"
        )
        for scope_index, scope_spans in enumerate(all_scope_spans):
            scope_path = f"{path}.scopeSpans[{scope_index}]"
            scope_spans = _container(scope_spans, dict, scope_path)
            scope = _container(_member(scope_spans, "scope"), dict, f"{scope_path}.scope")
            scope_name, name_cut = capped_text(
                _scope_text(scope, "name", scope_path), limits.max_attribute_value_length
            )
            scope_version, version_cut = capped_text(
                _scope_text(scope, "version", scope_path), limits.max_attribute_value_length
            )
            result.truncated_values += name_cut + version_cut
            shared = (service_name, resource_attributes, scope_name, scope_version)
            shared_bytes = shared_columns_bytes(
                resource_json, scope_columns_json(scope_name, scope_version)
            )
            spans = _container(_member(scope_spans, "spans"), list, f"{scope_path}.spans")
            for index, span in enumerate(spans):
                span_path = f"{scope_path}.spans[{index}]"
                span = _container(span, dict, span_path)
                tally = DecodeResult()  # what was cut or dropped counts only for stored spans
                try:
                    row = _row(span, shared, limits, tally)
                except _UnreadableSpanError as error:
                    row = str(error)
                if isinstance(row, str):
                    result.reject(_span_label(span_path, span), row)
                    continue
                budget.spend(shared_bytes, span_path)
                result.rows.append(row)
                result.dropped_attributes += tally.dropped_attributes
                result.truncated_values += tally.truncated_values
                result.dropped_events += tally.dropped_events
                result.dropped_links += tally.dropped_links
    return result


def _row(
    span: dict[str, Any],
    shared: tuple[str, dict[str, str], str, str],
    limits: DecodeLimits,
    result: DecodeResult,
) -> Row | str:
    """The span's row, or why it cannot be stored."""
    trace_id = _hex_id(_member(span, "traceId", "trace_id"), "traceId")
    span_id = _hex_id(_member(span, "spanId", "span_id"), "spanId")
    parent_span_id = _hex_id(_member(span, "parentSpanId", "parent_span_id"), "parentSpanId")
    start = _uint64(_member(span, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano")
    end = _uint64(_member(span, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano")
    problem = span_problem(trace_id, span_id, parent_span_id, start, end)
    if problem:
        return problem
    attributes = _attribute_map(
        _member(span, "attributes"), limits.max_attributes_per_span, limits, result
    )
    max_business = limits.max_business_attributes_per_span
    if len(attributes) > max_business and business_key_count(attributes) > max_business:
        return business_attributes_problem(business_key_count(attributes), max_business)
    links = _links(_member(span, "links"), limits, result)
    if isinstance(links, str):
        return links
    status = _member(span, "status")
    if status is None:
        status = {}
    elif type(status) is not dict:
        raise _UnreadableSpanError(f"status must be an object, got {_json_type(status)}")
    service_name, resource_attributes, scope_name, scope_version = shared
    return (
        start,
        trace_id.hex(),
        span_id.hex(),
        id_text(parent_span_id),
        _capped(_text(_member(span, "traceState", "trace_state"), "traceState"), limits, result),
        _capped(_text(_member(span, "name"), "name"), limits, result),
        SPAN_KIND_TEXT.get(_enum(_member(span, "kind"), _KIND_BY_NAME, "kind"), ""),
        service_name,
        resource_attributes,
        scope_name,
        scope_version,
        attributes,
        end - start,
        STATUS_CODE_TEXT.get(
            _enum(_member(status, "code"), _STATUS_CODE_BY_NAME, "status.code"), ""
        ),
        _capped(_text(_member(status, "message"), "status.message"), limits, result),
        *_events(_member(span, "events"), limits, result),
        *links,
    )


def _events(
    events: Any, limits: DecodeLimits, result: DecodeResult
) -> tuple[list[int], list[str], list[dict[str, str]]]:
    events = _span_list(events, "events")
    if len(events) > limits.max_events_per_span:
        result.dropped_events += len(events) - limits.max_events_per_span
        events = events[: limits.max_events_per_span]
    times: list[int] = []
    names: list[str] = []
    attributes: list[dict[str, str]] = []
    for index, event in enumerate(events):
        what = f"events[{index}]"
        if type(event) is not dict:
            raise _UnreadableSpanError(f"{what} must be an object, got {_json_type(event)}")
        times.append(
            _uint64(_member(event, "timeUnixNano", "time_unix_nano"), f"{what}.timeUnixNano")
        )
        names.append(_capped(_text(_member(event, "name"), f"{what}.name"), limits, result))
        attributes.append(
            _attribute_map(
                _member(event, "attributes"), limits.max_attributes_per_event, limits, result, what
            )
        )
    return times, names, attributes


def _links(
    links: Any, limits: DecodeLimits, result: DecodeResult
) -> tuple[list[str], list[str], list[str], list[dict[str, str]]] | str:
    """The four Links columns, or why the links make the span unstorable."""
    all_links = _span_list(links, "links")
    links = all_links[: limits.max_links_per_span]
    columns: tuple[list[str], list[str], list[str], list[dict[str, str]]] = ([], [], [], [])
    trace_ids, span_ids, trace_states, attributes = columns
    for index, link in enumerate(links):
        what = f"links[{index}]"
        if type(link) is not dict:
            raise _UnreadableSpanError(f"{what} must be an object, got {_json_type(link)}")
        trace_id = _hex_id(_member(link, "traceId", "trace_id"), f"{what}.traceId")
        span_id = _hex_id(_member(link, "spanId", "span_id"), f"{what}.spanId")
        problem = link_problem(index, trace_id, span_id)
        if problem:
            return problem
        trace_ids.append(id_text(trace_id))
        span_ids.append(id_text(span_id))
        trace_states.append(
            _capped(
                _text(_member(link, "traceState", "trace_state"), f"{what}.traceState"),
                limits,
                result,
            )
        )
        attributes.append(
            _attribute_map(
                _member(link, "attributes"), limits.max_attributes_per_link, limits, result, what
            )
        )
    result.dropped_links += len(all_links) - len(links)
    return columns


# --- attributes --------------------------------------------------------------------------------------


def _attribute_map(
    key_values: Any,
    max_count: int,
    limits: DecodeLimits,
    result: DecodeResult,
    owner: str = "",
    *,
    max_business: int | None = None,
) -> dict[str, str]:
    """A JSON ``KeyValue`` list as the exporter's string map, limits applied and accounted."""
    what = f"{owner}.attributes" if owner else "attributes"
    key_values = _span_list(key_values, what)
    max_length = limits.max_attribute_value_length
    attributes: dict[str, str] = {}
    for index, key_value in enumerate(key_values):
        if type(key_value) is not dict:
            raise _UnreadableSpanError(
                f"{what}[{index}] must be an object, got {_json_type(key_value)}"
            )
        key = key_value.get("key")
        value = key_value.get("value")
        if type(key) is str and type(value) is dict and len(value) == 1:  # the common case first
            text = value.get("stringValue")
            if type(text) is str and len(text) <= max_length:
                attributes[key] = text
                continue
        key = _text(key, f"{what}[{index}].key")
        try:
            raw, cut = _value_raw(value, max_length)
        except _UnreadableSpanError as error:
            raise _UnreadableSpanError(f"{what}[{index}] ({key!r}): {error}") from None
        if isinstance(raw, str):
            text = raw
        elif isinstance(raw, list | dict):
            text = go_json(raw)
        else:
            text = _scalar_text(raw)
            if len(text) > max_length:
                text, cut = text[:max_length], 1
        attributes[key] = text
        result.truncated_values += cut
    attributes, dropped = cap_attributes(attributes, max_count, max_business)
    result.dropped_attributes += dropped
    return attributes


def _value_raw(value: Any, max_length: int) -> tuple[object, int]:
    """``pcommon.Value.AsRaw()`` of a JSON ``AnyValue`` (bytes as base64 text), strings cut to
    ``max_length``; and how many strings were cut."""
    if value is None:
        return None, 0
    if type(value) is not dict:
        raise _UnreadableSpanError(f"value must be an object, got {_json_type(value)}")
    for member, content in value.items():
        kind = _VALUE_KINDS.get(member)
        if kind is None or content is None:
            continue  # unknown members are ignored; null means unset
        if kind == "string" or kind == "bytes":
            if type(content) is not str:
                raise _UnreadableSpanError(f"{member} must be a string, got {_json_type(content)}")
            text = content if kind == "string" else _base64_text(content, member)
            return (text[:max_length], 1) if len(text) > max_length else (text, 0)
        if kind == "bool":
            if type(content) is not bool:
                raise _UnreadableSpanError(f"{member} must be true or false, got {content!r}")
            return content, 0
        if kind == "int":
            return _int64(content, member), 0
        if kind == "double":
            return _double(content, member), 0
        members = _member(content, "values") if type(content) is dict else _MALFORMED
        if members is None:
            members = []
        if type(members) is not list:
            raise _UnreadableSpanError(f"{member} must be an object with a values list")
        if kind == "array":
            items = [_value_raw(item, max_length) for item in members]
            return [raw for raw, _ in items], sum(cut for _, cut in items)
        entries: dict[str, tuple[object, int]] = {}
        for entry in members:
            if type(entry) is not dict:
                raise _UnreadableSpanError(
                    f"{member} values must be objects, got {_json_type(entry)}"
                )
            entries[_text(entry.get("key"), f"{member} key")] = _value_raw(
                entry.get("value"), max_length
            )
        return {key: raw for key, (raw, _) in entries.items()}, sum(
            cut for _, cut in entries.values()
        )
    return None, 0


_MALFORMED: Final = object()


def _scalar_text(raw: object) -> str:
    if raw is None:
        return ""
    if raw is True:
        return "true"
    if raw is False:
        return "false"
    if isinstance(raw, float):
        return double_text(raw)
    return str(raw)


def _base64_text(content: str, member: str) -> str:
    """Standard base64 of the bytes; proto3 JSON also allows the URL-safe alphabet in."""
    try:
        decoded = base64.b64decode(
            content.replace("-", "+").replace("_", "/") + "=" * (-len(content) % 4), validate=True
        )
    except binascii.Error:
        raise _UnreadableSpanError(f"{member} {content[:40]!r} is not base64") from None
    return base64.b64encode(decoded).decode("ascii")


# --- scalars -----------------------------------------------------------------------------------------


def _member(obj: dict[str, Any], camel: str, snake: str = "") -> Any:
    """A member by its lowerCamelCase or its proto (snake_case) name; None when absent or null."""
    value = obj.get(camel)
    if value is None and snake:
        value = obj.get(snake)
    return value


def _container(value: Any, expected: type, path: str) -> Any:
    """``value`` when it has the ``expected`` JSON type (absent or null: empty); else undecodable."""
    if value is None:
        return expected()
    if type(value) is not expected:
        raise UndecodableRequest(
            f"JSON: expected {_json_type(expected())} at {path}, got {_json_type(value)}"
        )
    return value


def _span_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if type(value) is not list:
        raise _UnreadableSpanError(f"{what} must be a list, got {_json_type(value)}")
    return value


def _scope_text(scope: dict[str, Any], member: str, path: str) -> str:
    value = _member(scope, member)
    if value is None:
        return ""
    if type(value) is not str:
        raise UndecodableRequest(
            f"JSON: expected string at {path}.scope.{member}, got {_json_type(value)}"
        )
    return value


def _capped(text: str, limits: DecodeLimits, result: DecodeResult) -> str:
    text, cut = capped_text(text, limits.max_attribute_value_length)
    result.truncated_values += cut
    return text


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        raise _UnreadableSpanError(f"{what} must be a string, got {_json_type(value)}")
    return value


def _hex_id(value: Any, what: str) -> bytes:
    """A hex id in any letter case as bytes (b'' when absent); length is checked by the caller."""
    text = _text(value, what)
    try:
        decoded = bytes.fromhex(text)
    except ValueError:
        decoded = b""
    if len(decoded) * 2 != len(text):  # also refuses the spaces fromhex would skip
        raise _UnreadableSpanError(f"{what} {text[:40]!r} is not hex")
    return decoded


def _uint64(value: Any, what: str) -> int:
    """A fixed64 from a decimal string or a JSON number; 0 when absent."""
    number = _integer(value, what)
    if number not in _UINT64_RANGE:
        raise _UnreadableSpanError(f"{what} {value!r} is out of the unsigned 64-bit range")
    return number


def _int64(value: Any, what: str) -> int:
    number = _integer(value, what)
    if number not in _INT64_RANGE:
        raise _UnreadableSpanError(f"{what} {value!r} is out of the signed 64-bit range")
    return number


def _integer(value: Any, what: str) -> int:
    if value is None:
        return 0
    if type(value) is int:
        return value
    if type(value) is str and value.isascii() and value.removeprefix("-").isdigit():
        return int(value)
    if type(value) is float and value.is_integer():
        return int(value)
    raise _UnreadableSpanError(f"{what} {value!r} is not an integer")


def _double(value: Any, what: str) -> float:
    if type(value) is float or type(value) is int:
        return float(value)
    if type(value) is str:
        try:
            return float(value)  # also "NaN", "Infinity", "-Infinity" as proto3 JSON writes them
        except ValueError:
            pass
    raise _UnreadableSpanError(f"{what} {value!r} is not a number")


def _enum(value: Any, by_name: dict[str, int], what: str) -> int:
    """An enum from its integer (as OTLP writes it) or its name; 0 when absent."""
    if value is None:
        return 0
    if type(value) is int:
        return value
    if type(value) is str and value in by_name:
        return by_name[value]
    raise _UnreadableSpanError(
        f"{what} {value!r} is neither an integer nor one of {sorted(by_name)}"
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _span_label(path: str, span: dict[str, Any]) -> str:
    """How errors name a span: its index path, plus its id when that is readable."""
    span_id = _member(span, "spanId", "span_id")
    if type(span_id) is str and len(span_id) == 16:
        return f"{path} (span id {span_id.lower()})"
    return path
