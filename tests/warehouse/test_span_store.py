"""Both span sinks store exactly what the exporter would: same rows, to the nanosecond, as the
driver's own native-format insert of the same row tuples."""

from __future__ import annotations

from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from tests.warehouse.spans import BASE_NS, span_row
from warehouse.correlation import CorrelationRules
from warehouse.migrations import migrate
from warehouse.schema import OTEL_TRACES
from warehouse.span_batch import encode_rows
from warehouse.span_store import EmbeddedSpanSink, ServerSpanSink, SpanSink
from warehouse.spans import OTEL_TRACES_COLUMNS

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


def skip_unless_engine_suits(sink_kind: str, engine_url: str) -> None:
    embedded = engine_url.startswith("chdb:")
    if sink_kind == "embedded" and not embedded:
        pytest.skip("the embedded sink reads a local scratch file: chdb only")
    if sink_kind == "server" and embedded:
        pytest.skip(
            "the server sink streams lines to input(), which chdb does not read: server only"
        )


@pytest.mark.parametrize("sink_kind", ["server", "embedded"])
def test_sinks_store_rows_exactly_as_given(
    client: Client, tmp_path: Path, engine_url: str, sink_kind: str
) -> None:
    """Unicode, quotes, nested events and links and nanosecond times survive either sink."""
    skip_unless_engine_suits(sink_kind, engine_url)
    migrate(client, CorrelationRules.default())
    sink: SpanSink = (
        ServerSpanSink(client) if sink_kind == "server" else EmbeddedSpanSink(client, tmp_path)
    )
    sink.write(encode_rows(ROWS))
    rows = client.query(SNAPSHOT).result_rows
    assert len(rows) == 2
    first = rows[1]
    assert first[0] == BASE_NS + 123_456_789
    assert first[-1] == [BASE_NS + 987_654_321, BASE_NS + 1]
    assert first[11]["note"] == 'quote " backslash \\ tab \t üñí 漢字 😀'
    assert first[16] == [{"exception.type": "TimeoutError"}, {}]
    assert first[17:21] == (["ab" * 16], ["cd" * 8], ["k=v"], [{"messaging.system": "kafka"}])
    assert list(tmp_path.iterdir()) == []  # scratch files are removed


@pytest.mark.parametrize("sink_kind", ["server", "embedded"])
def test_sinks_agree_with_the_drivers_native_insert_row_for_row(
    client: Client, tmp_path: Path, engine_url: str, sink_kind: str
) -> None:
    """A sink's rows equal the driver's native-format insert of the same tuples, column for column."""
    skip_unless_engine_suits(sink_kind, engine_url)
    migrate(client, CorrelationRules.default())
    client.insert(OTEL_TRACES, ROWS, column_names=OTEL_TRACES_COLUMNS)
    native = client.query(SNAPSHOT).result_rows
    client.command("TRUNCATE TABLE otel_traces")
    sink: SpanSink = (
        ServerSpanSink(client) if sink_kind == "server" else EmbeddedSpanSink(client, tmp_path)
    )
    sink.write(encode_rows(ROWS))
    assert client.query(SNAPSHOT).result_rows == native
