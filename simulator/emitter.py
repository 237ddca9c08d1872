"""Emits business events as OpenTelemetry traces through the real SDK, with historical timestamps.

Each delivery of an event is one trace of the middleware service that carries it: a CONSUMER span
(the message received from the source system, linked to the upstream event's span across the
queue), INTERNAL ``validate`` and ``map`` spans, and one CLIENT span per attempt to post to the
target system, carrying the event's ``biz.*`` attributes. Ids come from a seeded generator, so the
same scenario gives the same trace and span ids.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from types import TracebackType
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.version import __version__ as sdk_version
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from domain import semconv
from domain.instants import EPOCH
from simulator.events import Attempt, BusinessEvent, Delivery, SyncError
from simulator.routes import ROUTES, SERVICES, Route

SERVICE_NAMESPACE: Final = "harborvale.integration"
SERVICE_VERSION: Final = "3.4.1"
SCOPE_NAME: Final = "syncsight.simulator"
MAX_EXPORT_BATCH_SIZE: Final = 1000
MAX_QUEUE_SIZE: Final = 65_536
FLUSH_EVERY_SPANS: Final = 16_384
"""Flush this often so a fast emitter never overruns the queue (the SDK drops spans then)."""
_ROOT: Final = Context()
_HTTP_STATUS: Final = {
    semconv.MASTER_DATA: 422,
    semconv.MAPPING: 422,
    semconv.VALIDATION: 422,
    semconv.PERIOD_CLOSED: 409,
    semconv.AUTH: 401,
    semconv.DOWNSTREAM: 503,
    semconv.DUPLICATE: 409,
}


def unix_nanos(instant: datetime) -> int:
    """Integer nanoseconds since the Unix epoch, exact to the microsecond."""
    return (instant - EPOCH) // timedelta(microseconds=1) * 1000


class SeededIdGenerator(IdGenerator):
    """Trace and span ids from ``random.Random(seed)``: same seed and call order, same ids."""

    def __init__(self, seed: str) -> None:
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        span_id = self._random.getrandbits(64)
        while span_id == trace.INVALID_SPAN_ID:
            span_id = self._random.getrandbits(64)
        return span_id

    def generate_trace_id(self) -> int:
        trace_id = self._random.getrandbits(128)
        while trace_id == trace.INVALID_TRACE_ID:
            trace_id = self._random.getrandbits(128)
        return trace_id

    def is_trace_id_random(self) -> bool:
        return True


def service_resource(service: str) -> Resource:
    """The resource of one middleware service; built explicitly so the environment cannot alter it."""
    return Resource(
        {
            "service.name": service,
            "service.namespace": SERVICE_NAMESPACE,
            "service.version": SERVICE_VERSION,
            "service.instance.id": f"{service}-0",
            "deployment.environment.name": "simulated",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.version": sdk_version,
        }
    )


class TraceEmitter:
    """Turns business events into spans, one TracerProvider per middleware service.

    The providers share one ``BatchSpanProcessor`` in front of ``exporter``; ``close()`` flushes it
    and shuts it (and so the exporter) down.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        seed: int,
        max_export_batch_size: int = MAX_EXPORT_BATCH_SIZE,
        max_queue_size: int = MAX_QUEUE_SIZE,
    ) -> None:
        self._processor = BatchSpanProcessor(
            exporter,
            max_queue_size=max_queue_size,
            schedule_delay_millis=200,
            max_export_batch_size=max_export_batch_size,
        )
        self._flush_every = min(FLUSH_EVERY_SPANS, max_queue_size // 2)
        self._tracers: dict[str, trace.Tracer] = {}
        for service in SERVICES:
            provider = TracerProvider(
                sampler=ALWAYS_ON,
                resource=service_resource(service),
                shutdown_on_exit=False,
                id_generator=SeededIdGenerator(f"{seed}:{service}"),
            )
            provider.add_span_processor(self._processor)
            self._tracers[service] = provider.get_tracer(SCOPE_NAME, SERVICE_VERSION)
        self._successful_spans: dict[str, SpanContext] = {}
        self._since_flush = 0
        self.spans_emitted = 0

    def __enter__(self) -> TraceEmitter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def emit(self, event: BusinessEvent) -> None:
        """Emit every delivery of ``event``; its upstream events must have been emitted before."""
        route = ROUTES[event.event_type]
        tracer = self._tracers[route.service]
        static = _event_attributes(event, route)
        links = [
            Link(self._successful_spans[upstream])
            for upstream in event.upstream_event_ids
            if upstream in self._successful_spans
        ]
        for delivery in event.deliveries:
            last_client = self._emit_delivery(tracer, route, event, delivery, static, links)
            links = [Link(last_client)]
            if delivery.attempts[-1].succeeded:
                self._successful_spans[event.event_id] = last_client
        if self._since_flush >= self._flush_every:
            self._processor.force_flush()
            self._since_flush = 0

    def forget_links(self) -> None:
        """Drop the span contexts kept for linking (call between independent contracts)."""
        self._successful_spans.clear()

    def close(self) -> None:
        self._processor.force_flush()
        self._processor.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK

    def _emit_delivery(
        self,
        tracer: trace.Tracer,
        route: Route,
        event: BusinessEvent,
        delivery: Delivery,
        static: dict[str, AttributeValue],
        links: list[Link],
    ) -> SpanContext:
        received = unix_nanos(delivery.received_at)
        gap = unix_nanos(delivery.attempts[0].started_at) - received
        consumer = tracer.start_span(
            f"{route.queue} process",
            context=_ROOT,
            kind=SpanKind.CONSUMER,
            links=links,
            start_time=received,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "messaging.destination.name": route.queue,
                "messaging.message.id": f"{event.event_id}#{delivery.attempts[0].number}",
            },
        )
        parent = trace.set_span_in_context(consumer)
        for name, share_from, share_to in (("validate", 0.05, 0.45), ("map", 0.5, 0.95)):
            step = tracer.start_span(
                f"{name} {event.event_type}",
                context=parent,
                kind=SpanKind.INTERNAL,
                start_time=received + int(gap * share_from),
            )
            step.end(end_time=received + int(gap * share_to))
        client_context = consumer.get_span_context()
        for attempt in delivery.attempts:
            client_context = self._emit_attempt(
                tracer, route, event, delivery, attempt, static, parent
            )
        final = delivery.attempts[-1]
        if final.error is not None:
            consumer.set_status(Status(StatusCode.ERROR, final.error.message))
        consumer.end(end_time=unix_nanos(final.ended_at) + 1_000_000)
        self._count(3 + len(delivery.attempts))
        return client_context

    def _emit_attempt(
        self,
        tracer: trace.Tracer,
        route: Route,
        event: BusinessEvent,
        delivery: Delivery,
        attempt: Attempt,
        static: dict[str, AttributeValue],
        parent: Context,
    ) -> SpanContext:
        attributes = dict(static)
        attributes[semconv.OUTCOME] = attempt.outcome
        attributes[semconv.ATTEMPT] = attempt.number
        if attempt.period is not None:
            attributes[semconv.PERIOD] = attempt.period
        if delivery.is_replay:
            attributes[semconv.REPLAY_OF] = event.event_id
            attributes[semconv.EVENT_ID] = replay_event_id(event.event_id, delivery)
        error = attempt.error
        if error is None:
            attributes["http.response.status_code"] = 201
        else:
            attributes[semconv.ERROR_CATEGORY] = error.category
            attributes[semconv.ERROR_CODE] = error.code
            attributes["error.type"] = error.exception_type
            if error.category in _HTTP_STATUS:
                attributes["http.response.status_code"] = _HTTP_STATUS[error.category]
        client = tracer.start_span(
            f"{route.http_method} {route.target_path}",
            context=parent,
            kind=SpanKind.CLIENT,
            start_time=unix_nanos(attempt.started_at),
            attributes=attributes,
        )
        ended = unix_nanos(attempt.ended_at)
        if error is not None:
            _record_failure(client, error, ended)
        client.end(end_time=ended)
        return client.get_span_context()

    def _count(self, spans: int) -> None:
        self.spans_emitted += spans
        self._since_flush += spans


