"""Run ``syncsight serve`` as a real subprocess for end-to-end tests (chdb allows one engine per
process, so the service under test never shares the pytest process's engine)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

SYNCSIGHT = shutil.which("syncsight", path=str(Path(sys.executable).parent))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving_in_thread(app: Any) -> Iterator[httpx.Client]:
    """An ASGI app (routers over the test's own engine) served by uvicorn on a thread of this
    process, and a client of it; stopped on exit."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def table_away(client: Any, table: str) -> Iterator[None]:
    """``table`` renamed out of the way (every read and write of it fails), put back on exit."""
    client.command(f"RENAME TABLE {table} TO {table}_away")
    try:
        yield
    finally:
        client.command(f"RENAME TABLE {table}_away TO {table}")


def in_process_app(chdb_url: str, database: str, tmp_path: Path, **settings: Any) -> Any:
    """The service's app over the test's engine and ``database``, its spool in ``tmp_path`` and
    its gRPC port a free one (another in-process app of the tests may hold the default). Its
    Python heap's freezer is off unless asked for: the app shares the pytest process's heap, and a
    freeze there would keep other tests' garbage cycles until the worker ends (the services the
    tests start as processes keep the default)."""
    from syncsight.app import create_app
    from syncsight.config_file import FileConfig
    from syncsight.settings import Settings

    settings.setdefault("python_heap_freeze_interval", 0)

    chosen = Settings(
        clickhouse_url=chdb_url, spool_dir=tmp_path / "spool", grpc_port=free_port(), **settings
    )
    return create_app(chosen, FileConfig(), database=database)


async def ready_status(api: httpx.AsyncClient, wanted: str, seconds: float = 60) -> dict[str, str]:
    """``/readyz`` once it says ``wanted``."""
    deadline = time.monotonic() + seconds
    while True:
        answer = (await api.get("/readyz")).json()
        if answer["status"] == wanted:
            return dict(answer)
        assert time.monotonic() < deadline, f"/readyz still says {answer}"
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class Degraded:
    """What the service said while a table was away: ``/readyz`` degraded, ``/metrics`` then,
    and ``/readyz`` once it was ok again after the table came back."""

    ready: dict[str, str]
    metrics: str
    recovered: dict[str, str]


def degraded_while_away(app: Any, client: Any, table: str) -> Degraded:
    """Run ``app`` in process until ready; take ``table`` away until ``/readyz`` says degraded,
    read ``/metrics``, put it back and wait until ``/readyz`` is ok again."""

    async def scenario() -> Degraded:
        async with asgi_client(app) as api:
            await ready_status(api, "ok")
            with table_away(client, table):
                degraded = await ready_status(api, "degraded")
                metrics = (await api.get("/metrics")).text
            return Degraded(degraded, metrics, await ready_status(api, "ok"))

    return asyncio.run(scenario())


@asynccontextmanager
async def asgi_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan (migrations, receivers, the evaluator) run in this process, and a client
    that calls the app directly, without a socket; stopped on exit."""
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http,
    ):
        yield http


@dataclass
class Service:
    """A running service: its URLs, its process and where its log goes."""

    process: subprocess.Popen[bytes]
    base_url: str
    grpc_port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_service(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    port: int | None = None,
    grpc_port: int | None = None,
    timeout: float = 60.0,
    args: tuple[str, ...] = (),
) -> Service:
    """Start ``syncsight serve`` on free ports and wait until /readyz answers 200."""
    assert SYNCSIGHT, "the syncsight console script is not installed in this environment"
    port = port or free_port()
    grpc_port = grpc_port or free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSIGHT_")}
    full_env = {
        **clean,
        "SYNCSIGHT_CLICKHOUSE_URL": f"chdb://{data_dir / 'data'}",
        "SYNCSIGHT_PORT": str(port),
        "SYNCSIGHT_GRPC_PORT": str(grpc_port),
        **(env or {}),
    }
    log_path = data_dir / f"service-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SYNCSIGHT, "serve", *args],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
        )
    service = Service(process, f"http://127.0.0.1:{port}", grpc_port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}:\n{service.log()}")
        try:
            if httpx.get(f"{service.base_url}/readyz", timeout=2).status_code == 200:
                return service
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_service(service)
    raise RuntimeError(f"service not ready after {timeout}s:\n{service.log()}")


def stop_service(service: Service, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
    """Stop the service (SIGTERM by default, SIGKILL for crash tests) and return its exit code."""
    if service.process.poll() is None:
        service.process.send_signal(sig)
        try:
            service.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()
    return int(service.process.returncode)


def wait_until_current(base_url: str, since: datetime, timeout: float) -> None:
    """Until the service's answers describe a known-at at or after ``since``
    (``X-Syncsight-Known-At``): its evaluator has caught up with what was stored by then. Raises
    ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            known = httpx.get(f"{base_url}/api/v1/slas", timeout=60).headers.get(
                "X-Syncsight-Known-At", ""
            )
            if known and datetime.fromisoformat(known) >= since:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the evaluator did not catch up within {timeout:.0f} s")


@contextmanager
def running_service(data_dir: Path, **kwargs: object) -> Iterator[Service]:
    """``start_service`` … ``stop_service`` as a context manager."""
    service = start_service(data_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield service
    finally:
        stop_service(service)


def wait_until_inserted(
    service: Service, timeout: float = 60.0, headers: dict[str, str] | None = None
) -> None:
    """Wait until everything the service acknowledged is inserted: acknowledged from the journal,
    spans are queryable once their journal file is gone (``syncsight_spool_files`` is 0).
    ``headers``: a viewer's token where the API requires one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{service.base_url}/metrics", headers=headers, timeout=10)
        metrics.raise_for_status()
        for line in metrics.text.splitlines():
            if line.startswith("syncsight_spool_files ") and float(line.split()[1]) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"acknowledged spans not inserted within {timeout:g} s:\n{service.log()}")
