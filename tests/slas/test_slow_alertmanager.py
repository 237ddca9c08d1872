"""A real Alertmanager behind a link that takes half a second a request: a dispatch posts for its
time budget and leaves the rest to the next, and every alert still reaches Alertmanager."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from slas.dispatch import Dispatcher
from slas.metrics import NotificationMetrics
from slas.notifiers.alertmanager import AlertmanagerChannel
from tests.slas.alert_stack import start_alertmanager, wait_for
from tests.slas.test_notifiers import make_alert

DELAY = 0.5
"""Seconds the link holds every request before passing it on."""


def start_slow_link(target: str) -> ThreadingHTTPServer:
    """An HTTP proxy to ``target`` that waits ``DELAY`` before forwarding each POST."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(DELAY)
            answer = httpx.post(
                f"{target}{self.path}",
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            self.send_response(answer.status_code)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def slow_alertmanager(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(Alertmanager's own URL, the slow link's URL)."""
    process: subprocess.Popen[bytes]
    process, url = start_alertmanager(tmp_path, None)
    link = start_slow_link(url)
    try:
        yield url, f"http://127.0.0.1:{link.server_address[1]}"
    finally:
        link.shutdown()
        link.server_close()
        process.terminate()
        process.wait(timeout=10)


def test_a_slow_alertmanager_gets_every_alert_over_dispatches_of_bounded_time(
    slow_alertmanager: tuple[str, str],
) -> None:
    """2,000 new breaches are four POSTs of half a second or more; with 0.8 s to dispatch, a
    dispatch stops after two at most (the check after the second finds a second gone; one, if
    the first alone took 0.8 s on a loaded machine), counts the rest deferred, and the next
    dispatches post them: Alertmanager ends up holding all 2,000."""
    direct, linked = slow_alertmanager
    firing = {a.fingerprint: a for a in (make_alert(f"BE-{i}") for i in range(2_000))}
    metrics = NotificationMetrics()
    sender = Dispatcher(
        [AlertmanagerChannel(linked)],
        None,
        grace=timedelta(minutes=1),
        resend=timedelta(seconds=60),
        metrics=metrics,
        budget=timedelta(seconds=0.8),
    )
    sent = metrics.deliveries.labels("alertmanager", "sent")
    deferred = metrics.deliveries.labels("alertmanager", "deferred")
    try:
        now = datetime.now(UTC)  # Alertmanager keeps what ends after its own clock
        sender.dispatch(firing, now=now)
        first = sent._value.get()
        assert 1 <= first <= 2
        assert deferred._value.get() == 4 - first
        for tick in range(1, 4):
            if sent._value.get() < 4:
                sender.dispatch(firing, now=now + timedelta(seconds=15 * tick))
        assert sent._value.get() == 4
    finally:
        sender.close()

    def held() -> int:
        alerts = httpx.get(f"{direct}/api/v2/alerts", params={"active": "true"}, timeout=30)
        return sum(a["labels"]["object_id"].startswith("BE-") for a in alerts.json())

    wait_for(lambda: held() == 2_000, "Alertmanager to hold all 2,000 alerts", timeout=30)
