"""Tamper-evident evidence packs: a lineage's records (summary, every event with its attempts and
raw span facts, every edge) chained by SHA-256 over their canonical JSON, and their verification.

``h[-1] = sha256(FORMAT)``, ``h[i] = sha256(h[i-1] + canonical_json(record[i]))``, root = h[last].
Changing, adding, removing or reordering any record changes every later hash; the root hash, kept
apart by the auditor, also catches a pack whose hashes were all recomputed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from domain.instants import utc
from domain.objects import ObjectRef
from lineage.assembly import Lineage
from lineage.facts import StoredFact, content_hash
from lineage.graph import EventNode

FORMAT: Final = "syncsight.evidence/1"
CHAIN: Final = "h[-1] = sha256(format); h[i] = sha256(h[i-1] + canonical_json(record[i]))"

SpanFacts = Mapping[tuple[str, str, int], Mapping[str, Any]]
"""(trace id, span id, raw span hash) → a raw copy of the span as the exporter stored it."""
StoredFacts = Mapping[tuple[str, str, str], Sequence[StoredFact]]
"""(event id, trace id, span id) → its stored versions, first stored first (lineage/facts.py);
the first is the attempt's fact."""


def raw_span(
    spans: SpanFacts, trace_id: str, span_id: str, fact: StoredFact | None
) -> Mapping[str, Any] | None:
    """The raw copy of the span a stored fact was derived from. A fact stored before migration 13
    (or none) does not know its copy: it gets the span's copy with the smallest hash, the same
    every time (of the copies read: ``lineage.queries.raw_spans`` reads those stored under the
    service, span name and start of one of the span's versions)."""
    if fact is not None and fact.raw_span_hash:
        return spans.get((trace_id, span_id, fact.raw_span_hash))
    copies = sorted(key for key in spans if key[:2] == (trace_id, span_id))
    return spans[copies[0]] if copies else None


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: one byte string per value, whatever re-serialised it."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def instant_text(value: datetime) -> str:
    """An instant as ISO 8601 text in UTC with a ``Z``."""
    return utc(value).isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """JSON-ready without floats (whose text may change in a round trip): instants as ISO text."""
    if isinstance(value, datetime):
        return instant_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _ref(ref: ObjectRef) -> dict[str, str]:
    return {"type": ref.type, "id": ref.id}


