"""Optional bearer-token check for OTLP ingest (``SYNCSIGHT_INGEST_TOKENS``); constant-time."""

from __future__ import annotations

import hmac


class IngestTokens:
    """The accepted tokens; with none configured every request is allowed."""

    def __init__(self, tokens: list[str]) -> None:
        self._tokens = [t.encode() for t in tokens if t]

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def allows(self, authorization: str | None) -> bool:
        """True for a valid ``Bearer <token>`` header, or when no tokens are configured."""
        if not self._tokens:
            return True
        if not authorization:
            return False
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return False
        presented = credential.strip().encode()
        matched = False
        for token in self._tokens:  # compare against all, so timing does not reveal which matched
            matched |= hmac.compare_digest(presented, token)
        return matched
