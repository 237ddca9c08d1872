"""OTLP/gRPC: ``TraceService/Export`` on its own port, sharing the HTTP receiver's pipeline.

The method is registered with raw-bytes (de)serialisers so the request goes through exactly the
same protobuf decoder and validation as OTLP/HTTP. It is served as a client-stream method (the
wire format of a unary call is the same): gRPC then reads and inflates the request message only
when the handler asks for it, after the bearer token and the concurrency limit were checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NoReturn

import grpc

from collector import responses
from collector.admission import Busy, ExportAdmission
from collector.auth import IngestTokens
from collector.decode_result import RequestOverBudget, UndecodableRequest
from collector.ingest import IngestPipeline, WireFormat
from collector.metrics import IngestMetrics
from collector.writer import Overloaded

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class TraceExportHandler:
    """The ``Export`` method: authenticate, admit, read, decode, write durably, answer."""

    def __init__(
        self,
        pipeline: IngestPipeline,
        tokens: IngestTokens,
        metrics: IngestMetrics,
        admission: ExportAdmission,
    ) -> None:
        self.pipeline = pipeline
        self.tokens = tokens
        self.metrics = metrics
        self.admission = admission

    async def export(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> bytes:
        metadata = dict(context.invocation_metadata() or ())
        if not self.tokens.allows(metadata.get("authorization")):
            await self._abort(
                context, grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token"
            )
        try:
            with self.admission.admitted() as ticket:
                request = await anext(aiter(requests), None)
                if request is None:
                    await self._abort(
                        context,
                        grpc.StatusCode.INVALID_ARGUMENT,
                        "no ExportTraceServiceRequest message in the call",
                    )
                ticket.hold(len(request))
                outcome = await self.pipeline.export(request, WireFormat.PROTOBUF)
        except UndecodableRequest as error:
            await self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except RequestOverBudget as error:
            await self._abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
        except (Overloaded, Busy) as error:
            await self._abort(context, grpc.StatusCode.UNAVAILABLE, str(error))
        self.metrics.requests.labels(transport="grpc", status="OK").inc()
        return responses.export_response("protobuf", outcome.rejected_spans, outcome.error_message)

    async def _abort(
        self, context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str
    ) -> NoReturn:
        self.metrics.requests.labels(transport="grpc", status=code.name).inc()
        await context.abort(code, message)
        raise AssertionError("not reached: ServicerContext.abort raises")


def create_grpc_server(
    handler: TraceExportHandler, *, host: str, port: int, max_message_bytes: int
) -> grpc.aio.Server:
    """A gRPC server with the TraceService bound to ``host:port`` (not yet started)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    method = grpc.stream_unary_rpc_method_handler(handler.export)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Export": method}),)
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    server.add_insecure_port(address)
    return server