def _span(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(raw) if raw is not None else None


def event_record(
    node: EventNode, spans: SpanFacts, facts: StoredFacts | None = None
) -> dict[str, Any]:
    attempts = []
    for attempt in node.attempts:
        versions = (facts or {}).get((node.event_id, attempt.trace_id, attempt.span_id))
        stored = versions[0] if versions else None
        raw = raw_span(spans, attempt.trace_id, attempt.span_id, stored)
        fact = stored.texts if stored is not None else None
        attempts.append(
            {
                "attempt": attempt.attempt,
                "timestamp": attempt.timestamp,
                "outcome": attempt.outcome,
                "error_category": attempt.error_category,
                "error_code": attempt.error_code,
                "replay_of": attempt.replay_of,
                "period": attempt.period,
                "trace_id": attempt.trace_id,
                "span_id": attempt.span_id,
                "service_name": attempt.service_name,
                "span": _span(raw),
                "fact": dict(fact) if fact is not None else None,
                "content_hash": content_hash(fact) if fact is not None else None,
            }
        )
    record: dict[str, Any] = _plain(
        {
            "kind": "event",
            "event_id": node.event_id,
            "event_type": node.event_type,
            "outcome": node.outcome,
            "timestamp": node.timestamp,
            "attempts_count": len(node.attempts),
            "deliveries": node.deliveries,
            "replays": node.replays,
            "amount": node.amount,
            "currency": node.currency,
            "period": node.period,
            "legal_entity": node.legal_entity,
            "objects": {t: list(ids) for t, ids in sorted(node.objects.items())},
            "attempts": attempts,
            "conflicts": [
                {
                    "trace_id": version.trace_id,
                    "span_id": version.span_id,
                    "ingested_at": version.ingested_at,
                    "content_hash": version.content_hash,
                    "differs": [
                        {"field": name, "first": first, "conflicting": later}
                        for name, first, later in version.differs
                    ],
                    "fact": dict(version.fact.texts),
                    "span": _span(raw_span(spans, version.trace_id, version.span_id, version.fact)),
                }
                for version in node.conflicts
            ],
        }
    )
    return record


def evidence_records(
    lineage: Lineage,
    root: ObjectRef,
    spans: SpanFacts,
    facts: StoredFacts,
    *,
    known_at: datetime,
) -> list[dict[str, Any]]:
    """The summary, one record per event (oldest first) and one per edge: a function of the
    stored rows known at ``known_at`` only, so the same request gives the same records."""
    summary = {
        "kind": "lineage",
        "root": _ref(root),
        "direction": lineage.direction,
        "known_at": known_at,
        "complete": lineage.complete,
        "truncated": lineage.truncated,
        "source_events": list(lineage.source_events),
        "gaps": [
            {"kind": g.kind, "event_id": g.event_id, "message": g.message} for g in lineage.gaps
        ],
        "events": len(lineage.nodes),
        "edges": len(lineage.edges),
    }
    edges = [
        {"kind": "edge", "from": e.source, "to": e.target, "via": _ref(e.via)}
        for e in lineage.edges
    ]
    return [_plain(summary), *(event_record(n, spans, facts) for n in lineage.nodes), *edges]


def _next_hash(previous: str, record: Any) -> str:
    return hashlib.sha256(previous.encode("ascii") + canonical_json(record)).hexdigest()


def seal(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The pack: every record with its chain hash, and the root hash."""
    previous = hashlib.sha256(FORMAT.encode("ascii")).hexdigest()
    sealed = []
    for record in records:
        previous = _next_hash(previous, record)
        sealed.append({"hash": previous, "record": record})
    return {
        "format": FORMAT,
        "hash_algorithm": "sha256",
        "chain": CHAIN,
        "record_count": len(sealed),
        "records": sealed,
        "root_hash": previous,
    }


@dataclass(frozen=True)
class Verification:
    """The result of checking a pack: intact, or the first record that does not match."""

    intact: bool
    message: str
    first_altered: int | None = None
    root_hash: str = ""


def _label(entry: Any) -> str:
    record = entry.get("record") if isinstance(entry, dict) else None
    if not isinstance(record, dict):
        return "(not a record)"
    kind = record.get("kind", "?")
    if kind == "event":
        return f"event {record.get('event_id')!s}"
    if kind == "edge":
        return f"edge {record.get('from')!s} -> {record.get('to')!s}"
    return str(kind)


def verify(pack: Any, *, expected_root: str | None = None) -> Verification:
    """Recompute the chain; name the first record (0-based) whose hash does not follow."""
    if not isinstance(pack, dict) or pack.get("format") != FORMAT:
        found = pack.get("format") if isinstance(pack, dict) else type(pack).__name__
        return Verification(False, f"not an evidence pack: format {found!r}, expected {FORMAT!r}")
    records = pack.get("records")
    if not isinstance(records, list):
        return Verification(False, "the pack has no list of records")
    previous = hashlib.sha256(FORMAT.encode("ascii")).hexdigest()
    for index, entry in enumerate(records):
        if not isinstance(entry, dict) or "record" not in entry:
            return Verification(False, f"record {index} is malformed", index)
        try:
            previous = _next_hash(previous, entry["record"])
        except ValueError as error:
            return Verification(False, f"record {index} cannot be serialised: {error}", index)
        if entry.get("hash") != previous:
            return Verification(
                False,
                f"record {index} ({_label(entry)}) was altered, added, removed or moved: its "
                "hash does not follow from the records before it",
                index,
            )
    if pack.get("record_count") != len(records):
        return Verification(
            False,
            f"the pack says {pack.get('record_count')!r} records but holds {len(records)}: records "
            "were added or removed at the end",
            min(len(records), int(pack.get("record_count") or 0)),
        )
    if pack.get("root_hash") != previous:
        return Verification(
            False,
            "the root hash does not match the last record: records were added or removed at the end",
            len(records),
        )
    if expected_root is not None and expected_root != previous:
        return Verification(
            False,
            f"the chain is consistent but its root hash {previous} is not the expected "
            f"{expected_root}: the pack was rebuilt",
            None,
            previous,
        )
    return Verification(
        True, f"intact: {len(records)} records, root hash {previous}", None, previous
    )


class UnreadableFile(ValueError):
    """A file that cannot be read or is not JSON; the message names it and says which."""


def read_json(path: Path) -> Any:
    """The JSON document stored at ``path``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UnreadableFile(f"{path}: cannot read the file ({error.strerror})") from None
    except ValueError as error:
        raise UnreadableFile(f"{path}: not JSON ({error})") from None


def verify_file(path: Path, *, expected_root: str | None = None) -> Verification:
    """Verify the evidence pack stored at ``path``; an unreadable or non-JSON file fails too."""
    try:
        pack = read_json(path)
    except UnreadableFile as error:
        return Verification(False, str(error))
    return verify(pack, expected_root=expected_root)
