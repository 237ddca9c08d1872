"""Protobuf requests straight to the warehouse's JSON lines through the compiled decoder
(``collector/native/``), with ``collector.decode`` as its reference and its fallback.

The C code reads the common shapes itself and asks the hooks below for the rest: resource and scope
columns, unusual attribute encodings and rejection messages come from the Python decoder's own
functions. A request it cannot read (malformed, or unusual in a way it leaves to Python) is decoded
by ``decode_protobuf``, which also words the error for a body that is not OTLP. The C walk runs with
the GIL released, taking it back only to call these hooks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Final

from google.protobuf.message import DecodeError

from collector.attribute_text import key_value_text
from collector.decode import decode_protobuf, resource_columns, scope_columns, span_path
from collector.decode_result import (
    BUSINESS_KEY_PREFIX,
    DecodedRequest,
    DecodeResult,
    RequestOverBudget,
    business_attributes_problem,
    link_problem,
    over_budget_message,
    resource_columns_json,
    scope_columns_json,
    span_label,
    span_problem,
)
from collector.limits import DecodeLimits
from warehouse.span_batch import SpanBatch, encode_json_value
from warehouse.spans import SPAN_KIND_NAMES, STATUS_CODE_NAMES

NativeAnswer = tuple[bytes, int, int, int, int, int]
"""(JSON lines, rows, dropped attributes, truncated values, dropped events, dropped links)."""


def _load_native_decoder() -> Callable[..., NativeAnswer | None] | None:
    try:
        from collector._otlp_native import decode_request
    except ImportError:  # installed without a C compiler: the Python decoder serves alone
        return None
    return decode_request


_native_decode_request: Final = _load_native_decoder()
NATIVE_DECODER_BUILT: Final = _native_decode_request is not None

_KIND_TEXTS: Final = tuple(encode_json_value(name).encode() for name in SPAN_KIND_NAMES)
_STATUS_TEXTS: Final = tuple(encode_json_value(name).encode() for name in STATUS_CODE_NAMES)
_BUSINESS_PREFIX: Final = BUSINESS_KEY_PREFIX.encode()


def decode_protobuf_request(body: bytes, limits: DecodeLimits) -> DecodedRequest:
    """The valid spans of a protobuf ``ExportTraceServiceRequest`` as warehouse lines.

    Identical to ``decode_protobuf(body, limits).encoded()``, only faster where the compiled decoder
    is built; raises ``UndecodableRequest`` and ``RequestOverBudget`` the same way.
    """
    decoded = decode_natively(body, limits)
    if decoded is None:
        decoded = decode_protobuf(body, limits).encoded()
    return decoded


def decode_natively(body: bytes, limits: DecodeLimits) -> DecodedRequest | None:
    """The compiled decoder's reading of ``body``; None where it leaves the request to Python
    (always, when it is not built). Raises ``RequestOverBudget`` as ``decode_protobuf`` does."""
    if _native_decode_request is None:
        return None
    tally = DecodeResult()
    try:
        answer = _native_decode_request(
            bytes(body),
            _native_limits(limits),
            _KIND_TEXTS,
            _STATUS_TEXTS,
            _BUSINESS_PREFIX,
            _Hooks(limits, tally),
        )
    except (DecodeError, UnicodeDecodeError):
        return None  # a malformed resource, scope or value: decode_protobuf words the error
    if answer is None:
        return None
    json_lines, row_count, dropped_attributes, truncated_values, dropped_events, dropped_links = (
        answer
    )
    return DecodedRequest(
        SpanBatch(json_lines, row_count),
        tally.rejected_spans,
        tuple(tally.errors),
        dropped_attributes=tally.dropped_attributes + dropped_attributes,
        truncated_values=tally.truncated_values + truncated_values,
        dropped_events=dropped_events,
        dropped_links=dropped_links,
    )


@functools.lru_cache(maxsize=8)
def _native_limits(limits: DecodeLimits) -> tuple[int, ...]:
    """The caps the C code applies itself, in its order (the resource's cap is applied here)."""
    return (
        limits.max_attributes_per_span,
        limits.max_attribute_value_length,
        limits.max_events_per_span,
        limits.max_links_per_span,
        limits.max_attributes_per_event,
        limits.max_attributes_per_link,
        limits.max_business_attributes_per_span,
        limits.max_request_row_bytes,
    )


class _Hooks:
    """What the compiled decoder asks of Python, answered by the Python decoder's own functions.

    Rejections and the resource's cut or dropped attributes are counted in ``tally``.
    """

    __slots__ = ("key_value", "limits", "tally")

    def __init__(self, limits: DecodeLimits, tally: DecodeResult) -> None:
        self.limits = limits
        self.tally = tally
        self.key_value = functools.partial(
            key_value_text, max_length=limits.max_attribute_value_length
        )

    def resource(self, encoded: bytes) -> str:
        """The JSON of the ServiceName and ResourceAttributes columns, comma-separated."""
        return resource_columns_json(*resource_columns(encoded, self.limits, self.tally))

    def scope(self, encoded: bytes) -> str:
        """The JSON of the ScopeName and ScopeVersion columns, comma-separated."""
        return scope_columns_json(*scope_columns(encoded, self.limits, self.tally))

    def span_rejected(
        self,
        resource_index: int,
        scope_index: int,
        span_index: int,
        trace_id: bytes,
        span_id: bytes,
        parent_span_id: bytes,
        start_ns: int,
        end_ns: int,
    ) -> None:
        problem = span_problem(trace_id, span_id, parent_span_id, start_ns, end_ns)
        label = span_label(span_path(resource_index, scope_index, span_index), span_id)
        self.tally.reject(label, str(problem))

    def link_rejected(
        self,
        resource_index: int,
        scope_index: int,
        span_index: int,
        span_id: bytes,
        link_index: int,
        link_trace_id: bytes,
        link_span_id: bytes,
    ) -> None:
        problem = link_problem(link_index, link_trace_id, link_span_id)
        label = span_label(span_path(resource_index, scope_index, span_index), span_id)
        self.tally.reject(label, str(problem))

    def business_rejected(
        self, resource_index: int, scope_index: int, span_index: int, span_id: bytes, count: int
    ) -> None:
        problem = business_attributes_problem(count, self.limits.max_business_attributes_per_span)
        label = span_label(span_path(resource_index, scope_index, span_index), span_id)
        self.tally.reject(label, problem)

    def over_budget(
        self, resource_index: int, scope_index: int, span_index: int, spent: int
    ) -> None:
        span = span_path(resource_index, scope_index, span_index)
        raise RequestOverBudget(over_budget_message(span, spent, self.limits.max_request_row_bytes))
