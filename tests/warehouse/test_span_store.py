"""Both span sinks store exactly what the exporter would: same rows, to the nanosecond, as the
driver's own native-format insert of the same row tuples."""

from __future__ import annotations

from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.warehouse.spans import BASE_NS, span_row
from warehouse.correlation_rules import CorrelationRules
from warehouse.insert_errors import is_too_many_partitions, refusal_reason
from warehouse.migrations import migrate
from warehouse.schema import OTEL_TRACES
from warehouse.span_batch import NANOSECONDS_PER_DAY, SpanBatch, encode_rows, split_by_day
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


def backfill(days: int) -> list[tuple[object, ...]]:
    """One span per day, going back ``days`` days from the base instant."""
    return [
        span_row({}, span_id=f"{day + 1:016x}", start_ns=BASE_NS - day * NANOSECONDS_PER_DAY)
        for day in range(days)
    ]


class TestBackfill:
    @pytest.mark.parametrize("sink_kind", ["server", "embedded"])
    def test_a_backfill_over_150_days_is_stored_and_readable(
        self, client: Client, tmp_path: Path, engine_url: str, sink_kind: str
    ) -> None:
        """More days than the engine takes in one insert: every span lands, one per day."""
        skip_unless_engine_suits(sink_kind, engine_url)
        migrate(client, CorrelationRules.default())
        sink: SpanSink = (
            ServerSpanSink(client) if sink_kind == "server" else EmbeddedSpanSink(client, tmp_path)
        )
        sink.write(encode_rows(backfill(150)))
        days = client.query(
            "SELECT count(), uniqExact(toDate(Timestamp)) FROM otel_traces"
        ).result_rows
        assert days == [(150, 150)]

    def test_the_same_backfill_in_one_insert_is_refused_for_its_data(self, client: Client) -> None:
        """The engine's own refusal of 150 days in one block is recognised as the rows' fault."""
        migrate(client, CorrelationRules.default())
        with pytest.raises(DatabaseError) as refused:
            client.insert(OTEL_TRACES, backfill(150), column_names=OTEL_TRACES_COLUMNS)
        assert is_too_many_partitions(refused.value)
        assert "Too many partitions" in str(refusal_reason(refused.value))


class TestSplitByDay:
    def test_groups_hold_at_most_max_days_consecutive_days_oldest_first(self) -> None:
        """150 daily rows in groups of 99 days: two batches, every row kept once, in day order."""
        parts = split_by_day(encode_rows(backfill(150)), max_days=99)
        assert [part.row_count for part in parts] == [99, 51]
        timestamps = [
            int(line[1 : line.index(b",")]) for p in parts for line in p.json_lines.split(b"\n")
        ]
        assert timestamps == sorted(timestamps)
        assert len(set(timestamps)) == 150

    def test_sparse_days_count_by_their_spread_not_their_number(self) -> None:
        """Days 0 and 10 are 11 days apart: with max_days=10 they go to separate batches."""
        rows = [backfill(11)[0], backfill(11)[10]]
        assert [p.row_count for p in split_by_day(encode_rows(rows), max_days=10)] == [1, 1]
        assert [p.row_count for p in split_by_day(encode_rows(rows), max_days=11)] == [2]

    def test_max_days_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match="max_days=0: expected at least 1"):
            split_by_day(encode_rows(backfill(1)), max_days=0)


class TestRefusalReason:
    def test_rows_the_engine_cannot_parse_are_refused_for_their_data(
        self, client: Client, tmp_path: Path, engine_url: str
    ) -> None:
        """A line whose timestamp is text: the engine's parse error is a refusal, with its code."""
        skip_unless_engine_suits("embedded", engine_url)
        migrate(client, CorrelationRules.default())
        with pytest.raises(DatabaseError) as refused:
            EmbeddedSpanSink(client, tmp_path).write(SpanBatch(b'["not a time",1]', 1))
        reason = refusal_reason(refused.value)
        assert str(reason).startswith("Code: 27.")

    @pytest.mark.parametrize(
        "message",
        [
            "Connection refused",
            "Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)",
            "Code: 252. DB::Exception: Too many parts (3001 with average size of 1 KiB) in table. "
            "Merges are processing significantly slower than inserts. (TOO_MANY_PARTS)",
        ],
    )
    def test_outages_and_a_busy_engine_are_not_refusals(self, message: str) -> None:
        """Anything that may pass on its own is retried, not set aside."""
        assert refusal_reason(ConnectionError(message)) is None
