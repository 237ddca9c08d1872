"""OTLP/gRPC: ``TraceService/Export`` on its own port, sharing the HTTP receiver's pipeline.

The method is registered with raw-bytes (de)serialisers so the request goes through exactly the
same protobuf decoder and validation as OTLP/HTTP; gzip-compressed calls are inflated by gRPC.
"""

from __future__ import annotations

import grpc

from collector import responses
from collector.auth import IngestTokens
from collector.decode_result import UndecodableRequest
from collector.ingest import IngestPipeline, WireFormat
from collector.metrics import IngestMetrics
from collector.writer import Overloaded

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class TraceExportHandler:
    """The ``Export`` method: authenticate, decode, write durably, answer."""

    def __init__(
        self, pipeline: IngestPipeline, tokens: IngestTokens, metrics: IngestMetrics
    ) -> None:
        self.pipeline = pipeline
        self.tokens = tokens
        self.metrics = metrics

    async def export(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        metadata = dict(context.invocation_metadata() or ())
        if not self.tokens.allows(metadata.get("authorization")):
            await self._abort(
                context, grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token"
            )
        try:
            outcome = await self.pipeline.export(request, WireFormat.PROTOBUF)
        except UndecodableRequest as error:
            await self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except Overloaded as error:
            await self._abort(context, grpc.StatusCode.UNAVAILABLE, str(error))
        self.metrics.requests.labels(transport="grpc", status="OK").inc()
        return responses.export_response("protobuf", outcome.rejected_spans, outcome.error_message)

    async def _abort(
        self, context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str
    ) -> None:
        self.metrics.requests.labels(transport="grpc", status=code.name).inc()
        await context.abort(code, message)


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
    method = grpc.unary_unary_rpc_method_handler(handler.export)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Export": method}),)
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    server.add_insecure_port(address)
    return server
