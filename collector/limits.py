"""Caps on what one span, and one request, may carry into ``otel_traces``.

Excess attributes, events and links are dropped and long texts cut; a span carrying too many
``biz.*`` keys is refused alone; a request whose rows would repeat its resource and scope columns
past the row budget is refused whole. Defaults follow the OpenTelemetry SDK's span limits (128 of
each, values cut at a generous length).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Per-span and per-request caps applied while decoding.

    Attributes over a count cap are dropped keeping wire order, except that ``biz.*`` keys are not
    dropped and go first. A span with more than ``max_business_attributes_per_span`` distinct
    ``biz.*`` keys is rejected (reported in the OTLP partial success); a resource keeps at most
    ``max_business_attributes_per_resource`` of them, the first ones. Every text (attribute values,
    span name, trace state, status message, event names, scope name and version) longer than
    ``max_attribute_value_length`` characters is cut to it; inside array and map values each string
    element is cut instead, so the stored JSON stays valid. ``max_request_row_bytes`` bounds the
    bytes of resource and scope columns that the rows of one request repeat (their JSON text once
    per stored span): a request over it is refused with ``RequestOverBudget``.
    """

    max_attributes_per_span: int = 128
    max_attribute_value_length: int = 4096
    max_events_per_span: int = 128
    max_links_per_span: int = 128
    max_attributes_per_event: int = 128
    max_attributes_per_link: int = 128
    max_attributes_per_resource: int = 128
    max_business_attributes_per_span: int = 64
    max_business_attributes_per_resource: int = 64
    max_request_row_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            if type(value) is not int or value < 0:
                raise ValueError(f"DecodeLimits.{limit.name} must be an int >= 0, got {value!r}")
