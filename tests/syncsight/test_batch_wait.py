"""How long a span waits for company before its insert: by default longer when the journal
answers the sender (the wait then only delays when the span can be queried) than when the insert
does (the sender waits with it)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import ValidationError

from benchmarks.soak import parse_samples, totals_by_name
from domain import semconv as sc
from syncsight.demo import wait_stored
from syncsight.settings import INSERT_BATCH_WAIT_MS, JOURNAL_BATCH_WAIT_MS, Settings
from tests.service import asgi_client, in_process_app, serving_in_thread

URL = "chdb:///tmp/syncsight-batch-wait-test"


@pytest.fixture(autouse=True)
def no_batching_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SYNCSIGHT_BATCH_MAX_WAIT_MS", "SYNCSIGHT_INGEST_ACKNOWLEDGE"):
        monkeypatch.delenv(name, raising=False)


def test_auto_waits_longer_when_the_journal_acknowledges() -> None:
    journal = Settings(clickhouse_url=URL)
    insert = Settings(clickhouse_url=URL, ingest_acknowledge="insert")
    assert journal.batch_max_wait_ms == "auto"
    assert journal.batch_max_wait_seconds == JOURNAL_BATCH_WAIT_MS / 1000
    assert insert.batch_max_wait_seconds == INSERT_BATCH_WAIT_MS / 1000
    assert INSERT_BATCH_WAIT_MS < JOURNAL_BATCH_WAIT_MS


@pytest.mark.parametrize("acknowledge", ["journal", "insert"])
def test_a_wait_given_is_kept_whatever_acknowledges(
    acknowledge: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCSIGHT_BATCH_MAX_WAIT_MS", "20")
    monkeypatch.setenv("SYNCSIGHT_INGEST_ACKNOWLEDGE", acknowledge)
    assert Settings(clickhouse_url=URL).batch_max_wait_seconds == 0.02
    monkeypatch.setenv("SYNCSIGHT_BATCH_MAX_WAIT_MS", " auto ")
    assert Settings(clickhouse_url=URL).batch_max_wait_ms == "auto"


@pytest.mark.parametrize("value", ["-5", "1.5", "soon", ""])
def test_a_wait_that_is_not_milliseconds_names_the_setting(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCSIGHT_BATCH_MAX_WAIT_MS", value)
    with pytest.raises(
        ValidationError, match=r"SYNCSIGHT_BATCH_MAX_WAIT_MS=.*expected milliseconds"
    ):
        Settings(clickhouse_url=URL)


@pytest.mark.parametrize("value", ["auto", " 3 ", "0"])
def test_the_insert_quorum_takes_auto_or_a_count_too(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quorum's setting is read by the same rule as the wait (one reader of ``auto`` or a
    count), and refused the same way."""
    monkeypatch.setenv("SYNCSIGHT_CLICKHOUSE_INSERT_QUORUM", value)
    quorum = Settings(clickhouse_url=URL).clickhouse_insert_quorum
    assert quorum == ("auto" if value == "auto" else int(value))
    monkeypatch.setenv("SYNCSIGHT_CLICKHOUSE_INSERT_QUORUM", "majority")
    with pytest.raises(
        ValidationError, match=r"SYNCSIGHT_CLICKHOUSE_INSERT_QUORUM=majority: expected 0"
    ):
        Settings(clickhouse_url=URL)


def export(request: int) -> bytes:
    """An OTLP request of two business spans of their own."""
    message = ExportTraceServiceRequest()
    spans = message.resource_spans.add().scope_spans.add().spans
    for i in range(2):
        span = spans.add()
        span.trace_id = (request * 10 + i + 1).to_bytes(16, "big")
        span.span_id = (i + 1).to_bytes(8, "big")
        span.name = "erp.post"
        span.start_time_unix_nano = 1_767_225_600_000_000_000 + i
        span.end_time_unix_nano = span.start_time_unix_nano + 1_000
        for key, value in ((sc.EVENT_TYPE, sc.TIME_APPROVED), (sc.EVENT_ID, f"wait-{request}-{i}")):
            attribute = span.attributes.add()
            attribute.key, attribute.value.string_value = key, value
    return bytes(message.SerializeToString())


def inserts_and_rows(metrics: str) -> tuple[float, float]:
    totals = totals_by_name(parse_samples(metrics))
    return (
        totals.get("syncsight_insert_batch_rows_count", 0.0),
        totals.get("syncsight_insert_batch_rows_sum", 0.0),
    )


@pytest.mark.parametrize(("acknowledge", "inserts"), [("journal", 1), ("insert", 2)])
def test_the_service_writes_exports_half_a_second_apart_as_its_window_says(
    acknowledge: str, inserts: int, chdb_url: str, database: str, tmp_path: Path
) -> None:
    """With the defaults (journal), two exports half a second apart share one insert; when the
    insert acknowledges, the first is written (and answered) before the second arrives."""
    app = in_process_app(chdb_url, database, tmp_path, ingest_acknowledge=acknowledge)

    async def send() -> tuple[float, float]:
        async with asgi_client(app) as api:
            for request in range(2):
                if request:
                    await asyncio.sleep(0.5)
                answer = await api.post(
                    "/v1/traces",
                    content=export(request),
                    headers={"content-type": "application/x-protobuf"},
                )
                assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + 30
            while True:
                written = inserts_and_rows((await api.get("/metrics")).text)
                if written[1] >= 4 or time.monotonic() > deadline:
                    return written
                await asyncio.sleep(0.1)

    assert asyncio.run(send()) == (inserts, 4)


def test_the_demo_announces_the_quarter_only_once_its_last_spans_are_inserted(
    chdb_url: str, database: str, tmp_path: Path, client: Client
) -> None:
    """The journal answers the exporter before the insert, which follows within the window: the
    demo's loader waits for the service to hold nothing uninserted before it names an invoice."""
    app = in_process_app(chdb_url, database, tmp_path, batch_max_wait_ms=5000)

    def stored() -> int:
        query = "SELECT count() FROM biz_events WHERE EventId LIKE 'wait-7-%'"
        return int(client.query(query).result_rows[0][0])

    with serving_in_thread(app) as http:
        answer = http.post(
            "/v1/traces", content=export(7), headers={"content-type": "application/x-protobuf"}
        )
        assert answer.status_code == 200, answer.text
        assert stored() == 0, "answered from the journal, inserted within the window"
        assert wait_stored(str(http.base_url), "", timeout=60) is None
        assert stored() == 2


def test_the_demo_s_wait_gives_up_on_a_metrics_page_it_may_not_read(
    chdb_url: str, database: str, tmp_path: Path
) -> None:
    """``/metrics`` refusing the demo's token (a JSON refusal, not the exposition) ends the wait
    with that reason at once: ``wait_stored`` does not raise on the page, nor wait out its time
    for an answer that will not change. With the right token the same service answers None
    (stored)."""
    right, wrong = "viewer-token-0123456789abcdef", "not-a-configured-token-0123456789"
    app = in_process_app(chdb_url, database, tmp_path, api_tokens=f"{right}:viewer")
    with serving_in_thread(app) as http:
        refused = http.get("/metrics", headers={"Authorization": f"Bearer {wrong}"})
        assert refused.status_code == 401, refused.text
        reason = wait_stored(str(http.base_url), wrong, timeout=30)
        assert reason is not None
        assert "refused the API token (401)" in reason
        assert wait_stored(str(http.base_url), right, timeout=60) is None
