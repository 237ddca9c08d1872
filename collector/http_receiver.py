"""OTLP/HTTP: ``POST /v1/traces`` with protobuf or JSON bodies, gzip, size limits and bearer auth.

Status codes follow the OTLP/HTTP specification: 200 (possibly with partial
success), 400 for undecodable bodies, 401, 413 for bodies over the size limit and requests over the
row budget, 415, and 503 with ``Retry-After`` when the durable write path pushes back or too many
requests (or request bytes) are in flight.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from collector import responses
from collector.admission import Busy, ExportAdmission
from collector.auth import IngestTokens
from collector.body import (
    BadCompression,
    BodyTooLarge,
    UnsupportedEncoding,
    decode_content,
    read_limited,
)
from collector.decode_result import RequestOverBudget, UndecodableRequest
from collector.ingest import IngestPipeline, WireFormat
from collector.metrics import IngestMetrics
from collector.writer import Overloaded

# google.rpc.Code values used in Status bodies.
INVALID_ARGUMENT = 3
RESOURCE_EXHAUSTED = 8
UNAVAILABLE = 14
UNAUTHENTICATED = 16


def otlp_http_router(
    pipeline: IngestPipeline,
    tokens: IngestTokens,
    metrics: IngestMetrics,
    admission: ExportAdmission,
    *,
    max_body_bytes: int,
) -> APIRouter:
    """The ``/v1/traces`` route bound to one pipeline."""
    router = APIRouter(tags=["ingest"])

    def answer(
        wire: WireFormat, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> Response:
        metrics.requests.labels(transport="http", status=str(status)).inc()
        return Response(
            content=body,
            status_code=status,
            media_type=responses.media_type(wire.value),
            headers=headers,
        )

    def problem(
        wire: WireFormat,
        status: int,
        code: int,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return answer(wire, status, responses.status_body(wire.value, code, message), headers)

    @router.post(
        "/v1/traces",
        summary="OTLP/HTTP trace export",
        description="An `ExportTraceServiceRequest` as `application/x-protobuf` or "
        "`application/json` (OTLP JSON), optionally gzip-compressed. Answers 2xx only once "
        "every accepted span is durable (in ClickHouse or the fsynced spool).",
    )
    async def export_traces(request: Request) -> Response:
        kind = responses.parse_content_type(request.headers.get("content-type"))
        wire = WireFormat(kind) if kind else WireFormat.JSON
        if not tokens.allows(request.headers.get("authorization")):
            return problem(
                wire,
                401,
                UNAUTHENTICATED,
                "missing or invalid bearer token",
                {"WWW-Authenticate": 'Bearer realm="syncsight-ingest"'},
            )
        if kind is None:
            return problem(
                wire,
                415,
                INVALID_ARGUMENT,
                f"unsupported Content-Type {request.headers.get('content-type')!r}; "
                "send application/x-protobuf or application/json",
            )
        try:
            with admission.admitted() as ticket:
                raw = await read_limited(
                    request.stream(), request.headers.get("content-length"), max_body_bytes
                )
                ticket.hold(len(raw))
                # zlib releases the GIL: a large body inflates off the event loop
                body = await asyncio.to_thread(
                    decode_content, raw, request.headers.get("content-encoding"), max_body_bytes
                )
                if body is not raw:
                    ticket.hold(len(body))
                outcome = await pipeline.export(body, wire)
        except (BodyTooLarge, RequestOverBudget) as error:
            # its spans were never decoded, so none are counted; the request is, by its 413
            return problem(wire, 413, RESOURCE_EXHAUSTED, str(error))
        except UnsupportedEncoding as error:
            return problem(wire, 415, INVALID_ARGUMENT, str(error))
        except (UndecodableRequest, BadCompression) as error:
            return problem(wire, 400, INVALID_ARGUMENT, str(error))
        except (Overloaded, Busy) as error:
            return problem(
                wire,
                503,
                UNAVAILABLE,
                str(error),
                {"Retry-After": str(error.retry_after_seconds)},
            )
        return answer(
            wire,
            200,
            responses.export_response(wire.value, outcome.rejected_spans, outcome.error_message),
        )

    return router
