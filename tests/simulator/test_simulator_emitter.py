"""Emission through the OpenTelemetry SDK: trace shape, links, errors, ids and timestamps."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from domain import semconv
from simulator.emitter import unix_nanos
from simulator.routes import SERVICES
from tests.simulator.quarters import END, SEED, EmittedQuarter, emit_quarter


def traces(spans: tuple[ReadableSpan, ...]) -> dict[int, list[ReadableSpan]]:
    by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        by_trace[span.context.trace_id].append(span)
    return by_trace


def client_spans(spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    return [span for span in spans if span.kind == SpanKind.CLIENT]


def attribute(span: ReadableSpan, key: str) -> object:
    assert span.attributes is not None
    return span.attributes.get(key)


def span_identity(span: ReadableSpan) -> tuple[object, ...]:
    return (
        span.context.trace_id,
        span.context.span_id,
        span.name,
        span.kind,
        span.start_time,
        span.end_time,
        tuple(sorted((span.attributes or {}).items())),
        tuple((link.context.trace_id, link.context.span_id) for link in span.links),
    )


class TestTraceShape:
    def test_each_delivery_is_a_consumer_root_with_validate_map_and_client_children(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """One CONSUMER root per trace, two INTERNAL steps and at least one CLIENT call under it."""
        for spans in traces(small_quarter.spans).values():
            roots = [span for span in spans if span.parent is None]
            assert [root.kind for root in roots] == [SpanKind.CONSUMER]
            children = [span for span in spans if span.parent is not None]
            assert all(span.parent.span_id == roots[0].context.span_id for span in children)  # type: ignore[union-attr]
            kinds = sorted(span.kind.value for span in children)
            assert kinds.count(SpanKind.INTERNAL.value) == 2
            assert kinds.count(SpanKind.CLIENT.value) >= 1

    def test_only_client_spans_carry_the_business_event(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """biz.event.type sits on CLIENT spans, never on consumer or internal spans."""
        for span in small_quarter.spans:
            carries = attribute(span, semconv.EVENT_TYPE) is not None
            assert carries == (span.kind == SpanKind.CLIENT)

    def test_every_middleware_service_has_its_own_resource(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """service.name names the integration flow, under one service.namespace."""
        names = {span.resource.attributes["service.name"] for span in small_quarter.spans}
        namespaces = {span.resource.attributes["service.namespace"] for span in small_quarter.spans}
        assert names == set(SERVICES)
        assert len(namespaces) == 1

    def test_array_valued_ids_are_string_sequences(self, small_quarter: EmittedQuarter) -> None:
        """time_entry[] on billing.ready and obligation[] on contract.signed are lists of strings."""
        arrays = {
            semconv.BILLING_READY: semconv.object_id_key(semconv.TIME_ENTRY),
            semconv.CONTRACT_SIGNED: semconv.object_id_key(semconv.OBLIGATION),
        }
        seen = set()
        for span in client_spans(small_quarter.spans):
            key = arrays.get(str(attribute(span, semconv.EVENT_TYPE)))
            value = attribute(span, key) if key else None
            if value is not None:
                assert isinstance(value, tuple)
                assert all(isinstance(item, str) for item in value)
                seen.add(key)
        assert seen == set(arrays.values())


class TestLinksAndErrors:
    def test_a_consumer_links_to_the_upstream_event_across_the_queue(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """An invoice's consumer span links to the successful billing.ready client span."""
        clients = client_spans(small_quarter.spans)
        successful = {  # by the event's own id, which a replay with a new id names
            str(attribute(span, semconv.REPLAY_OF) or attribute(span, semconv.EVENT_ID)): (
                span.context.span_id
            )
            for span in clients
            if attribute(span, semconv.OUTCOME) == semconv.SUCCESS
        }
        by_trace = traces(small_quarter.spans)
        checked = 0
        for span in clients:
            if attribute(span, semconv.EVENT_TYPE) != semconv.INVOICE_POSTED:
                continue
            if attribute(span, semconv.REPLAY_OF) is not None:
                continue
            billing_event = attribute(span, semconv.object_id_key(semconv.BILLING_EVENT))
            consumer = next(s for s in by_trace[span.context.trace_id] if s.parent is None)
            linked = {link.context.span_id for link in consumer.links}
            assert successful[f"{semconv.BILLING_READY}:{billing_event}"] in linked
            checked += 1
        assert checked > 100

    def test_a_failed_attempt_has_error_status_and_an_exception_event(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """Failed calls are ERROR with an exception event naming the type and message."""
        failed = [
            span
            for span in client_spans(small_quarter.spans)
            if attribute(span, semconv.OUTCOME) != semconv.SUCCESS
        ]
        assert failed
        for span in failed:
            assert span.status.status_code == StatusCode.ERROR
            assert attribute(span, semconv.ERROR_CATEGORY) in semconv.ERROR_CATEGORIES
            exception = next(event for event in span.events if event.name == "exception")
            assert exception.attributes is not None
            assert exception.attributes["exception.type"]
            assert exception.attributes["exception.message"] == span.status.description

    def test_a_replay_names_the_event_it_replays_and_links_to_the_failed_attempt(
        self, small_quarter: EmittedQuarter
    ) -> None:
        """A replay trace carries biz.replay.of (the original event id), a higher attempt, and a
        link; some replays keep the event id, others carry a new one, as middleware does."""
        clients = client_spans(small_quarter.spans)
        by_id = {span.context.span_id: span for span in clients}
        by_trace = traces(small_quarter.spans)
        replays = [span for span in clients if attribute(span, semconv.REPLAY_OF) is not None]
        assert replays
        new_ids = 0
        for span in replays:
            original = attribute(span, semconv.REPLAY_OF)
            own = attribute(span, semconv.EVENT_ID)
            assert own == original or str(own).startswith(f"{original}:replay-")
            new_ids += own != original
            consumer = next(s for s in by_trace[span.context.trace_id] if s.parent is None)
            previous = by_id[consumer.links[0].context.span_id]
            assert attribute(previous, semconv.REPLAY_OF) in (None, original)
            assert original in (
                attribute(previous, semconv.EVENT_ID),
                attribute(previous, semconv.REPLAY_OF),
            )
            assert attribute(previous, semconv.OUTCOME) != semconv.SUCCESS
            assert int(str(attribute(span, semconv.ATTEMPT))) > int(
                str(attribute(previous, semconv.ATTEMPT))
            )
        assert 0 < new_ids < len(replays)


class TestTimestampsAndIds:
    def test_spans_are_dated_inside_the_simulated_quarter(
        self, tiny_quarter: EmittedQuarter
    ) -> None:
        """Start and end times are the scenario's historical times, not the time of emission."""
        quarter_start = unix_nanos(END - timedelta(weeks=13))
        latest = unix_nanos(END + timedelta(minutes=5))
        for span in tiny_quarter.spans:
            assert span.start_time is not None
            assert span.end_time is not None
            assert quarter_start <= span.start_time <= span.end_time <= latest

    def test_the_same_seed_gives_the_same_spans_and_ids(
        self, tiny_quarter: EmittedQuarter, tmp_path: Path
    ) -> None:
        """Re-emitting a seed reproduces every trace id, span id, timestamp, attribute and link."""
        again = emit_quarter("tiny", SEED, tmp_path / "truth.json")
        assert [span_identity(s) for s in again.spans] == [
            span_identity(s) for s in tiny_quarter.spans
        ]

    def test_another_seed_gives_other_ids(
        self, tiny_quarter: EmittedQuarter, tmp_path: Path
    ) -> None:
        """Ids come from the seed, so another seed shares none of them."""
        other = emit_quarter("tiny", SEED + 1, tmp_path / "truth.json")
        ids = {span.context.span_id for span in tiny_quarter.spans}
        assert ids.isdisjoint(span.context.span_id for span in other.spans)

    def test_every_planned_span_is_emitted(self, small_quarter: EmittedQuarter) -> None:
        """The exporter receives exactly the spans the statistics count; none are dropped."""
        assert small_quarter.stats.spans_emitted
        assert len(small_quarter.spans) == small_quarter.stats.spans
