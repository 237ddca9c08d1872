"""The one ingest pipeline both receivers share: decode → validate → durable write → outcome."""

from __future__ import annotations

import asyncio
import enum
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from collector.decode_result import DecodedRequest
from collector.limits import DecodeLimits
from collector.metrics import IngestMetrics
from collector.native_decode import decode_protobuf_request
from collector.otlp_json import decode_json
from collector.writer import BatchWriter, Durability, Overloaded

QUARANTINE_WARNING = (
    "ClickHouse refused these spans for their data; they are kept in the quarantine for an "
    "operator (syncsight quarantine list)"
)


class WireFormat(enum.Enum):
    PROTOBUF = "protobuf"
    JSON = "json"


@dataclass(frozen=True)
class ExportOutcome:
    """What the receiver tells the client: how many spans were refused and why."""

    accepted_spans: int
    rejected_spans: int
    error_message: str
    durability: Durability


class IngestPipeline:
    """Decodes an export request, hands its valid spans to the writer and waits until durable.

    Raises ``UndecodableRequest`` for a body that is not OTLP and ``Overloaded`` when the
    writer must push back or the spans are not durable within ``ack_timeout_seconds``;
    everything else is an ``ExportOutcome``.
    """

    def __init__(
        self,
        writer: BatchWriter,
        limits: DecodeLimits,
        metrics: IngestMetrics,
        *,
        ack_timeout_seconds: float,
    ) -> None:
        self.writer = writer
        self.limits = limits
        self.metrics = metrics
        self.ack_timeout_seconds = ack_timeout_seconds
        # One decoding thread: decoding holds the GIL, so more threads only add contention.
        self._decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otlp-decode")

    async def export(self, body: bytes, wire_format: WireFormat) -> ExportOutcome:
        # Decoding is CPU work: off the event loop, so health checks stay responsive under load.
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(self._decoder, self._decode, body, wire_format)
        accepted_spans = decoded.spans.row_count
        self.metrics.spans_received.inc(accepted_spans + decoded.rejected_spans)
        if decoded.rejected_spans:
            self.metrics.spans_rejected.labels(reason="invalid").inc(decoded.rejected_spans)
        durability = await self._durable(self.writer.submit(decoded.spans))
        error_message = decoded.error_message
        if durability is Durability.QUARANTINED:
            error_message = "; ".join(filter(None, [error_message, QUARANTINE_WARNING]))
        return ExportOutcome(
            accepted_spans=accepted_spans,
            rejected_spans=decoded.rejected_spans,
            error_message=error_message,
            durability=durability,
        )

    async def _durable(self, written: Future[Durability]) -> Durability:
        # shielded: a timeout must not cancel the writer's future, which it resolves later
        try:
            return await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(written)), self.ack_timeout_seconds
            )
        except TimeoutError:
            raise Overloaded(
                f"spans not durable within {self.ack_timeout_seconds:g} s "
                "(SYNCSIGHT_INGEST_ACK_TIMEOUT_SECONDS); see /readyz",
                self.writer.limits.retry_after_seconds,
            ) from None

    def _decode(self, body: bytes, wire_format: WireFormat) -> DecodedRequest:
        if wire_format is WireFormat.JSON:
            return decode_json(body, self.limits).encoded()
        return decode_protobuf_request(body, self.limits)
