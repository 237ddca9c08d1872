"""The REST shape of the completeness-and-accuracy report (pydantic at the edge); the CLI parses
the same model back from the API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from lineage.ledger_models import TreeHeadOut


class AmountOut(BaseModel):
    currency: str
    amount: str = Field(description="Decimal text; amounts are never summed across currencies.")


class SideOut(BaseModel):
    count: int = Field(description="Distinct business events on this side.")
    amounts: list[AmountOut]


class InterfaceOut(BaseModel):
    interface: str
    target_type: str
    object_type: str
    source_types: list[str]
    required: bool
    checks: list[str] = Field(description="The differences its items are checked for.")
    items: int = Field(description="Objects of the hop's type fed by a source of the period.")
    source: SideOut
    target: SideOut
    differences: dict[str, int] = Field(description="How many of each kind (all, not only listed).")


class DifferenceOut(BaseModel):
    interface: str
    kind: str = Field(description="missing, late, duplicate or amount_mismatch.")
    object_type: str
    object_id: str
    source_event_ids: list[str]
    target_event_ids: list[str]
    source_amount: str
    target_amount: str
    currency: str
    target_at: str
    lineage_url: str


class QueryOut(BaseModel):
    sql: str = Field(description="The exact query text run.")
    parameters: dict[str, Any]
    sha256: str = Field(description="SHA-256 of the canonical JSON of {sql, parameters}.")


class SignatureOut(BaseModel):
    algorithm: str
    statement: str
    key_id: str
    value: str


class AuditReportOut(BaseModel):
    """A signed completeness-and-accuracy report (docs/operations.md, For auditors)."""

    format: str
    period: str
    legal_entity: str
    known_at: str
    close_deadline: str
    query: QueryOut
    interfaces: list[InterfaceOut]
    differences: list[DifferenceOut]
    truncated: bool = Field(description="Whether some differences are counted but not listed.")
    knowledge_days: list[str] = Field(
        description="UTC days on which the counted events were first stored (ledger trees)."
    )
    max_differences_per_kind: int
    root_hash: str = Field(description="SHA-256 of the canonical JSON of the fields above.")
    signature: SignatureOut
    ledger_heads: list[TreeHeadOut] = Field(
        description="The latest signed tree head of each knowledge day (outside the root: sealing "
        "a day later adds a head without changing the report)."
    )
    generated_at: str
