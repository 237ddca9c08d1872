"""The object reference: one enterprise object (contract, invoice, …) by its type and durable id."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ObjectRef:
    """One enterprise object: its type (``domain.semconv.OBJECT_TYPES``) and durable id."""

    type: str
    id: str
