"""Reading an OTLP/HTTP body within the size limit, before and after gzip decompression.

A gzip bomb is inflated only up to the limit plus one byte, never in full; a body of several gzip
members is inflated member after member, all within the same limit.
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
    return _inflate_gzip(body, max_bytes)


_GZIP_CHUNK = 64 * 1024
"""Bytes fed to the inflater at once: what follows a member is never copied more than this."""
MAX_GZIP_MEMBERS = 1024
"""Members one body may hold: more would only cost CPU (a 20-byte empty member each)."""


def _inflate_gzip(body: bytes, max_bytes: int) -> bytes:
    """Every member of a gzip body (RFC 1952 §2.2) in turn, all within the one limit."""
    view = memoryview(body)
    parts: list[bytes] = []
    size = 0
    position = 0
    for _ in range(MAX_GZIP_MEMBERS):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while not inflater.eof:
            if position == len(view):
                raise BadCompression("Content-Encoding gzip, but the gzip stream is truncated")
            chunk = view[position : position + _GZIP_CHUNK]
            position += len(chunk)
            try:
                inflated = inflater.decompress(chunk, max_bytes - size + 1)
            except zlib.error as error:
                raise BadCompression(
                    f"Content-Encoding gzip, but the body is not valid gzip: {error}"
                ) from error
            size += len(inflated)
            if size > max_bytes:
                raise BodyTooLarge(
                    f"decompressed request body exceeds the limit of {max_bytes} bytes"
                )
            parts.append(inflated)
        position -= len(inflater.unused_data)
        # the end, or the zero padding some writers add after the last member
        if position == len(view) or (body[position] == 0 and not body[position:].strip(b"\0")):
            return b"".join(parts)
    raise BadCompression(
        f"Content-Encoding gzip, but the body holds more than {MAX_GZIP_MEMBERS} gzip members"
    )
