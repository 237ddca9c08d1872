"""How much OTLP export work the receivers take on at once: requests in flight, HTTP and gRPC
together, and the bytes of their bodies (compressed and inflated) while they are read and decoded.

Over either limit a request is refused at once with 503 / UNAVAILABLE and ``Retry-After``, before
its body is read where the limit is on requests. A request is always admitted when it would be the
only one holding bytes, so one body as large as ``max_body_bytes`` can never be refused forever.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

RETRY_AFTER_SECONDS: Final = 1


class Busy(RuntimeError):
    """The receivers are at a concurrency limit; the client should retry after a pause."""

    retry_after_seconds = RETRY_AFTER_SECONDS


class ExportAdmission:
    """Counts export requests and body bytes in flight against their limits (thread-safe)."""

    def __init__(self, *, max_requests: int, max_bytes: int) -> None:
        if max_requests < 1 or max_bytes < 1:
            raise ValueError(
                f"ExportAdmission: max_requests and max_bytes must be >= 1, got "
                f"{max_requests!r} and {max_bytes!r}"
            )
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes = 0

    @contextmanager
    def admitted(self) -> Iterator[Ticket]:
        """One request in flight until the block ends; raises ``Busy`` when at the limit."""
        with self._lock:
            if self.requests >= self.max_requests:
                raise Busy(
                    f"{self.requests} export requests are in flight, the limit "
                    f"(max_concurrent_exports) is {self.max_requests}; retry later"
                )
            self.requests += 1
        ticket = Ticket(self)
        try:
            yield ticket
        finally:
            with self._lock:
                self.requests -= 1
                self.bytes -= ticket.bytes

    def _hold(self, ticket: Ticket, size: int) -> None:
        with self._lock:
            others = self.bytes - ticket.bytes
            if others and self.bytes + size > self.max_bytes:
                raise Busy(
                    f"{others} bytes of export requests are being decoded, this one needs "
                    f"{ticket.bytes + size} more, the limit (max_decoding_bytes) is "
                    f"{self.max_bytes}; retry later"
                )
            self.bytes += size
            ticket.bytes += size


class Ticket:
    """The share of one admitted request: the body bytes it holds until it is answered."""

    __slots__ = ("_admission", "bytes")

    def __init__(self, admission: ExportAdmission) -> None:
        self._admission = admission
        self.bytes = 0

    def hold(self, size: int) -> None:
        """Count ``size`` more bytes of this request; raises ``Busy`` when others hold too many."""
        self._admission._hold(self, size)