def replay_event_id(event_id: str, delivery: Delivery) -> str:
    """The id a replay's spans carry: middleware that re-submits a message gives every other
    replay a new message id (``biz.replay.of`` names the original, and syncsight folds it into
    the original event), the rest keep the original id."""
    number = delivery.attempts[0].number
    return f"{event_id}:replay-{number}" if number % 2 == 0 else event_id


def _record_failure(span: trace.Span, error: SyncError, at: int) -> None:
    span.add_event(
        "exception",
        {"exception.type": error.exception_type, "exception.message": error.message},
        timestamp=at,
    )
    span.set_status(Status(StatusCode.ERROR, error.message))


def _event_attributes(event: BusinessEvent, route: Route) -> dict[str, AttributeValue]:
    """The attributes every attempt of ``event`` shares."""
    attributes: dict[str, AttributeValue] = {
        semconv.EVENT_TYPE: event.event_type,
        semconv.EVENT_ID: event.event_id,
        semconv.SOURCE_SYSTEM: route.source_system,
        semconv.TARGET_SYSTEM: route.target_system,
        "http.request.method": route.http_method,
        "server.address": route.server_address,
        "url.full": f"https://{route.server_address}{route.target_path}",
    }
    if event.amount is not None:
        attributes[semconv.AMOUNT] = float(event.amount)
    if event.currency is not None:
        attributes[semconv.CURRENCY] = event.currency
    for object_type, ids in event.object_ids.items():
        attributes[semconv.object_id_key(object_type)] = ids if isinstance(ids, str) else list(ids)
    return attributes
