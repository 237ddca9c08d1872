"""The offline checks of a completeness-and-accuracy report (``syncsight verify-evidence --report``):
its root hash over the body, the hash of its query, and the signature of its root. Pure: the
document and a key in, named results out."""

from __future__ import annotations

from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lineage.audit_report import query_hash, root_of
from lineage.pack_check import FAILED, OK, Check, check_signature

REPORT_FORMAT: Final = "syncsight.audit-report/1"
OUTSIDE_THE_ROOT: Final = ("root_hash", "signature", "ledger_heads", "generated_at")
"""What the service adds around the body it hashes (docs/operations.md, "Signed and ledgered")."""


def check_report(document: Any, *, public_key: Ed25519PublicKey | None = None) -> list[Check]:
    """The report's body hashes to its ``root_hash``, its query text and parameters to
    ``query.sha256``, and (with a key) the signature signs that root."""
    if not isinstance(document, dict) or document.get("format") != REPORT_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        return [Check("report", FAILED, f"format {found!r}, expected {REPORT_FORMAT!r}")]
    body = {key: value for key, value in document.items() if key not in OUTSIDE_THE_ROOT}
    root = root_of(body)
    if root != document.get("root_hash"):
        return [
            Check(
                "report",
                FAILED,
                f"the body hashes to {root}, not to the root hash {document.get('root_hash')}: "
                "the report was changed after it was issued",
            )
        ]
    query = document.get("query")
    if not isinstance(query, dict) or query_hash(
        str(query.get("sql")), query.get("parameters") or {}
    ) != query.get("sha256"):
        return [
            Check("report", FAILED, "query.sha256 is not the hash of query.sql and its parameters")
        ]
    checks = [Check("report", OK, f"root hash {root} covers the body; the query hash matches")]
    return [*checks, check_signature(document, public_key)]
