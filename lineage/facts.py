"""A stored business fact as a Merkle leaf: one ``biz_events`` row as the text of its fields, in a
fixed order, each written ``<byte length>:<UTF-8 bytes>,`` (a netstring) after the format tag.

The engine computes the leaves of a whole day (``LEAF_HASH_SQL``) and an auditor's verifier the
leaf of one fact in a pack (``fact_leaf``); length prefixes make both the same bytes without any
escaping rules to agree on. The field texts are the engine's own (``toString``), read once into
the pack, never re-formatted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

FACT_FORMAT: Final = "syncsight.fact/1"

FACT_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("event_id", "EventId"),
    ("trace_id", "TraceId"),
    ("span_id", "SpanId"),
    ("ingested_at", "toString(IngestedAt)"),
    ("event_type", "toString(EventType)"),
    ("event_time", "toString(EventTime)"),
    ("duration_ns", "toString(DurationNs)"),
    ("source_system", "toString(SourceSystem)"),
    ("target_system", "toString(TargetSystem)"),
    ("outcome", "toString(Outcome)"),
    ("error_category", "toString(ErrorCategory)"),
    ("error_code", "ErrorCode"),
    ("amount", "ifNull(toString(Amount), '')"),
    ("currency", "toString(Currency)"),
    ("period", "toString(Period)"),
    ("legal_entity", "toString(LegalEntity)"),
    ("customer", "Customer"),
    ("attempt", "toString(Attempt)"),
    ("replay_of", "ReplayOf"),
    ("service_name", "toString(ServiceName)"),
    ("span_name", "toString(SpanName)"),
    ("span_status", "toString(SpanStatus)"),
    ("status_message", "StatusMessage"),
    ("object_refs", "toString(ObjectRefs)"),
)
"""(name in the pack, the engine's text of it) for every column of ``biz_events``."""

FACT_NAMES: Final = tuple(name for name, _ in FACT_FIELDS)

FACT_TEXTS_SQL: Final = "[" + ", ".join(expression for _, expression in FACT_FIELDS) + "]"
"""An ``Array(String)`` of a ``biz_events`` row's field texts, in ``FACT_FIELDS`` order."""


def _netstring_sql(expression: str) -> str:
    """The arguments of ``concat`` that write ``expression``'s text as a netstring."""
    return f"toString(length({expression})), ':', {expression}, ','"


LEAF_HASH_SQL: Final = (
    f"SHA256(concat(char(0), '{len(FACT_FORMAT.encode())}:{FACT_FORMAT},', "
    + ", ".join(_netstring_sql(expression) for _, expression in FACT_FIELDS)
    + "))"
)
"""RFC 9162 leaf hash of a ``biz_events`` row, in the engine (``length`` counts bytes): one
``concat`` of every field's netstring (the engine computes each field's text once), about 12 %
less CPU than building an array of the texts and mapping over it
(benchmarks/history/evidence.md, "Tree head, 2026-12-05")."""


KNOWLEDGE_TIME: Final = "ingested_at"

CONTENT_NAMES: Final = tuple(name for name in FACT_NAMES if name != KNOWLEDGE_TIME)
"""A fact's content: every field but its knowledge time. Two stored versions of one span identity
differ in content exactly when the engine's ``ContentHash`` of their rows does."""


def _texts(fact: Mapping[str, object], names: tuple[str, ...]) -> list[str]:
    texts = []
    for name in names:
        value = fact.get(name)
        if not isinstance(value, str):
            raise ValueError(f"fact field {name!r} is {value!r}; expected its stored text")
        texts.append(value)
    return texts


def _netstrings(texts: list[str]) -> bytes:
    return b"".join(
        str(len(encoded)).encode("ascii") + b":" + encoded + b","
        for encoded in (text.encode("utf-8") for text in texts)
    )


def fact_leaf(fact: Mapping[str, object]) -> bytes:
    """The leaf bytes of a fact as a pack carries it (a text per ``FACT_NAMES`` entry)."""
    return _netstrings([FACT_FORMAT, *_texts(fact, FACT_NAMES)])


def content_hash(fact: Mapping[str, object]) -> str:
    """SHA-256 (hex) of a fact's content (``CONTENT_NAMES``, netstrings after the format tag): the
    same for a span stored twice as it was, different for a conflicting version. An auditor
    recomputes it from the texts a pack carries."""
    return hashlib.sha256(_netstrings([FACT_FORMAT, *_texts(fact, CONTENT_NAMES)])).hexdigest()


def differing_fields(first: Mapping[str, str], later: Mapping[str, str]) -> list[str]:
    """The content fields in which a later stored version differs from the first, in fact order."""
    return [name for name in CONTENT_NAMES if first.get(name) != later.get(name)]


@dataclass(frozen=True)
class StoredFact:
    """One stored version of a span: its texts (``FACT_NAMES``) and the hash of the raw span it was
    derived from (``warehouse.schema.RAW_SPAN``, 0 when it was stored before migration 13)."""

    texts: dict[str, str]
    raw_span_hash: int
