"""``syncsight serve`` as a real process: it starts, answers health checks and stops cleanly."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.service import running_service, stop_service


class TestServe:
    def test_serve_answers_health_and_readiness_and_stops_on_sigterm(self, tmp_path: Path) -> None:
        """/healthz and /readyz answer 200 on a fresh embedded engine; SIGTERM exits 0."""
        with running_service(tmp_path) as service:
            assert httpx.get(f"{service.base_url}/healthz").json() == {"status": "ok"}
            ready = httpx.get(f"{service.base_url}/readyz")
            assert ready.status_code == 200
            assert ready.json()["clickhouse"] == "ok"
            assert httpx.get(f"{service.base_url}/docs").status_code == 200
            code = stop_service(service)
        assert code == 0
