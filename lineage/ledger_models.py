"""The REST shapes of the evidence ledger (pydantic at the edge): signed tree heads, consistency
proofs and the access trail, as ``/api/v1/ledger/*`` and the audit report send them and the REST
client reads them, and the caller as the trail names it (``/api/v1/me``; here rather than in
``syncsight``, which the REST client must not import)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class LedgerKeyOut(BaseModel):
    """The public key that signs evidence roots and tree heads (``GET /api/v1/ledger/key``)."""

    algorithm: str = Field(description="Always ed25519.")
    key_id: str = Field(description="Names the key in signatures, heads and the access trail.")
    public_key_pem: str = Field(description="The Ed25519 public key, SubjectPublicKeyInfo PEM.")


class TreeHeadOut(BaseModel):
    """A signed tree head (``lineage.tree_head.TreeHead.to_json``); keep it to check packs."""

    format: str
    day: str = Field(description="UTC knowledge day of the facts, YYYY-MM-DD.")
    tree_size: int = Field(description="How many facts of the day the tree holds.")
    root_hash: str = Field(description="Merkle root of the day's first tree_size facts (hex).")
    timestamp: str = Field(description="The knowledge time the day was sealed up to.")
    key_id: str
    signature: str


class ConsistencyOut(BaseModel):
    """RFC 9162 consistency proof that a head extends an earlier head of the same day."""

    from_size: int = Field(description="Tree size of the earlier head the proof starts from.")
    path: list[str] = Field(description="The proof's node hashes (hex), in RFC 9162 order.")


class TreeHeadProofOut(TreeHeadOut):
    """One tree head; with ``consistency`` when asked ``from_size`` (``syncsight verify-evidence
    --consistency OLD NEW`` checks it)."""

    consistency: ConsistencyOut | None = Field(
        default=None, description="Present only when from_size was asked."
    )


class TreeHeadsOut(BaseModel):
    heads: list[TreeHeadOut] = Field(description="Newest day and largest tree first.")


class DownloadOut(BaseModel):
    """One entry of the access trail."""

    at: str
    token_name: str = Field(description="The token's configured name, else sha256:<12 hex>.")
    role: str
    kind: str = Field(description="evidence, ocel or report.")
    path: str
    parameters: dict[str, Any]
    root_hash: str
    key_id: str
    signature: str


class DownloadsOut(BaseModel):
    downloads: list[DownloadOut] = Field(description="Newest first.")


class CallerOut(BaseModel):
    """Who a request's API token is (``GET /api/v1/me``), named as the access trail and work item
    history name it."""

    local_only: bool = Field(
        description="The service has no API tokens (SYNCSIGHT_API_TOKENS empty): every read "
        "passes without one, nobody is signed in, and token_name and role are null."
    )
    token_name: str | None = Field(
        description="The token's configured name, else sha256:<first 12 hex digits of its "
        "SHA-256>; null in local-only mode."
    )
    role: str | None = Field(
        description="viewer, auditor, operator or admin; null in local-only mode."
    )
    acts_as: list[str] = Field(
        description="Every role whose reads and actions this token may take: its own, viewer, "
        "and all roles for admin (empty in local-only mode)."
    )
