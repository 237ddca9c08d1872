"""Prometheus metrics of the ingest path, in a registry of their own (one per service instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class IngestMetrics:
    """Counters, gauges and histograms that ``/metrics`` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.spans_received = Counter(
            "syncsight_spans_received", "Spans in export requests that were decoded.", registry=r
        )
        self.spans_accepted = Counter(
            "syncsight_spans_accepted", "Spans acknowledged as durable.", ["durability"], registry=r
        )
        self.spans_rejected = Counter(
            "syncsight_spans_rejected", "Spans not stored, by reason.", ["reason"], registry=r
        )
        self.requests = Counter(
            "syncsight_export_requests",
            "Export requests by transport and status.",
            ["transport", "status"],
            registry=r,
        )
        self.batch_rows = Histogram(
            "syncsight_insert_batch_rows",
            "Rows per ClickHouse insert.",
            buckets=(100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 200_000),
            registry=r,
        )
        self.insert_seconds = Histogram(
            "syncsight_insert_seconds",
            "Duration of one ClickHouse insert.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=r,
        )
        self.insert_failures = Counter(
            "syncsight_insert_failures", "ClickHouse inserts that failed.", registry=r
        )
        self.spool_bytes = Gauge("syncsight_spool_bytes", "Bytes in the on-disk spool.", registry=r)
        self.spool_files = Gauge(
            "syncsight_spool_files", "Batches in the on-disk spool.", registry=r
        )
        self.quarantined_batches = Counter(
            "syncsight_quarantined_batches",
            "Batches ClickHouse refused for their data, set aside in the quarantine, by source "
            "(request or spool).",
            ["source"],
            registry=r,
        )
        self.quarantine_files = Gauge(
            "syncsight_quarantine_files",
            "Batches in the quarantine, awaiting `syncsight quarantine retry` or `drop`.",
            registry=r,
        )
        self.loop_errors = Counter(
            "syncsight_loop_errors",
            "Unexpected errors of a background ingest loop (writer, journal), which pauses and "
            "goes on.",
            ["loop"],
            registry=r,
        )
        self.pending_spans = Gauge(
            "syncsight_pending_spans", "Spans accepted into memory, not yet durable.", registry=r
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return bytes(generate_latest(self.registry))
