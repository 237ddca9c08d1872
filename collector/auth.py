"""Bearer tokens for OTLP ingest (``SYNCSIGHT_INGEST_TOKENS``): kept only as SHA-256 digests from
the moment the setting is parsed, and compared in constant time. The digest and the bearer-header
parsing here are also what the REST API's tokens use (``syncsight/access.py``)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def token_digest(token: str) -> bytes:
    """The fixed-length SHA-256 digest a token is kept as."""
    return hashlib.sha256(token.encode()).digest()


def bearer_credential(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None for anything else."""
    if not authorization:
        return None
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential


def matching_digest(presented: bytes, digests: Iterable[bytes]) -> int | None:
    """The index of ``presented`` among ``digests``, or None.

    Every digest is compared, so the time taken reveals neither which one matched nor whether one
    did; digests have a fixed length, so it does not reveal token lengths either.
    """
    found: int | None = None
    for index, digest in enumerate(digests):
        if hmac.compare_digest(presented, digest):
            found = index
    return found


class IngestTokenError(ValueError):
    """An ``SYNCSIGHT_INGEST_TOKENS`` entry that cannot be used; the message never shows a token."""


class IngestTokens:
    """The accepted ingest tokens, as digests; with none configured every request is allowed.

    ``repr`` shows how many tokens there are, never a token or a digest.
    """

    def __init__(self, digests: Iterable[bytes] = ()) -> None:
        self._digests = tuple(digests)

    @classmethod
    def parse(cls, text: str) -> IngestTokens:
        """``"TOKEN,TOKEN"`` → digests; blanks between commas are ignored.

        Errors name the entry by its position and never repeat the token.
        """
        digests: list[bytes] = []
        for number, entry in enumerate(text.split(","), start=1):
            token = entry.strip()
            if not token:
                continue
            if any(character.isspace() for character in token):
                raise IngestTokenError(f"entry {number}: the token contains whitespace")
            digests.append(token_digest(token))
        return cls(digests)

    def including(self, token: str) -> IngestTokens:
        """These tokens and one more (``syncsight demo`` adds its own for its simulator)."""
        return IngestTokens((*self._digests, token_digest(token)))

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"IngestTokens(<{len(self._digests)} hashed>)"

    def allows(self, authorization: str | None) -> bool:
        """True for a valid ``Bearer <token>`` header, or when no tokens are configured."""
        if not self._digests:
            return True
        credential = bearer_credential(authorization)
        if credential is None:
            return False
        return matching_digest(token_digest(credential), self._digests) is not None
