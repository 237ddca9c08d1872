"""How the CLI starts the dashboard: ``streamlit run dashboard/app.py`` headless, as its own process,
told where the REST API is through its environment (it imports nothing of the service)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

APP = Path(__file__).resolve().parent / "app.py"


def streamlit_command(port: int) -> list[str]:
    """The command line: no browser, no usage statistics, no file watching, no deploy button."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless=true",
        f"--server.port={port}",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=viewer",
        "--global.developmentMode=false",
    ]


def streamlit_environment(
    environ: Mapping[str, str], *, api_url: str, api_token: str, address: str
) -> dict[str, str]:
    """The dashboard process's environment: the API it reads and the address it binds.

    An explicit ``STREAMLIT_SERVER_ADDRESS`` (a container binding 0.0.0.0) wins over ``address``.
    """
    env = {name: value for name, value in environ.items() if name != "SYNCSIGHT_API_TOKEN"}
    env["SYNCSIGHT_API_URL"] = api_url
    if api_token:
        env["SYNCSIGHT_API_TOKEN"] = api_token
    env.setdefault("STREAMLIT_SERVER_ADDRESS", address)
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    return env


def dashboard_url(address: str, port: int) -> str:
    host = "127.0.0.1" if address in ("", "0.0.0.0", "::") else address
    return f"http://{host}:{port}/"


def start_dashboard(
    environ: Mapping[str, str],
    *,
    api_url: str,
    api_token: str,
    address: str,
    port: int,
    log_path: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start the dashboard as a child process (its output goes to ``log_path`` when given)."""
    env = streamlit_environment(environ, api_url=api_url, api_token=api_token, address=address)
    if log_path is None:
        return subprocess.Popen(streamlit_command(port), env=env)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            streamlit_command(port), env=env, stdout=log, stderr=subprocess.STDOUT
        )


def wait_until_healthy(
    process: subprocess.Popen[bytes], url: str, *, timeout: float = 60.0
) -> bool:
    """True once Streamlit's health endpoint answers; False if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url.rstrip("/") + "/_stcore/health", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def stop_dashboard(process: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """Terminate the dashboard and wait for it; kill it if it does not stop in ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
