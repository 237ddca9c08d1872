"""The one ingest pipeline both receivers share: decode → validate → durable write → outcome."""

from __future__ import annotations

import asyncio
import enum
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from collector.decode_result import DecodedRequest
from collector.limits import DecodeLimits
from collector.metrics import IngestMetrics
from collector.native_decode import decode_protobuf_request
from collector.otlp_json import decode_json
from collector.writer import BatchWriter, Durability


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
    writer must push back; everything else is an ``ExportOutcome``.
    """

    def __init__(self, writer: BatchWriter, limits: DecodeLimits, metrics: IngestMetrics) -> None:
        self.writer = writer
        self.limits = limits
        self.metrics = metrics
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
        durability = await asyncio.wrap_future(self.writer.submit(decoded.spans))
        return ExportOutcome(
            accepted_spans=accepted_spans,
            rejected_spans=decoded.rejected_spans,
            error_message=decoded.error_message,
            durability=durability,
        )

    def _decode(self, body: bytes, wire_format: WireFormat) -> DecodedRequest:
        if wire_format is WireFormat.JSON:
            return decode_json(body, self.limits).encoded()
        return decode_protobuf_request(body, self.limits)
