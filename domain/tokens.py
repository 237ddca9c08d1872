"""Opaque page tokens: a cursor's fields as URL-safe text a client passes back as it came, and
the fields again (the shape of the fields is the cursor's own to check)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def token_text(fields: list[Any]) -> str:
    """``fields`` (JSON values) as URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def token_fields(text: str, kinds: tuple[type, ...]) -> list[Any] | None:
    """The fields of a ``token_text``, when they are as many as ``kinds`` and each of its kind;
    None for any other text."""
    try:
        fields = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error):
        return None
    if (
        isinstance(fields, list)
        and len(fields) == len(kinds)
        and all(type(f) is kind for f, kind in zip(fields, kinds, strict=True))
    ):
        return fields
    return None
