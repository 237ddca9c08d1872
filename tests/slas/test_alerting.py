"""End to end with a real Prometheus Alertmanager: a never-activated contract becomes an alert in
Alertmanager, resolves when the project is activated, and a restart of the service notifies
nobody twice (the webhook receivers are run by the test)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain import semconv as sc
from tests.service import Service, free_port, start_service, stop_service

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
SIGNED_AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
"""A Monday: two business days later the contract is overdue, so it is breached on first sight."""
CONTRACT = "CTR-E2E-0001"


@dataclass
class Receiver:
    """An HTTP endpoint that records every JSON body POSTed to it, by path."""

    server: ThreadingHTTPServer
    bodies: dict[str, list[Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def received(self, path: str) -> list[Any]:
        with self.lock:
            return list(self.bodies.get(path, []))


def start_receiver() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with receiver.lock:
                receiver.bodies.setdefault(self.path, []).append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads what arrived, not the access log."""

    receiver = Receiver(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


def start_alertmanager(directory: Path, webhook: str) -> tuple[subprocess.Popen[bytes], str]:
    assert ALERTMANAGER, (
        "Prometheus Alertmanager is not installed: `make test` installs it, or "
        "`apt-get install -y prometheus-alertmanager`"
    )
    port = free_port()
    config = directory / "alertmanager.yml"
    config.write_text(
        f"""route:
  receiver: test
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: {webhook}
        send_resolved: true
""",
        encoding="utf-8",
    )
    with (directory / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={config}",
                f"--storage.path={directory / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _ready(url), "Alertmanager to start")
    return process, url


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """``condition()`` once truthy; a saturated machine can take tens of seconds for a
    notification to travel evaluator → Alertmanager → receiver, so the bound is generous."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def send(service: Service, event_type: str, objects: dict[str, str], when: datetime) -> None:
    """One business-event span over OTLP/JSON with an explicit start time."""
    attributes = {
        sc.EVENT_TYPE: event_type,
        sc.EVENT_ID: f"{event_type}:{next(iter(objects.values()))}",
        sc.OUTCOME: sc.SUCCESS,
        sc.PERIOD: when.strftime("%Y-%m"),
        **{sc.object_id_key(kind): value for kind, value in objects.items()},
    }
    start = int(when.timestamp() * 1e9)
    span = {
        "traceId": f"{abs(hash((event_type, start))):032x}"[-32:],
        "spanId": f"{abs(hash((start, event_type))):016x}"[-16:],
        "name": f"POST {event_type}",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 200_000_000),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "mw-e2e"}}]
                },
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": [span]}],
            }
        ]
    }
    response = httpx.post(f"{service.base_url}/v1/traces", json=body, timeout=30)
    assert response.status_code == 200, response.text


def alertmanager_alerts(url: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{url}/api/v2/alerts", params={"filter": f'object_id="{CONTRACT}"'}, timeout=10
    )
    response.raise_for_status()
    return [alert for alert in response.json() if alert["status"]["state"] == "active"]


@dataclass
class Stack:
    alertmanager: str
    receiver: Receiver
    data: Path
    env: dict[str, str]
    service: Service | None = None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("alerting")
    receiver = start_receiver()
    process, url = start_alertmanager(directory, f"{receiver.url}/alertmanager")
    env = {
        "SYNCSIGHT_ALERTMANAGER_URL": url,
        "SYNCSIGHT_WEBHOOK_URL": f"{receiver.url}/syncsight",
        "SYNCSIGHT_SLA_INTERVAL": "0.5",
    }
    stack = Stack(url, receiver, directory, env)
    try:
        yield stack
    finally:
        if stack.service is not None:
            stop_service(stack.service)
        process.terminate()
        process.wait(timeout=30)
        receiver.server.shutdown()
        receiver.server.server_close()


class TestAlertmanager:
    def test_a_never_activated_contract_fires_in_alertmanager(self, stack: Stack) -> None:
        """The breach arrives as its own alert, labelled by the timer, fingerprinted alike."""
        stack.service = start_service(stack.data, env=stack.env)
        send(
            stack.service,
            sc.CONTRACT_SIGNED,
            {sc.CONTRACT: CONTRACT, sc.LEGAL_ENTITY: "LE-DE01"},
            SIGNED_AT,
        )
        (alert,) = wait_for(
            lambda: alertmanager_alerts(stack.alertmanager), "the alert in Alertmanager"
        )
        assert alert["labels"] == {
            "alertname": "SlaBreached",
            "sla": "time-to-project-creation",
            "legal_entity": "LE-DE01",
            "severity": "warning",
            "owner": "sales-operations",
            "object_type": "contract",
            "object_id": CONTRACT,
            "cycle": f"contract.signed:{CONTRACT}",
        }
        assert alert["annotations"]["deadline"] == "2026-11-04T10:00:00Z"
        ours = httpx.get(f"{stack.service.base_url}/api/v1/alerts", timeout=10).json()
        assert [a["fingerprint"] for a in ours] == [alert["fingerprint"]]
        firing = wait_for(
            lambda: stack.receiver.received("/alertmanager"), "Alertmanager's webhook"
        )
        assert firing[0]["alerts"][0]["labels"]["object_id"] == CONTRACT

    def test_the_breach_seen_first_is_one_digest_on_the_webhook(self, stack: Stack) -> None:
        """Already breached when first seen: the direct channel gets a single digest."""
        (digest,) = wait_for(lambda: stack.receiver.received("/syncsight"), "syncsight's webhook")
        assert digest["version"] == "4"
        assert digest["status"] == "firing"
        assert digest["groupKey"].startswith('{}/{syncsight="backfill-digest"}')
        assert [a["labels"]["object_id"] for a in digest["alerts"]] == [CONTRACT]

    def test_activating_the_project_resolves_the_alert(self, stack: Stack) -> None:
        """The timer completes (late): Alertmanager resolves it and both webhooks say so."""
        assert stack.service is not None
        send(
            stack.service,
            sc.PROJECT_ACTIVATED,
            {sc.PROJECT: "PRJ-E2E-0001", sc.CONTRACT: CONTRACT},
            datetime.now(UTC),
        )
        wait_for(lambda: not alertmanager_alerts(stack.alertmanager), "the alert to resolve")
        resolved = wait_for(
            lambda: [
                b for b in stack.receiver.received("/alertmanager") if b["status"] == "resolved"
            ],
            "Alertmanager's resolved notification",
        )
        assert resolved[0]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        ours = wait_for(lambda: stack.receiver.received("/syncsight")[1:], "syncsight's resolution")
        assert [body["status"] for body in ours] == ["resolved"]
        listed = httpx.get(f"{stack.service.base_url}/api/v1/alerts", timeout=10).json()
        assert [(a["status"], a["notified"]) for a in listed] == [
            ("resolved", ["alertmanager", "webhook"])
        ]

    def test_a_restart_notifies_nobody_again(self, stack: Stack) -> None:
        """State in ClickHouse: after a restart and several evaluations, nothing new arrives."""
        assert stack.service is not None
        before = len(stack.receiver.received("/syncsight"))
        stop_service(stack.service)
        stack.service = start_service(stack.data, env=stack.env)
        listed = wait_for(
            lambda: (
                httpx.get(f"{stack.service.base_url}/api/v1/alerts", timeout=10).json()
                if stack.service
                else None
            ),
            "the restarted service to know its alert",
        )
        assert [a["status"] for a in listed] == ["resolved"]
        time.sleep(3)  # six evaluation intervals
        assert len(stack.receiver.received("/syncsight")) == before == 2
        assert alertmanager_alerts(stack.alertmanager) == []
