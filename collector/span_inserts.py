"""The writer's inserts into ClickHouse: each one timed and counted, and whether the engine is taking
writes at all (``healthy``), which decides between inserting and spooling."""

from __future__ import annotations

import logging
import time

from collector.metrics import IngestMetrics
from warehouse.insert_errors import refusal_reason
from warehouse.span_batch import SpanBatch
from warehouse.span_store import SpanSink

logger = logging.getLogger(__name__)


class SpanInserts:
    """Inserts through one sink; used by the writer thread only, read by any."""

    def __init__(self, sink: SpanSink, metrics: IngestMetrics) -> None:
        self.sink = sink
        self.metrics = metrics
        self.healthy = True
        """False from an insert that failed other than for its rows until one succeeds."""
        self.stored_count = 0
        """Inserts stored so far: tells a batch that fails alone from an outage."""
        self.last_failure_at = 0.0
        """``time.monotonic()`` of the last failure other than for the rows."""

    def insert(self, spans: SpanBatch) -> Exception | None:
        """Insert ``spans``; the failure, or None once stored."""
        started = time.perf_counter()
        try:
            self.sink.write(spans)
        except Exception as error:  # any driver/engine failure is classified by the caller
            self.metrics.insert_failures.inc()
            if refusal_reason(error) is not None:
                logger.warning("ClickHouse refused %d spans for their data", spans.row_count)
                return error
            if self.healthy:
                logger.warning("ClickHouse insert failed, spooling to disk: %s", error)
            self.healthy = False
            self.last_failure_at = time.monotonic()
            return error
        self.stored_count += 1
        self.metrics.insert_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_rows.observe(spans.row_count)
        if not self.healthy:
            logger.info("ClickHouse insert succeeded again; replaying the spool")
        self.healthy = True
        return None
