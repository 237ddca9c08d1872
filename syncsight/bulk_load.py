"""``syncsight simulate --direct``: the simulator's spans written straight into ClickHouse through
the collector's own decoder (OTLP encode → ``decode_protobuf_request`` → the span sink), skipping
HTTP.

For loading the medium and large benchmark datasets in minutes; rows are identical to what the
OTLP receivers would store, because they are built by the same decoder.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from collector.limits import DecodeLimits
from collector.native_decode import decode_protobuf_request
from warehouse.span_batch import SpanBatch, join_batches
from warehouse.span_store import SpanSink


class WarehouseSpanExporter(SpanExporter):
    """An SDK exporter that decodes like the collector and inserts in large batches."""

    def __init__(self, sink: SpanSink, *, batch_rows: int = 100_000) -> None:
        self.sink = sink
        self.batch_rows = batch_rows
        self.limits = DecodeLimits()
        self.pending: list[SpanBatch] = []
        self.pending_rows = 0
        self.written = 0
        self.rejected = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        decoded = decode_protobuf_request(encode_spans(spans).SerializeToString(), self.limits)
        self.rejected += decoded.rejected_spans
        self.pending.append(decoded.spans)
        self.pending_rows += decoded.spans.row_count
        if self.pending_rows >= self.batch_rows:
            self._flush()
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self._flush()
        return True

    def shutdown(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self.pending_rows:
            self.sink.write(join_batches(self.pending))
            self.written += self.pending_rows
        self.pending = []
        self.pending_rows = 0
