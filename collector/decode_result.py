"""What decoding one export request yields, and the per-span validation both OTLP decoders share
(protobuf and JSON): the rows, the rejected spans and why, and the enum texts the exporter writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from domain import semconv
from warehouse.span_batch import SpanBatch, encode_json_value, encode_rows
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


class RequestOverBudget(ValueError):
    """The rows of the request would repeat its resource and scope columns past
    ``DecodeLimits.max_request_row_bytes``; nothing in it is stored (HTTP 413)."""


class RowBudget:
    """The bytes of resource and scope columns one request's rows repeat, against its limit."""

    __slots__ = ("limit", "spent")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0

    def spend(self, shared_columns_bytes: int, span: str) -> None:
        """Count one more row repeating ``shared_columns_bytes``; raise once over the limit."""
        self.spent += shared_columns_bytes
        if self.spent > self.limit:
            raise RequestOverBudget(over_budget_message(span, self.spent, self.limit))


def over_budget_message(span: str, spent: int, limit: int) -> str:
    """Why a request is refused for its row budget, naming the span where it ran out."""
    return (
        f"the rows of this request repeat their resource and scope columns in more than {limit} "
        f"bytes (max_request_row_bytes), {spent} bytes by {span}; send fewer spans per request "
        "or smaller resource and scope attributes"
    )


def resource_columns_json(service_name: str, attributes: dict[str, str]) -> str:
    """The ServiceName and ResourceAttributes columns as they appear in a row, comma-separated."""
    return f"{encode_json_value(service_name)},{encode_json_value(attributes)}"


def scope_columns_json(name: str, version: str) -> str:
    """The ScopeName and ScopeVersion columns as they appear in a row, comma-separated."""
    return f"{encode_json_value(name)},{encode_json_value(version)}"


def shared_columns_bytes(resource_json: str, scope_json: str) -> int:
    """UTF-8 bytes every row of one scope repeats: resource and scope columns and their comma."""
    return len(resource_json.encode()) + 1 + len(scope_json.encode())


def business_attributes_problem(count: int, limit: int) -> str:
    """Why a span carrying ``count`` distinct ``biz.*`` keys is refused."""
    return (
        f"{count} biz.* attributes, more than the {limit} a span may carry "
        "(max_business_attributes_per_span)"
    )


def capped_text(text: str, max_length: int) -> tuple[str, int]:
    """``text`` cut to ``max_length`` characters; and 1 when it was cut, else 0."""
    if len(text) > max_length:
        return text[:max_length], 1
    return text, 0


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
        """One line for an OTLP partial-success answer: the rejected spans, then what was cut from
        the stored ones; '' when every span was stored whole."""
        return partial_success_message(self.rejected_spans, self.errors, cut_summary(self))

    def encoded(self) -> DecodedRequest:
        """The same outcome with the rows encoded for the warehouse."""
        return DecodedRequest(
            encode_rows(self.rows),
            self.rejected_spans,
            tuple(self.errors),
            dropped_attributes=self.dropped_attributes,
            truncated_values=self.truncated_values,
            dropped_events=self.dropped_events,
            dropped_links=self.dropped_links,
        )


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """What the ingest pipeline takes from a decoder: the valid spans as a ``SpanBatch`` for the
    writer, and the same account of refused and cut data as ``DecodeResult``."""

    spans: SpanBatch
    rejected_spans: int
    errors: tuple[str, ...]
    dropped_attributes: int = 0
    truncated_values: int = 0
    dropped_events: int = 0
    dropped_links: int = 0

    @property
    def error_message(self) -> str:
        """One line for an OTLP partial-success answer: the rejected spans, then what was cut from
        the stored ones; '' when every span was stored whole."""
        return partial_success_message(self.rejected_spans, self.errors, cut_summary(self))


def partial_success_message(rejected_spans: int, errors: Sequence[str], cut: str = "") -> str:
    """'3 spans rejected: <first problems>; and N more', then ``cut`` (a warning, the OTLP
    specification allows it with nothing rejected); '' when there is neither."""
    parts = [cut] if cut else []
    if rejected_spans:
        unreported = rejected_spans - len(errors)
        more = f"; and {unreported} more" if unreported else ""
        noun = "span" if rejected_spans == 1 else "spans"
        parts.insert(0, f"{rejected_spans} {noun} rejected: " + "; ".join(errors) + more)
    return ". ".join(parts)


def cut_summary(outcome: DecodeResult | DecodedRequest) -> str:
    """What the decode limits cut from stored spans, or ''."""
    counts = (
        (outcome.truncated_values, "texts cut to max_attribute_value_length"),
        (outcome.dropped_attributes, "attributes dropped over their count caps"),
        (outcome.dropped_events, "events dropped over max_events_per_span"),
        (outcome.dropped_links, "links dropped over max_links_per_span"),
    )
    cuts = [f"{count} {what}" for count, what in counts if count]
    return "limits applied: " + ", ".join(cuts) if cuts else ""


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
