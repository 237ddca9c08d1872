"""Caps on what one span may carry into ``otel_traces``; excess is dropped or truncated, not refused.

Defaults follow the OpenTelemetry SDK's span limits (128 of each, values cut at a generous length).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Per-span caps applied while decoding.

    Attributes over a count cap are dropped keeping wire order, except that ``biz.*`` keys are never
    dropped and go first. Values whose text is longer than ``max_attribute_value_length`` characters
    are cut to it; inside array and map values each string element is cut instead, so the stored
    JSON stays valid.
    """

    max_attributes_per_span: int = 128
    max_attribute_value_length: int = 4096
    max_events_per_span: int = 128
    max_links_per_span: int = 128
    max_attributes_per_event: int = 128
    max_attributes_per_link: int = 128
    max_attributes_per_resource: int = 128

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            if type(value) is not int or value < 0:
                raise ValueError(f"DecodeLimits.{limit.name} must be an int >= 0, got {value!r}")
