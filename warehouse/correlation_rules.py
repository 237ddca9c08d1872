"""Correlation rules: which span attribute keys carry the ids of which object type.

The rules are configuration, not code. The default maps ``biz.<object>.id`` to ``<object>``; a site
adds its own keys (``salesforce.opportunity.id`` → ``contract``) in the ``[correlation]`` TOML table.
The materialized views that derive business tables are generated from these rules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from domain import semconv

ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_.:/\-@]{1,200}$")
"""The attribute keys a rule may name. Keys end up as string literals inside generated view DDL,
where server-side parameters cannot be used; this alphabet, checked where the config file is read,
and ``sql_string``'s escaping on top keep any key from changing the SQL."""


@dataclass(frozen=True)
class CorrelationRules:
    """Attribute key → object type, in a stable order (sorted by key)."""

    key_to_object_type: tuple[tuple[str, str], ...]

    @classmethod
    def default(cls) -> CorrelationRules:
        """The ``biz.<object>.id`` convention for every canonical object type."""
        return cls.from_mapping({})

    @classmethod
    def from_mapping(cls, extra: Mapping[str, str]) -> CorrelationRules:
        """The default rules plus ``extra`` (attribute key → object type, checked against
        ``ATTRIBUTE_KEY`` and the object types where the config file is read)."""
        rules = {semconv.object_id_key(t): t for t in semconv.OBJECT_TYPES}
        rules.update(extra)
        return cls(tuple(sorted(rules.items())))

    def keys_by_object_type(self) -> dict[str, list[str]]:
        """Object type → the attribute keys that carry its ids, for every type with a rule."""
        grouped: dict[str, list[str]] = {}
        for key, object_type in self.key_to_object_type:
            grouped.setdefault(object_type, []).append(key)
        return grouped

    def fingerprint(self) -> str:
        """A short stable hash of the rules, stored next to the views generated from them."""
        text = "\n".join(f"{k}={t}" for k, t in self.key_to_object_type)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def sql_string(value: str) -> str:
    """``value`` as a ClickHouse single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def object_refs_expression(rules: CorrelationRules) -> str:
    """SQL for the distinct ``(type, id)`` pairs one ``otel_traces`` row references.

    One pass over the span's attributes: keep the keys that carry ids, map each key to its object
    type, and split JSON array texts (``["TE-1","TE-2"]``) into one pair per element.
    """
    keys = "[" + ", ".join(sql_string(k) for k, _ in rules.key_to_object_type) + "]"
    types = "[" + ", ".join(sql_string(t) for _, t in rules.key_to_object_type) + "]"
    ids = (
        "if(startsWith(v, '['), "
        "arrayMap(x -> if(startsWith(x, '\"'), JSONExtractString(x), x), JSONExtractArrayRaw(v)), "
        "[v])"
    )
    return (
        "arrayDistinct(arrayFilter(p -> p.2 != '', arrayFlatten(arrayMap("
        f"(k, v) -> arrayMap(id -> (transform(k, {keys}, {types}, ''), id), {ids}), "
        f"mapKeys(mapFilter((k, v) -> has({keys}, k) AND v != '', SpanAttributes)), "
        f"mapValues(mapFilter((k, v) -> has({keys}, k) AND v != '', SpanAttributes))))))"
    )
