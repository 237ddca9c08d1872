"""Micro-benchmark of the pure OTLP trace decoders on realistic business-event requests.

Builds requests of business-event spans (~15 span attributes, 3 resource attributes, 0-1 events)
with the OpenTelemetry SDK and its OTLP encoder, then reports decoded spans per second on one core.
Run: ``.venv/bin/python benchmarks/decode.py [--spans 1000] [--rounds 30]``.
Recorded 2026-11-28, 2-vCPU AMD EPYC VM shared with other work, CPython 3.11.7, protobuf 7 (upb):
decode_protobuf ~92,000 spans/s, decode_json ~37,000 spans/s, upb parse alone ~1,200,000 spans/s.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from collector.decode import decode_protobuf
from collector.limits import DecodeLimits
from collector.native_decode import decode_natively
from collector.otlp_json import decode_json
from domain import semconv as sc

# The ids each canonical event type carries (docs/semantic-conventions.md), for realistic attribute sets.
CARRIED_IDS = {
    sc.CUSTOMER_SYNCED: (sc.CUSTOMER, sc.LEGAL_ENTITY),
    sc.CONTRACT_SIGNED: (sc.CONTRACT, sc.CUSTOMER, sc.LEGAL_ENTITY, sc.OBLIGATION),
    sc.PROJECT_ACTIVATED: (sc.PROJECT, sc.CONTRACT, sc.CUSTOMER, sc.LEGAL_ENTITY),
    sc.TIME_APPROVED: (sc.TIME_ENTRY, sc.PROJECT),
    sc.MILESTONE_COMPLETED: (sc.MILESTONE, sc.PROJECT, sc.OBLIGATION),
    sc.BILLING_READY: (sc.BILLING_EVENT, sc.PROJECT, sc.TIME_ENTRY),
    sc.INVOICE_POSTED: (sc.INVOICE, sc.BILLING_EVENT, sc.PROJECT, sc.CUSTOMER, sc.LEGAL_ENTITY),
    sc.REVENUE_POSTED: (sc.REVENUE_SCHEDULE, sc.OBLIGATION, sc.INVOICE, sc.JOURNAL),
}
ROUTES = {
    sc.CUSTOMER_SYNCED: (sc.CRM, sc.ERP),
    sc.CONTRACT_SIGNED: (sc.CRM, sc.PSA),
    sc.PROJECT_ACTIVATED: (sc.CRM, sc.PSA),
    sc.TIME_APPROVED: (sc.PSA, sc.ERP),
    sc.MILESTONE_COMPLETED: (sc.PSA, sc.REVREC),
    sc.BILLING_READY: (sc.PSA, sc.ERP),
    sc.INVOICE_POSTED: (sc.PSA, sc.ERP),
    sc.REVENUE_POSTED: (sc.REVREC, sc.ERP),
}
REPEATED_IDS = {sc.CUSTOMER: 40, sc.LEGAL_ENTITY: 4, sc.CONTRACT: 120, sc.PROJECT: 200}
"""Object types whose ids recur across spans, with how many distinct ids there are."""


def business_attributes(
    number: int, rnd: random.Random, *, engagement_size: int = 0, tag: str = ""
) -> dict[str, Any]:
    """About fifteen attributes of one business-event span, as sync middleware would set them.

    With ``engagement_size`` the contract and project ids follow the span number (one contract and
    two projects per ``engagement_size`` consecutive spans), as a firm's engagements do: each
    connected part of the event-object graph stays that size. Without it every span draws from
    the same 120 contracts and 200 projects, which joins all spans into one part. ``tag`` goes
    into the event id and every id that is not drawn from the shared ones (``REPEATED_IDS``)."""
    event_type = rnd.choice(list(CARRIED_IDS))
    source, target = ROUTES[event_type]
    failed = rnd.random() < 0.05
    attributes: dict[str, Any] = {
        sc.EVENT_TYPE: event_type,
        sc.EVENT_ID: f"{tag}{rnd.getrandbits(128):032x}",
        sc.SOURCE_SYSTEM: source,
        sc.TARGET_SYSTEM: target,
        sc.OUTCOME: sc.FAILED if failed else sc.SUCCESS,
        sc.ATTEMPT: rnd.choice((1, 1, 1, 2)),
        sc.AMOUNT: round(rnd.uniform(50, 250_000), 2),
        sc.CURRENCY: rnd.choice(("EUR", "USD", "GBP")),
        sc.PERIOD: "2026-01",
        "messaging.system": "kafka",
        "messaging.destination.name": f"{target}.{event_type}",
    }
    if failed:
        attributes[sc.ERROR_CATEGORY] = rnd.choice(sc.ERROR_CATEGORIES)
        attributes[sc.ERROR_CODE] = f"E{rnd.randint(100, 999)}"
    for object_type in CARRIED_IDS[event_type]:
        if object_type == sc.TIME_ENTRY and event_type == sc.BILLING_READY:
            value: Any = [f"TE-{tag}{number}-{line}" for line in range(rnd.randint(2, 5))]
        elif engagement_size and object_type in (sc.CONTRACT, sc.PROJECT):
            per_object = engagement_size if object_type == sc.CONTRACT else engagement_size // 2
            value = f"{object_type.upper()}-{tag}{number // max(per_object, 1)}"
        elif object_type in REPEATED_IDS:
            value = f"{object_type.upper()}-{rnd.randrange(REPEATED_IDS[object_type])}"
        else:
            value = f"{object_type.upper()}-{tag}{number:07d}"
        attributes[sc.object_id_key(object_type)] = value
    return attributes


def build_request(span_count: int, seed: int = 7) -> ExportTraceServiceRequest:
    """``span_count`` business-event spans recorded by the SDK, encoded as the OTLP exporter does."""
    return encode_spans(record_spans(span_count, seed))


def record_spans(
    span_count: int,
    seed: int = 7,
    *,
    first_number: int = 0,
    engagement_size: int = 0,
    tag: str = "",
    start_ns: int | None = None,
    id_generator: IdGenerator | None = None,
    service_name: str = "sync-middleware",
) -> Sequence[ReadableSpan]:
    """``span_count`` business-event spans as the SDK hands them to an exporter: span ``i`` is
    business event ``first_number + i`` (``business_attributes`` with ``engagement_size`` and
    ``tag``), starts ``i`` ms after ``start_ns`` (now by default) and ends within 0.9 s; its event,
    if any, is 0.5 ms after its start."""
    rnd = random.Random(seed)
    exporter = InMemorySpanExporter()
    resource = Resource(
        {
            "service.name": service_name,
            "service.version": "4.2.0",
            "deployment.environment": "prod",
        }
    )
    provider = TracerProvider(resource=resource, shutdown_on_exit=False, id_generator=id_generator)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("syncsight.simulator", "0.1.0")
    start = time.time_ns() if start_ns is None else start_ns
    for number in range(span_count):
        span = tracer.start_span(
            "sync.step",
            kind=rnd.choice((SpanKind.CONSUMER, SpanKind.PRODUCER, SpanKind.CLIENT)),
            start_time=start + number * 1_000_000,
        )
        attributes = business_attributes(
            first_number + number, rnd, engagement_size=engagement_size, tag=tag
        )
        span.set_attributes(attributes)
        if rnd.random() < 0.4:
            span.add_event(
                "retry.scheduled",
                {"retry.delay_ms": 250, "retry.reason": "timeout"},
                timestamp=start + number * 1_000_000 + 500_000,
            )
        if attributes[sc.OUTCOME] == sc.FAILED:
            span.set_status(Status(StatusCode.ERROR, attributes[sc.ERROR_CODE]))
        span.end(end_time=start + number * 1_000_000 + rnd.randint(1_000_000, 900_000_000))
    provider.shutdown()
    return exporter.get_finished_spans()


def otlp_json_body(request: ExportTraceServiceRequest) -> bytes:
    """The request as OTLP/JSON: proto3 JSON with hex ids and integer enums."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for member in ("traceId", "spanId", "parentSpanId"):
                    if member in span:
                        span[member] = base64.b64decode(span[member]).hex()
    return json.dumps(document).encode()


