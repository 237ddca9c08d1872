"""Acknowledged means durable: ``kill -9`` mid-stream loses no acknowledged span, and replays and
redeliveries count once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from domain import semconv as sc
from tests.service import start_service, stop_service

SPANS_PER_REQUEST = 200

COUNT_SCRIPT = """
import json, sys
from warehouse.client import connect
client = connect(sys.argv[1])
rows = client.query(
    "SELECT EventId, count() FROM biz_events FINAL GROUP BY EventId"
).result_rows
print(json.dumps({event_id: count for event_id, count in rows}))
"""


def request_body(batch: int) -> tuple[bytes, list[str]]:
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    attribute = resource_spans.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", "mw-crash-test"
    scope_spans = resource_spans.scope_spans.add()
    event_ids = []
    for i in range(SPANS_PER_REQUEST):
        event_id = f"crash-{batch}-{i}"
        span = scope_spans.spans.add()
        span.trace_id = (batch * 1000 + i + 1).to_bytes(16, "big")
        span.span_id = (i + 1).to_bytes(8, "big")
        span.name = "erp.post"
        span.start_time_unix_nano = 1_767_225_600_000_000_000 + i
        span.end_time_unix_nano = span.start_time_unix_nano + 1_000
        for key, value in ((sc.EVENT_TYPE, sc.TIME_APPROVED), (sc.EVENT_ID, event_id)):
            kv = span.attributes.add()
            kv.key, kv.value.string_value = key, value
        event_ids.append(event_id)
    return message.SerializeToString(), event_ids


def stored_event_counts(data_dir: Path) -> dict[str, int]:
    """Read the engine's tables from a separate process once the service has stopped."""
    result = subprocess.run(
        [sys.executable, "-c", COUNT_SCRIPT, f"chdb://{data_dir / 'data'}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    counts: dict[str, int] = json.loads(result.stdout)
    return counts


def test_kill_9_mid_stream_loses_no_acknowledged_span(tmp_path: Path) -> None:
    """Every span acknowledged before SIGKILL is queryable after restart, each exactly once."""
    service = start_service(tmp_path)
    acknowledged: list[str] = []
    sent_batches: list[int] = []
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(timeout=30) as http:
            batch = 0
            while not stop.is_set():
                body, event_ids = request_body(batch)
                sent_batches.append(batch)
                try:
                    response = http.post(
                        f"{service.base_url}/v1/traces",
                        content=body,
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                except httpx.TransportError:
                    return  # the service died under us: this request was never acknowledged
                if response.status_code == 200:
                    acknowledged.extend(event_ids)
                batch += 1

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 20 * SPANS_PER_REQUEST and time.monotonic() < deadline:
        time.sleep(0.05)
    stop_service(service, sig=signal.SIGKILL)
    stop.set()
    sender.join(timeout=30)
    assert len(acknowledged) >= 20 * SPANS_PER_REQUEST, service.log()

    # Restart (the spool, if any, replays at start-up), then redeliver one acknowledged request
    # the way a client that lost the acknowledgement would.
    restarted = start_service(tmp_path)
    body, _ = request_body(0)
    redelivered = httpx.post(
        f"{restarted.base_url}/v1/traces",
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    assert redelivered.status_code == 200
    assert stop_service(restarted) == 0

    counts = stored_event_counts(tmp_path)
    missing = [event_id for event_id in acknowledged if event_id not in counts]
    assert missing == []
    doubled = {event_id: n for event_id, n in counts.items() if n != 1}
    assert doubled == {}


def spool_files(base_url: str) -> float:
    for line in httpx.get(f"{base_url}/metrics", timeout=10).text.splitlines():
        if line.startswith("syncsight_spool_files "):
            return float(line.split()[1])
    raise AssertionError("no syncsight_spool_files in /metrics")


def test_spans_acknowledged_from_the_journal_survive_kill_9_before_their_insert(
    tmp_path: Path,
) -> None:
    """Acknowledged once fsynced in the journal, spans whose insert had not run when the service
    was killed are all in ClickHouse after the restart replays the journal, each exactly once."""
    # The insert is held back by the batching settings an operator has: wait up to ten minutes
    # for a million spans. Acknowledgements do not wait for it.
    held = {"SYNCSIGHT_BATCH_MIN_ROWS": "1000000", "SYNCSIGHT_BATCH_MAX_WAIT_MS": "600000"}
    service = start_service(tmp_path, env=held)
    acknowledged: list[str] = []
    with httpx.Client(timeout=30) as http:
        for batch in range(10):
            body, event_ids = request_body(batch)
            response = http.post(
                f"{service.base_url}/v1/traces",
                content=body,
                headers={"Content-Type": "application/x-protobuf"},
            )
            assert response.status_code == 200, response.text
            acknowledged.extend(event_ids)
    assert spool_files(service.base_url) >= 1
    stop_service(service, sig=signal.SIGKILL)

    before_restart = stored_event_counts(tmp_path)
    assert [event_id for event_id in acknowledged if event_id in before_restart] == []

    restarted = start_service(tmp_path)
    deadline = time.monotonic() + 60
    while spool_files(restarted.base_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stop_service(restarted) == 0

    counts = stored_event_counts(tmp_path)
    assert [event_id for event_id in acknowledged if event_id not in counts] == []
    assert {event_id: counts[event_id] for event_id in acknowledged if counts[event_id] != 1} == {}
