"""Builds the real OTLP span exporter for a collector endpoint: HTTP/protobuf or gRPC."""

from __future__ import annotations

from typing import Final

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace.export import SpanExporter

HTTP_PROTOBUF: Final = "http/protobuf"
GRPC: Final = "grpc"
PROTOCOLS: Final = (HTTP_PROTOBUF, GRPC)
TRACES_PATH: Final = "/v1/traces"


def otlp_span_exporter(
    endpoint: str,
    protocol: str = HTTP_PROTOBUF,
    *,
    token: str | None = None,
    timeout_seconds: float = 30.0,
) -> SpanExporter:
    """An OTLP exporter sending to ``endpoint`` (scheme, host and port, e.g. http://localhost:4318).

    HTTP posts gzip-compressed protobuf to ``{endpoint}/v1/traces``; ``token`` becomes an
    ``Authorization: Bearer`` header (gRPC metadata ``authorization``).
    """
    base = endpoint.rstrip("/")
    if protocol == HTTP_PROTOBUF:
        url = base if base.endswith(TRACES_PATH) else f"{base}{TRACES_PATH}"
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return HttpSpanExporter(
            endpoint=url, headers=headers, timeout=timeout_seconds, compression=Compression.Gzip
        )
    if protocol == GRPC:
        metadata = {"authorization": f"Bearer {token}"} if token else None
        return GrpcSpanExporter(endpoint=base, headers=metadata, timeout=timeout_seconds)
    raise ValueError(f"unknown OTLP protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
