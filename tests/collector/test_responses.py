"""OTLP/HTTP answer bodies in the request's encoding, and reading the request's Content-Type."""

from __future__ import annotations

import json

import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.responses import (
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_PROTOBUF,
    export_response,
    media_type,
    parse_content_type,
    status_body,
)


class TestParseContentType:
    @pytest.mark.parametrize(
        ("header", "encoding"),
        [
            ("application/x-protobuf", "protobuf"),
            ("application/json", "json"),
            ("application/json; charset=utf-8", "json"),
            ("Application/JSON", "json"),
            (" application/x-protobuf ; foo=bar", "protobuf"),
            ("text/plain", None),
            ("application/protobuf+json", None),
            ("", None),
            (None, None),
        ],
    )
    def test_the_media_type_decides_ignoring_case_and_parameters(
        self, header: str | None, encoding: str | None
    ) -> None:
        """Only the two OTLP media types are recognised; parameters and case do not matter."""
        assert parse_content_type(header) == encoding

    def test_answers_carry_the_media_type_of_their_encoding(self) -> None:
        """media_type gives the Content-Type header for each encoding."""
        assert (media_type("protobuf"), media_type("json")) == (
            CONTENT_TYPE_PROTOBUF,
            CONTENT_TYPE_JSON,
        )


class TestExportResponse:
    @pytest.mark.parametrize("content_type", ["protobuf", CONTENT_TYPE_PROTOBUF])
    def test_full_success_in_protobuf_has_no_partial_success(self, content_type: str) -> None:
        """A clean export answers an empty ExportTraceServiceResponse."""
        response = ExportTraceServiceResponse.FromString(export_response(content_type, 0, ""))
        assert not response.HasField("partial_success")

    def test_partial_success_in_protobuf_carries_count_and_message(self) -> None:
        """Rejected spans and the reason go into partial_success."""
        body = export_response("application/x-protobuf; charset=binary", 3, "3 spans rejected")
        partial = ExportTraceServiceResponse.FromString(body).partial_success
        assert (partial.rejected_spans, partial.error_message) == (3, "3 spans rejected")

    @pytest.mark.parametrize(
        ("rejected", "message", "document"),
        [
            (0, "", {}),
            (3, "bad ids", {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "bad ids"}}),
            (0, "values truncated", {"partialSuccess": {"errorMessage": "values truncated"}}),
        ],
    )
    def test_json_follows_proto3_json(self, rejected: int, message: str, document: object) -> None:
        """JSON answers use lowerCamelCase, int64 as a string, and omit defaults."""
        assert json.loads(export_response("application/json", rejected, message)) == document

    def test_an_unknown_content_type_is_a_programming_error(self) -> None:
        """Asking for an answer in neither encoding raises ValueError naming the type."""
        with pytest.raises(ValueError, match="text/plain"):
            export_response("text/plain", 0, "")


class TestStatusBody:
    def test_protobuf_status(self) -> None:
        """4xx answers to protobuf requests are a binary google.rpc.Status."""
        status = Status.FromString(status_body("protobuf", 3, "protobuf parse error"))
        assert (status.code, status.message) == (3, "protobuf parse error")

    def test_json_status(self) -> None:
        """4xx answers to JSON requests are {"code": …, "message": …}."""
        body = status_body(CONTENT_TYPE_JSON, 3, "JSON parse error")
        assert json.loads(body) == {"code": 3, "message": "JSON parse error"}

    def test_an_unsupported_content_type_gets_json(self) -> None:
        """A 415 for an unknown Content-Type still has a readable (JSON) body."""
        assert json.loads(status_body("text/plain", 3, "unsupported")) == {
            "code": 3,
            "message": "unsupported",
        }
