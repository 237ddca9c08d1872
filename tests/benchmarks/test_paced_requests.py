"""The soak's pre-encoded requests: a request made new is a valid OTLP request whose events, ids
and timestamps are new, and whose engagement shape is the template's."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from benchmarks.paced_requests import build_template
from collector.decode import decode_protobuf
from collector.limits import DecodeLimits
from domain import semconv as sc

SPANS = 200


def spans_of(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return [
        span
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


def ids(spans: list[Span], key: str) -> set[str]:
    """The values of attribute ``key`` over the spans that carry it."""
    return {a.value.string_value for span in spans for a in span.attributes if a.key == key}


class TestPacedRequests:
    template = build_template(3, 1, SPANS, 100, "syncsight-soak")

    def test_a_fresh_request_decodes_whole(self) -> None:
        result = decode_protobuf(self.template.fresh(3, 42, time.time_ns()), DecodeLimits())
        assert result.rejected_spans == 0
        assert len(result.rows) == SPANS

    def test_each_request_carries_new_events_ids_and_engagements(self) -> None:
        now = time.time_ns()
        first, second = (spans_of(self.template.fresh(3, n, now)) for n in (7, 8))
        for key in (sc.EVENT_ID, sc.object_id_key(sc.CONTRACT), sc.object_id_key(sc.PROJECT)):
            assert ids(first, key)
            assert not ids(first, key) & ids(second, key)
        assert len(ids(first, sc.EVENT_ID)) == SPANS
        assert not {s.span_id for s in first} & {s.span_id for s in second}
        assert not {s.trace_id for s in first} & {s.trace_id for s in second}
        assert len({s.span_id for s in first}) == SPANS
        # the engagements keep their size: as many contracts and projects as recorded
        template = spans_of(self.template.body)
        for object_type in (sc.CONTRACT, sc.PROJECT):
            key = sc.object_id_key(object_type)
            assert len(ids(first, key)) == len(ids(template, key))
        # shared dimensions stay shared
        customers = ids(first, sc.object_id_key(sc.CUSTOMER))
        assert customers
        assert customers <= {f"CUSTOMER-{n}" for n in range(40)}

    def test_timestamps_move_to_now(self) -> None:
        now = time.time_ns() + 3600 * 10**9  # an hour later than the template was recorded
        spans = spans_of(self.template.fresh(3, 1, now))
        for span in spans:
            assert now - 2**32 <= span.start_time_unix_nano <= now + 2**32
            assert span.start_time_unix_nano <= span.end_time_unix_nano
            for event in span.events:
                assert span.start_time_unix_nano <= event.time_unix_nano
