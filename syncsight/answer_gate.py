"""The gate in front of the expensive REST answers: at most N are computed at once, and a request
over the limit gets 503 with ``Retry-After`` at once instead of waiting in an unbounded queue."""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

HEAVY_FAMILIES = frozenset(
    {
        ("api", "v1", "lineage"),
        ("api", "v1", "slas"),
        ("api", "v1", "close-risk"),
        ("api", "v1", "impact"),
        ("api", "v1", "audit"),
        ("api", "v1", "ocel"),
        ("api", "v1", "work-items"),
    }
)
"""The first three path segments of the answers that read and assemble much: lineage with its
evidence, OCEL export and completeness, SLA summaries, timers and objectives, close risk, blocked
invoices, the audit report, the period OCEL export (its slot is held until its stream ends), and
the work queue (its open set reads blocked invoices and timers)."""

RETRY_AFTER_SECONDS = 1


def is_heavy(path: str) -> bool:
    """Whether ``path`` is one of the answers the gate bounds."""
    return tuple(path.strip("/").split("/")[:3]) in HEAVY_FAMILIES


class HeavyAnswerGate:
    """ASGI middleware: a heavy answer runs only while fewer than ``limit`` others do.

    The count lives on the event loop (no lock needed) and is released when the response is
    complete, whether the handler succeeded, failed or the client went away.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit={limit}: expected at least 1 heavy answer at once")
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_heavy(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.refused += 1
            logger.info("refused %s: %d heavy answers in flight", scope["path"], self.in_flight)
            response = JSONResponse(
                {
                    "detail": f"{self.limit} expensive answers (lineage, evidence, OCEL, SLAs, "
                    "close risk, blocked invoices) are being computed, the most this service "
                    "computes at once (setting max_concurrent_heavy_answers): retry after "
                    f"{RETRY_AFTER_SECONDS} s"
                },
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
