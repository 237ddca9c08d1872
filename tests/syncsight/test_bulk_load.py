"""The direct loader stores exactly the rows the OTLP receivers would, for every emitted span."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from simulator.run import simulate
from syncsight.bulk_load import WarehouseSpanExporter
from tests.quarter import END
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.span_store import span_sink


def test_direct_load_stores_every_simulated_span(client: Client, engine_url: str) -> None:
    """A tiny quarter written through the collector's decoder lands span for span."""
    migrate(client, CorrelationRules.default())
    exporter = WarehouseSpanExporter(span_sink(client, engine_url), batch_rows=2_000)
    stats = simulate(end=END, exporter=exporter, scale="tiny", progress=False)
    assert exporter.rejected == 0
    assert exporter.written == stats.spans
    stored = client.query("SELECT uniqExact(TraceId, SpanId) FROM otel_traces").result_rows[0][0]
    assert stored == stats.spans
    invoices = client.query(
        "SELECT uniqExact(ObjectId) FROM biz_event_objects FINAL "
        "WHERE ObjectType = 'invoice' AND EventType = 'invoice.posted' AND Outcome = 'success'"
    ).result_rows[0][0]
    assert invoices == stats.invoices_posted
