"""Reading an OTLP/HTTP body within the size limit, before and after gzip decompression.

A gzip bomb is inflated only up to the limit plus one byte, never in full.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator


class BodyTooLarge(ValueError):
    """The body, or what it inflates to, is over the configured limit (HTTP 413)."""


class UnsupportedEncoding(ValueError):
    """A ``Content-Encoding`` we do not decode (HTTP 415)."""


class BadCompression(ValueError):
    """The body claims gzip but is not valid gzip (HTTP 400)."""


async def read_limited(
    chunks: AsyncIterator[bytes], content_length: str | None, max_bytes: int
) -> bytes:
    """Collect the body, refusing as soon as it exceeds ``max_bytes`` (or its header says so)."""
    if content_length is not None and content_length.isdigit() and int(content_length) > max_bytes:
        raise BodyTooLarge(
            f"request body of {content_length} bytes exceeds the limit of {max_bytes} bytes"
        )
    parts = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"request body exceeds the limit of {max_bytes} bytes")
        parts.append(chunk)
    return b"".join(parts)


def decode_content(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Undo ``Content-Encoding`` (identity or gzip) without inflating past ``max_bytes``."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise UnsupportedEncoding(
            f"Content-Encoding {content_encoding!r} is not supported; send gzip or identity"
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(body, max_bytes + 1)
    except zlib.error as error:
        raise BadCompression(
            f"Content-Encoding gzip, but the body is not valid gzip: {error}"
        ) from error
    if len(inflated) > max_bytes or inflater.unconsumed_tail:
        raise BodyTooLarge(f"decompressed request body exceeds the limit of {max_bytes} bytes")
    if not inflater.eof:
        raise BadCompression("Content-Encoding gzip, but the gzip stream is truncated")
    return inflated
