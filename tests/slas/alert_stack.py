"""A real Prometheus Alertmanager and a webhook receiver for the alerting tests, started per test
module, and business-event spans sent to a service over OTLP/JSON."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from domain import semconv as sc
from tests.service import Service, free_port, start_service, stop_service

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
_SPANS = itertools.count(1)


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


def start_alertmanager(directory: Path, webhook: str | None) -> tuple[subprocess.Popen[bytes], str]:
    """Alertmanager on a free port, notifying ``webhook`` of every alert at once (each its own
    group), or nobody when ``webhook`` is None (it still keeps and serves the alerts, grouped by
    alert name and legal entity)."""
    assert ALERTMANAGER, (
        "Prometheus Alertmanager is not installed: `make test` installs it, or "
        "`apt-get install -y prometheus-alertmanager`"
    )
    port = free_port()
    config = directory / "alertmanager.yml"
    if webhook:
        routing = """  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h"""
        delivery = f"""
    webhook_configs:
      - url: {webhook}
        send_resolved: true"""
    else:  # tens of thousands of alerts: grouped as a site would, Alertmanager's own intervals
        routing, delivery = "  group_by: ['alertname', 'legal_entity']", ""
    config.write_text(
        f"""route:
  receiver: test
{routing}
receivers:
  - name: test{delivery}
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


def notifications(receiver: Receiver, status: str) -> list[Any]:
    """Alertmanager's notifications of ``status`` (firing, resolved) the receiver got, once it
    got one."""
    return list(
        wait_for(
            lambda: [b for b in receiver.received("/alertmanager") if b["status"] == status],
            f"Alertmanager's {status} notification",
        )
    )


def send_spans(
    service: Service, events: list[tuple[dict[str, Any], datetime]], *, service_name: str = "mw-e2e"
) -> None:
    """Business-event spans in one OTLP/JSON request, each with its attributes (strings, or floats
    as doubles) and its own start time."""
    spans = []
    for attributes, when in events:
        number = next(_SPANS)
        start = int(when.timestamp() * 1e9)
        spans.append(
            {
                "traceId": f"{number:032x}",
                "spanId": f"{number:016x}",
                "name": f"POST {attributes[sc.EVENT_TYPE]}",
                "kind": 3,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + 200_000_000),
                "attributes": [
                    {
                        "key": key,
                        "value": {"doubleValue": value}
                        if isinstance(value, float)
                        else {"stringValue": value},
                    }
                    for key, value in attributes.items()
                ],
            }
        )
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service_name}}]
                },
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": spans}],
            }
        ]
    }
    response = httpx.post(f"{service.base_url}/v1/traces", json=body, timeout=30)
    assert response.status_code == 200, response.text


@dataclass
class AlertStack:
    """Alertmanager (its URL) delivering to ``receiver`` under ``/alertmanager``, and a service
    evaluating every half second that notifies it."""

    alertmanager: str
    receiver: Receiver
    service: Service


@contextmanager
def alerting_service(
    directory: Path,
    *,
    config: Callable[[Receiver], str] | None = None,
    env: Callable[[Receiver], dict[str, str]] | None = None,
) -> Iterator[AlertStack]:
    """Receiver, Alertmanager and ``syncsight serve`` (its settings file from ``config``, more
    environment from ``env``, both given the receiver), stopped in reverse order."""
    receiver = start_receiver()
    try:
        process, url = start_alertmanager(directory, f"{receiver.url}/alertmanager")
        try:
            settings = {
                "SYNCSIGHT_ALERTMANAGER_URL": url,
                "SYNCSIGHT_SLA_INTERVAL": "0.5",
                **(env(receiver) if env else {}),
            }
            if config is not None:
                path = directory / "syncsight.toml"
                path.write_text(config(receiver), encoding="utf-8")
                settings["SYNCSIGHT_CONFIG"] = str(path)
            service = start_service(directory, env=settings)
            try:
                yield AlertStack(url, receiver, service)
            finally:
                stop_service(service)
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
