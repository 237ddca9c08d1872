"""The offline checks of ``syncsight verify-evidence``: an evidence pack's hash chain, its signature,
the inclusion proofs of its facts against signed tree heads, and the consistency of two heads of
one day. Pure: documents and keys in, a list of named results out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lineage.evidence import instant_text, verify
from lineage.facts import fact_leaf
from lineage.merkle import leaf_hash, verify_consistency, verify_inclusion
from lineage.signing import EVIDENCE_ROOT, key_id, signature_valid
from lineage.tree_head import HeadError, TreeHead

OK: Final = "ok"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"


@dataclass(frozen=True)
class Check:
    """One named check and its outcome (ok, failed or skipped) with the reason."""

    name: str
    status: str
    message: str

    @property
    def failed(self) -> bool:
        return self.status == FAILED


FactKey = tuple[str, str, str, str]
"""(event id, trace id, span id, knowledge time as ISO text with ``Z``): one stored version."""


def _facts(pack: dict[str, Any]) -> Iterator[tuple[FactKey, dict[str, Any]]]:
    """Every stored fact the pack's event records carry, the facts of their attempts and the
    conflicting versions, by span identity and knowledge time."""
    for entry in pack.get("records", []):
        record = entry.get("record") if isinstance(entry, dict) else None
        if not isinstance(record, dict) or record.get("kind") != "event":
            continue
        attempts = [a.get("fact") for a in record.get("attempts") or [] if isinstance(a, dict)]
        conflicts = [c.get("fact") for c in record.get("conflicts") or [] if isinstance(c, dict)]
        for fact in (*attempts, *conflicts):
            if isinstance(fact, dict):
                yield (str(record.get("event_id")), str(fact.get("trace_id")),
                       str(fact.get("span_id")), _knowledge_text(fact.get("ingested_at"))), fact  # fmt: skip


def _knowledge_text(value: Any) -> str:
    """A stored knowledge time (the engine's text) as proofs name it; the text itself if it is none."""
    try:
        return instant_text(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _ledger(pack: dict[str, Any]) -> dict[str, Any]:
    section = pack.get("ledger")
    return section if isinstance(section, dict) else {}


def _hex(value: Any) -> bytes | None:
    try:
        return bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        return None


def check_signature(pack: dict[str, Any], public_key: Ed25519PublicKey | None) -> Check:
    signature = pack.get("signature")
    if public_key is None:
        return Check("signature", SKIPPED, "no --key given: the root's signature is not checked")
    if not isinstance(signature, dict):
        return Check("signature", FAILED, "the pack carries no signature")
    if signature.get("key_id") != key_id(public_key):
        return Check(
            "signature",
            FAILED,
            f"signed by key {signature.get('key_id')!r}, the given key is {key_id(public_key)}",
        )
    fields = {"root_hash": pack.get("root_hash")}
    if not signature_valid(public_key, EVIDENCE_ROOT, fields, signature.get("value")):
        return Check("signature", FAILED, "the signature does not sign this root hash")
    return Check("signature", OK, f"root hash signed by key {key_id(public_key)}")


def _heads(
    pack: dict[str, Any], given: Sequence[TreeHead], public_key: Ed25519PublicKey | None
) -> tuple[dict[str, TreeHead], list[Check]]:
    """The head each day's proofs are checked against: the one given (kept by the auditor) or
    else the pack's own, each with its signature checked when a key is given."""
    checks: list[Check] = []
    chosen: dict[str, TreeHead] = {}
    ledger = _ledger(pack)
    for number, document in enumerate(ledger.get("heads") or []):
        try:
            head = TreeHead.from_json(document, source=f"the pack's head {number}")
        except HeadError as error:
            checks.append(Check("heads", FAILED, str(error)))
            continue
        chosen[head.day.isoformat()] = head
    for head in given:
        day = head.day.isoformat()
        own = chosen.get(day)
        if own is not None and own.tree_size != head.tree_size:
            # Proofs of one size cannot lead to the root of another: they are checked against
            # the pack's own (signed) head, so that only a changed fact or proof reads "tampered".
            checks.append(
                Check(
                    "heads",
                    FAILED,
                    f"day {day}: the pack's proofs are against tree size {own.tree_size} (root "
                    f"{own.root_hash}), the given head has size {head.tree_size} (root "
                    f"{head.root_hash}): fetch /api/v1/ledger/heads/{day}/{own.tree_size}, or "
                    "check the two heads with --consistency",
                )
            )
            continue
        if own is not None and own.root_hash != head.root_hash:
            checks.append(
                Check(
                    "heads",
                    FAILED,
                    f"day {day}: the pack's head and the given head both have {head.tree_size} "
                    f"facts but other roots (the pack's {own.root_hash}, the given "
                    f"{head.root_hash}): one of them is not the ledger's; the proofs are checked "
                    "against the given head",
                )
            )
        chosen[day] = head
    if public_key is not None:
        for day, head in sorted(chosen.items()):
            if not head.signature_valid(public_key):
                checks.append(Check("heads", FAILED, f"day {day}: the head's signature is invalid"))
    if not any(c.failed for c in checks):
        signed = "signed, " if public_key is not None else "signatures not checked, "
        checks.append(Check("heads", OK, f"{len(chosen)} head(s), {signed}{', '.join(chosen)}"))
    return chosen, checks


def check_proofs(
    pack: dict[str, Any], heads: Sequence[TreeHead], public_key: Ed25519PublicKey | None
) -> list[Check]:
    """Every proof leads from its fact's leaf to its day's head; facts without a proof are
    counted (their day was not sealed far enough when the pack was made)."""
    chosen, checks = _heads(pack, heads, public_key)
    facts = dict(_facts(pack))
    ledger = _ledger(pack)
    proven = 0
    for proof in ledger.get("proofs") or []:
        identity = (
            str(proof.get("event_id")),
            str(proof.get("trace_id")),
            str(proof.get("span_id")),
        )
        stored = proof.get("ingested_at")
        label = f"fact {identity[0]} (span {identity[2]}, stored {stored})"
        if stored is None:  # a pack made before conflicting versions: its one fact per span
            fact = next((f for key, f in facts.items() if key[:3] == identity), None)
        else:
            fact = facts.get((*identity, str(stored)))
        head = chosen.get(str(proof.get("day")))
        path = [_hex(value) for value in proof.get("audit_path") or []]
        if fact is None:
            checks.append(Check("proofs", FAILED, f"{label}: proven, but not in the records"))
            continue
        if head is None or any(value is None for value in path):
            checks.append(Check("proofs", FAILED, f"{label}: no head or a malformed audit path"))
            continue
        try:
            leaf = leaf_hash(fact_leaf(fact))
        except ValueError as error:
            checks.append(Check("proofs", FAILED, f"{label}: {error}"))
            continue
        root = _hex(head.root_hash) or b""
        index, size = proof.get("leaf_index"), proof.get("tree_size")
        if not (
            isinstance(index, int)
            and size == head.tree_size
            and verify_inclusion(
                leaf, index, head.tree_size, [p for p in path if p is not None], root
            )
        ):
            checks.append(
                Check(
                    "proofs",
                    FAILED,
                    f"{label}: not included in day {head.day}'s tree of {head.tree_size} facts "
                    "(the fact, its proof or the head was changed)",
                )
            )
            continue
        proven += 1
    unproven_entries = [e for e in ledger.get("unproven") or [] if isinstance(e, dict)]
    checks.extend(_facts_without_proof(facts, ledger.get("proofs") or [], unproven_entries))
    checks.extend(_unproven_under_a_head(facts, unproven_entries, chosen))
    unproven = len(ledger.get("unproven") or [])
    if not any(c.failed for c in checks if c.name == "proofs"):
        checks.append(
            Check(
                "proofs",
                OK,
                f"{proven} fact(s) included in their day's tree"
                + (f"; {unproven} not yet sealed when the pack was made" if unproven else ""),
            )
        )
    return checks


def _facts_without_proof(
    facts: dict[FactKey, dict[str, Any]],
    proofs: Sequence[Any],
    unproven: Sequence[dict[str, Any]],
) -> list[Check]:
    """A fact of the records that has no proof and is not listed as unproven: its proof was taken
    out of the pack (``ledger`` sits outside the chain), so the fact is not shown to be in the
    ledger; one check names the first such fact and counts them."""
    entries = [e for e in (*proofs, *unproven) if isinstance(e, dict)]
    dated = {
        (str(e.get("event_id")), str(e.get("trace_id")), str(e.get("span_id")),
         _knowledge_text(e.get("ingested_at")))
        for e in entries
        if e.get("ingested_at") is not None
    }  # fmt: skip
    undated = {  # packs made before conflicting versions name a fact by its span alone
        (str(e.get("event_id")), str(e.get("trace_id")), str(e.get("span_id")))
        for e in entries
        if e.get("ingested_at") is None
    }
    missing = [key for key in facts if key not in dated and key[:3] not in undated]
    if not missing:
        return []
    event_id, _, span_id, stored = missing[0]
    return [
        Check(
            "proofs",
            FAILED,
            f"fact {event_id} (span {span_id}, stored {stored}) has no inclusion proof and is not "
            f"listed as unproven ({len(missing)} such fact(s)): a proof was removed from the pack",
        )
    ]


def _unproven_under_a_head(
    facts: dict[FactKey, dict[str, Any]],
    unproven: Sequence[dict[str, Any]],
    heads: dict[str, TreeHead],
) -> list[Check]:
    """A fact listed as unproven although a head of its day (the pack's own or one given) was
    sealed up to its knowledge time or later: that head's tree holds every fact of the day stored
    by then, so the fact's proof was taken out of the pack and the fact listed as not sealed yet
    (which the chain does not cover), or the fact became visible only after the seal and the
    ledger does not cover it. Either way it is not shown to be in the ledger. A fact whose day
    has no head here is not judged: give the day's published head (``--head``) to judge it. The
    knowledge time is the chained fact's, not the entry's ``day`` or ``ingested_at``, which the
    chain does not cover either (an entry without one, or with one of no time zone, stands for
    the facts of its span)."""
    covered = []
    for entry in unproven:
        for instant in _listed_instants(facts, entry):
            head = heads.get(instant.date().isoformat())
            if head is not None and instant <= head.timestamp:
                covered.append((entry, instant, head))
                break
    if not covered:
        return []
    entry, instant, head = covered[0]
    return [
        Check(
            "proofs",
            FAILED,
            f"fact {entry.get('event_id')} (span {entry.get('span_id')}, stored "
            f"{instant_text(instant)}) is listed as not yet sealed, but day {head.day}'s head "
            f"of {head.tree_size} facts was sealed up to {instant_text(head.timestamp)} "
            f"({len(covered)} such fact(s)): its proof was taken out of the pack, or the fact "
            "became visible after the seal and the ledger does not cover it",
        )
    ]


def _listed_instants(facts: dict[FactKey, dict[str, Any]], entry: dict[str, Any]) -> list[datetime]:
    """The knowledge times (UTC) of the chained facts an unproven entry stands for: the fact it
    names by span and knowledge time, else (an entry that names none) every fact of its span;
    an entry that stands for no fact of the records, its own (zoned) knowledge time."""
    span = (str(entry.get("event_id")), str(entry.get("trace_id")), str(entry.get("span_id")))
    stored = entry.get("ingested_at")
    named = [
        fact
        for key, fact in facts.items()
        if key[:3] == span and (stored is None or key[3] == _knowledge_text(stored))
    ]
    instants = []
    for fact in named or [entry]:  # an entry that names no fact of the records: its own time
        try:
            instant = datetime.fromisoformat(str(fact.get("ingested_at")))
        except ValueError:
            continue  # a pack made before conflicting versions: its facts name no knowledge time
        if instant.tzinfo is None and not named:
            continue
        # the engine's text of a stored instant is UTC without a zone
        instants.append(instant.replace(tzinfo=instant.tzinfo or UTC).astimezone(UTC))
    return instants


def check_pack(
    pack: Any,
    *,
    public_key: Ed25519PublicKey | None = None,
    heads: Sequence[TreeHead] = (),
    expected_root: str | None = None,
) -> list[Check]:
    """Chain, signature and inclusion proofs of one pack."""
    chain = verify(pack, expected_root=expected_root)
    checks = [Check("chain", OK if chain.intact else FAILED, chain.message)]
    if not chain.intact or not isinstance(pack, dict):
        return checks
    return [*checks, check_signature(pack, public_key), *check_proofs(pack, heads, public_key)]


def check_consistency(
    old: TreeHead, new_document: Any, *, public_key: Ed25519PublicKey | None = None
) -> list[Check]:
    """The newer head (as ``/api/v1/ledger/heads/{day}/{size}?from_size=`` serves it, with its
    ``consistency`` proof) extends the older one of the same day."""
    try:
        new = TreeHead.from_json(new_document, source="the newer head")
    except HeadError as error:
        return [Check("consistency", FAILED, str(error))]
    checks = []
    if public_key is not None:
        for name, head in (("older", old), ("newer", new)):
            valid = head.signature_valid(public_key)
            checks.append(
                Check(
                    "signature",
                    OK if valid else FAILED,
                    f"the {name} head's signature is {'valid' if valid else 'invalid'}",
                )
            )
    if old.day != new.day:
        return [*checks, Check("consistency", FAILED, f"heads of two days: {old.day}, {new.day}")]
    proof = new_document.get("consistency")
    if old.tree_size > new.tree_size:
        return [
            *checks,
            Check(
                "heads",
                FAILED,
                f"day {new.day}: the first head has {old.tree_size} facts, the second "
                f"{new.tree_size}: give the older head (the smaller tree) first, then the newer "
                f"as /api/v1/ledger/heads/{new.day}/{old.tree_size}?from_size={new.tree_size} "
                "serves it",
            ),
        ]
    if old.tree_size == new.tree_size:
        same = old.root_hash == new.root_hash
        message = "the same head" if same else "one size, two roots: the history was rewritten"
        return [*checks, Check("consistency", OK if same else FAILED, message)]
    if not isinstance(proof, dict) or proof.get("from_size") != old.tree_size:
        return [
            *checks,
            Check(
                "heads",
                FAILED,
                f"the newer head carries no consistency proof from size {old.tree_size}: fetch "
                f"/api/v1/ledger/heads/{new.day}/{new.tree_size}?from_size={old.tree_size}",
            ),
        ]
    path = [_hex(value) for value in proof.get("path") or []]
    old_root, new_root = _hex(old.root_hash), _hex(new.root_hash)
    valid = (
        old_root is not None
        and new_root is not None
        and all(p is not None for p in path)
        and verify_consistency(
            old.tree_size, new.tree_size, old_root, new_root, [p for p in path if p is not None]
        )
    )
    message = (
        f"day {new.day}: the tree of {new.tree_size} facts extends the one of {old.tree_size}"
        if valid
        else f"day {new.day}: the tree of {new.tree_size} facts does not extend the one of "
        f"{old.tree_size}: earlier facts were changed, removed or reordered"
    )
    return [*checks, Check("consistency", OK if valid else FAILED, message)]