def spans_per_second(decode: Callable[[], object], span_count: int, rounds: int) -> float:
    """Best of ``rounds`` timed decodes, after one warm-up, as spans per second."""
    decode()
    best = min(_elapsed(decode) for _ in range(rounds))
    return span_count / best


def _elapsed(decode: Callable[[], object]) -> float:
    started = time.perf_counter()
    decode()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=1000, help="spans per request")
    parser.add_argument("--rounds", type=int, default=30, help="timed decodes; the best counts")
    arguments = parser.parse_args()

    request = build_request(arguments.spans)
    protobuf_body = request.SerializeToString()
    json_body = otlp_json_body(request)
    limits = DecodeLimits()
    rows = decode_protobuf(protobuf_body, limits).rows
    average_attributes = sum(len(row[11]) for row in rows) / len(rows)
    print(
        f"request: {arguments.spans} spans, {average_attributes:.1f} span attributes on average, "
        f"protobuf {len(protobuf_body) / 1024:.0f} KiB, JSON {len(json_body) / 1024:.0f} KiB"
    )
    figures = {
        "protobuf parse only (upb, for scale)": spans_per_second(
            lambda: ExportTraceServiceRequest.FromString(protobuf_body), len(rows), arguments.rounds
        ),
        "decode_protobuf": spans_per_second(
            lambda: decode_protobuf(protobuf_body, limits), len(rows), arguments.rounds
        ),
        "decode_protobuf + JSON lines": spans_per_second(
            lambda: decode_protobuf(protobuf_body, limits).encoded(), len(rows), arguments.rounds
        ),
        "compiled decoder to JSON lines": spans_per_second(
            lambda: decode_natively(protobuf_body, limits), len(rows), arguments.rounds
        ),
        "decode_json": spans_per_second(
            lambda: decode_json(json_body, limits), len(rows), arguments.rounds
        ),
    }
    for name, rate in figures.items():
        print(f"{name:40s} {rate:>12,.0f} spans/s")


if __name__ == "__main__":
    main()
