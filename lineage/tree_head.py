"""A signed tree head: the Merkle root of one day's stored business facts known at a timestamp, as
the ledger publishes it and an auditor keeps it (JSON), and its signature check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lineage.evidence import instant_text
from lineage.signing import TREE_HEAD, Signer, signature_valid

HEAD_FORMAT: Final = TREE_HEAD


class HeadError(ValueError):
    """A document that is not a tree head; the message names the field and what was expected."""


@dataclass(frozen=True)
class TreeHead:
    """The first ``tree_size`` facts of ``day`` (by knowledge time, UTC), the root of their
    Merkle tree (hex), the knowledge time they were sealed up to, and the signature."""

    day: date
    tree_size: int
    root_hash: str
    timestamp: datetime
    key_id: str = ""
    signature: str = ""

    def signed_fields(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": instant_text(self.timestamp),
        }

    def signed_by(self, signer: Signer) -> TreeHead:
        return TreeHead(
            self.day,
            self.tree_size,
            self.root_hash,
            self.timestamp,
            signer.key_id,
            signer.sign(TREE_HEAD, self.signed_fields()),
        )

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        return signature_valid(public_key, TREE_HEAD, self.signed_fields(), self.signature)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": HEAD_FORMAT,
            **self.signed_fields(),
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, document: Any, *, source: str = "tree head") -> TreeHead:
        """Parse a head document; a missing or malformed field is a ``HeadError`` naming it."""
        if not isinstance(document, dict) or document.get("format") != HEAD_FORMAT:
            found = document.get("format") if isinstance(document, dict) else type(document)
            raise HeadError(f"{source}: format {found!r}, expected {HEAD_FORMAT!r}")

        def field(name: str, kind: type) -> Any:
            value = document.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise HeadError(
                    f"{source}: field {name!r} is {value!r}; expected a {kind.__name__}"
                )
            return value

        try:
            day = date.fromisoformat(field("day", str))
            timestamp = datetime.fromisoformat(field("timestamp", str))
        except ValueError as error:
            raise HeadError(f"{source}: {error}") from None
        size = field("tree_size", int)
        if size < 0:
            raise HeadError(f"{source}: tree_size {size} is negative")
        return cls(
            day,
            size,
            field("root_hash", str),
            timestamp,
            str(document.get("key_id", "")),
            str(document.get("signature", "")),
        )
