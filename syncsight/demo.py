"""``syncsight demo``: the service on the embedded engine, the small simulated quarter streamed in
through the real OTLP exporter, the dashboard beside it, and a note of where to look. Ctrl-C stops
everything."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console

from syncsight.config_file import FileConfig
from syncsight.hosts import WILDCARD_BINDS
from syncsight.settings import DATA_DIR, Settings

MARKER = DATA_DIR / "demo.json"
"""Written once the quarter is loaded, so a second ``make demo`` reuses the data."""
DASHBOARD_LOG = DATA_DIR / "dashboard.log"
FIRM_CONFIG = DATA_DIR / "firm.toml"
"""The simulated firm's legal-entity calendars, the demo's config file unless one is given."""


def write_firm_config() -> Path:
    """Write the simulator's firm as a TOML config file (``FIRM_CONFIG``) and return its path."""
    from simulator.firm import firm_config_toml

    FIRM_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    FIRM_CONFIG.write_text(firm_config_toml(), encoding="utf-8")
    return FIRM_CONFIG


def run_demo(settings: Settings, file_config: FileConfig, *, fresh: bool, console: Console) -> None:
    """Serve in the foreground; load the quarter from a helper thread once the service is ready."""
    from syncsight.app import create_app
    from syncsight.runner import run_http

    if fresh and DATA_DIR.exists():
        console.print(f"--fresh: removing {DATA_DIR}/")
        shutil.rmtree(DATA_DIR)
    # a wildcard bind is no Host name the service answers to; its loopback side is
    reach = "127.0.0.1" if settings.host in WILDCARD_BINDS else settings.host
    base_url = f"http://{reach}:{settings.port}"
    loader_token = None
    if settings.ingest_tokens.enabled:  # the simulator gets a token of its own, never printed
        loader_token = secrets.token_hex(24)
        settings = settings.model_copy(
            update={"ingest_tokens": settings.ingest_tokens.including(loader_token)}
        )
    dashboard = _start_dashboard(settings, base_url)
    loader = threading.Thread(
        target=_load_and_announce,
        args=(
            base_url,
            settings.grpc_port,
            dashboard,
            console,
            loader_token,
            settings.api_token.get_secret_value(),
        ),
        name="demo-loader",
        daemon=True,
    )
    loader.start()
    try:
        run_http(
            create_app(settings, file_config),
            host=settings.host,
            port=settings.port,
            log_level="warning",
        )
    finally:
        from dashboard.launcher import stop_dashboard

        stop_dashboard(dashboard[0])


def _start_dashboard(settings: Settings, base_url: str) -> tuple[subprocess.Popen[bytes], str]:
    """The Streamlit dashboard as a child process reading this service; its log goes to a file."""
    from dashboard.launcher import dashboard_url, start_dashboard

    process = start_dashboard(
        os.environ,
        api_url=base_url,
        api_token=settings.api_token.get_secret_value(),
        address=settings.host,
        port=settings.dashboard_port,
        log_path=DASHBOARD_LOG,
    )
    return process, dashboard_url(settings.host, settings.dashboard_port)


def _load_and_announce(
    base_url: str,
    grpc_port: int,
    dashboard: tuple[subprocess.Popen[bytes], str],
    console: Console,
    ingest_token: str | None,
    api_token: str,
) -> None:
    from dashboard.launcher import wait_until_healthy
    from simulator.run import simulate

    if not _wait_ready(base_url):
        console.print("[red]the service did not become ready; see the log above[/]")
        return
    if MARKER.exists():
        loaded = json.loads(MARKER.read_text(encoding="utf-8"))
        console.print(
            f"reusing the quarter loaded on {loaded['loaded_at']} ({loaded['spans']:,} spans); "
            "`syncsight demo --fresh` starts over"
        )
    else:
        console.print("streaming a simulated quarter through the OTLP exporter …")
        stats = simulate(
            end=datetime.now(UTC), endpoint=base_url, token=ingest_token, console=console
        )
        console.print(stats)
        # the journal answered the exporter; the last inserts follow within the batching window
        not_stored = wait_stored(base_url, api_token)
        if not_stored is not None:
            console.print(f"[red]{not_stored}[/]")
            return
        loaded = {
            "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "spans": stats.spans,
            "example_invoice_ids": list(stats.example_invoice_ids),
        }
        MARKER.parent.mkdir(parents=True, exist_ok=True)
        MARKER.write_text(json.dumps(loaded), encoding="utf-8")
    examples = loaded.get("example_invoice_ids") or ["INV-…"]
    process, dashboard_url = dashboard
    dashboard_line = (
        dashboard_url
        if wait_until_healthy(process, dashboard_url, timeout=30)
        else f"did not start (port in use? SYNCSIGHT_DASHBOARD_PORT); see {DASHBOARD_LOG}"
    )
    console.print(
        "\n[bold]syncsight is running[/] (Ctrl-C stops everything)\n"
        f"  dashboard      {dashboard_line}\n"
        f"  API docs       {base_url}/docs\n"
        f"  health         {base_url}/readyz · metrics {base_url}/metrics\n"
        f"  OTLP ingest    {base_url}/v1/traces (HTTP) · gRPC on port {grpc_port}\n"
        f"  an invoice     curl {base_url}/api/v1/objects/invoice/{examples[0]}/events\n",
        soft_wrap=True,
    )


STORED_GAUGES = ("syncsight_pending_spans", "syncsight_spool_files")
"""The service's gauges that are both 0 once every span it acknowledged is inserted: none held in
memory, and no journal (or spool) file left, a journal file being deleted only once its spans'
insert is durable."""


def wait_stored(base_url: str, api_token: str, timeout: float = 120.0) -> str | None:
    """None once every span the service acknowledged is inserted (``/metrics`` read with
    ``api_token`` when the API has tokens); else why not, when ``timeout`` passed or ``/metrics``
    refused the token (which waiting does not change)."""
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gauges: dict[str, float] = {}
        try:
            answer = httpx.get(f"{base_url}/metrics", headers=headers, timeout=5)
            if answer.status_code in (401, 403):
                return (
                    f"/metrics refused the API token ({answer.status_code}): set "
                    "SYNCSIGHT_API_TOKEN to a token of one of SYNCSIGHT_API_TOKENS"
                )
            # a failure page is no exposition: not stored yet, asked again
            if answer.status_code == 200:
                gauges = {
                    sample.name: sample.value
                    for family in text_string_to_metric_families(answer.text)
                    for sample in family.samples
                    if sample.name in STORED_GAUGES
                }
        except (httpx.TransportError, ValueError):
            pass
        if len(gauges) == len(STORED_GAUGES) and not any(gauges.values()):
            return None
        time.sleep(0.2)
    return f"acknowledged spans still wait for their insert after {timeout:.0f} s; see the log"


def _wait_ready(base_url: str, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False
