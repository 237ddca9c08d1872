"""Both span sinks store exactly what the exporter would: same rows, to the nanosecond."""

from __future__ import annotations

from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from tests.warehouse.spans import BASE_NS, span_row
from warehouse.correlation import CorrelationRules
from warehouse.migrations import migrate
from warehouse.span_store import EmbeddedSpanSink, NativeSpanSink, SpanSink

ROWS = [
    span_row(
        {"biz.event.type": "time.approved", "note": 'quote " backslash \\ tab \t üñí 漢字 😀'},
        start_ns=BASE_NS + 123_456_789,
        events_timestamp=[BASE_NS + 987_654_321, BASE_NS + 1],
        events_name=["exception", "retry"],
        events_attributes=[{"exception.type": "TimeoutError"}, {}],
        links_trace_id=["ab" * 16],
        links_span_id=["cd" * 8],
        links_trace_state=["k=v"],
        links_attributes=[{"messaging.system": "kafka"}],
        status_code="Error",
        status_message="ERP said no",
    ),
    span_row({}, span_id="00f067aa0ba902b7", resource_attributes={}),
]

SNAPSHOT = (
    "SELECT toUnixTimestamp64Nano(Timestamp), * EXCEPT (Timestamp, `Events.Timestamp`), "
    "arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`) FROM otel_traces ORDER BY SpanId"
)


@pytest.mark.parametrize("sink_kind", ["native", "embedded"])
def test_sinks_store_rows_exactly_as_given(
    client: Client, tmp_path: Path, engine_url: str, sink_kind: str
) -> None:
    """Unicode, quotes, nested events and links and nanosecond times survive either sink."""
    if sink_kind == "embedded" and not engine_url.startswith("chdb:"):
        pytest.skip("the embedded sink reads a local scratch file: chdb only")
    migrate(client, CorrelationRules.default())
    sink: SpanSink = (
        NativeSpanSink(client) if sink_kind == "native" else EmbeddedSpanSink(client, tmp_path)
    )
    sink.write(ROWS)
    rows = client.query(SNAPSHOT).result_rows
    assert len(rows) == 2
    first = rows[1]
    assert first[0] == BASE_NS + 123_456_789
    assert first[-1] == [BASE_NS + 987_654_321, BASE_NS + 1]
    assert first[11]["note"] == 'quote " backslash \\ tab \t üñí 漢字 😀'
    assert first[16] == [{"exception.type": "TimeoutError"}, {}]
    assert first[17:21] == (["ab" * 16], ["cd" * 8], ["k=v"], [{"messaging.system": "kafka"}])
    assert list(tmp_path.iterdir()) == []  # scratch files are removed


def test_both_sinks_agree_row_for_row(client: Client, tmp_path: Path, engine_url: str) -> None:
    """The embedded sink's rows equal the native driver's rows, column for column."""
    if not engine_url.startswith("chdb:"):
        pytest.skip("the embedded sink reads a local scratch file: chdb only")
    migrate(client, CorrelationRules.default())
    NativeSpanSink(client).write(ROWS)
    native = client.query(SNAPSHOT).result_rows
    client.command("TRUNCATE TABLE otel_traces")
    EmbeddedSpanSink(client, tmp_path).write(ROWS)
    assert client.query(SNAPSHOT).result_rows == native
