"""OTLP/HTTP answer bodies, written in the encoding of the request (protobuf or JSON).

Successes and partial successes are ``ExportTraceServiceResponse``; refusals are ``google.rpc.Status``.
"""

from __future__ import annotations

import json
from typing import Final, Literal

from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

Encoding = Literal["protobuf", "json"]

CONTENT_TYPE_PROTOBUF: Final = "application/x-protobuf"
CONTENT_TYPE_JSON: Final = "application/json"
_ENCODING_BY_MEDIA_TYPE: Final[dict[str, Encoding]] = {
    CONTENT_TYPE_PROTOBUF: "protobuf",
    CONTENT_TYPE_JSON: "json",
}
_ENCODING_NAMES: Final[dict[str, Encoding]] = {"protobuf": "protobuf", "json": "json"}


def parse_content_type(header: str | None) -> Encoding | None:
    """The OTLP encoding a ``Content-Type`` names, ignoring case and parameters; None if neither."""
    if not header:
        return None
    media_type = header.partition(";")[0].strip().lower()
    return _ENCODING_BY_MEDIA_TYPE.get(media_type)


def media_type(encoding: Encoding) -> str:
    """The ``Content-Type`` header value of an answer in ``encoding``."""
    return CONTENT_TYPE_PROTOBUF if encoding == "protobuf" else CONTENT_TYPE_JSON


def export_response(content_type: str, rejected_spans: int = 0, error_message: str = "") -> bytes:
    """An ``ExportTraceServiceResponse``; ``partial_success`` only when something was rejected or said.

    ``content_type`` is the request's ``Content-Type`` header or an ``Encoding`` name.
    """
    partial = bool(rejected_spans or error_message)
    if _encoding(content_type) == "protobuf":
        response = ExportTraceServiceResponse()
        if partial:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(
                    rejected_spans=rejected_spans, error_message=error_message
                )
            )
        encoded: bytes = response.SerializeToString()
        return encoded
    document: dict[str, dict[str, str]] = {}
    if partial:
        # proto3 JSON: int64 as a decimal string, members with default values left out.
        members = document["partialSuccess"] = {}
        if rejected_spans:
            members["rejectedSpans"] = str(rejected_spans)
        if error_message:
            members["errorMessage"] = error_message
    return json.dumps(document).encode()


def status_body(content_type: str, code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` (``code`` is a gRPC code, e.g. 3 INVALID_ARGUMENT) for 4xx/5xx answers.

    ``content_type`` is the request's ``Content-Type`` header or an ``Encoding`` name; a request
    whose type is neither protobuf nor JSON gets JSON.
    """
    try:
        encoding = _encoding(content_type)
    except ValueError:
        encoding = "json"
    if encoding == "protobuf":
        encoded: bytes = Status(code=code, message=message).SerializeToString()
        return encoded
    return json.dumps({"code": code, "message": message}).encode()


def _encoding(content_type: str) -> Encoding:
    encoding = _ENCODING_NAMES.get(content_type) or parse_content_type(content_type)
    if encoding is None:
        raise ValueError(
            f"content type {content_type!r} is neither {CONTENT_TYPE_PROTOBUF} nor {CONTENT_TYPE_JSON}"
        )
    return encoding
