"""Issue 14's answers through the real service over HTTP: ``syncsight serve`` on a loaded copy, and
the routes asked at the instants ``benchmarks/timer_state.py`` draws (the same seed gives the same
instants), each call timed by the client, the service's CPU per call read from /proc.

``timer_state.py`` asks the same answers in its own process (``--http``: the routes through an
in-process harness); this asks them the way a dashboard or a script does: a separate client over
loopback, the service's own server, its thread pool and its clients per thread. The client shares
the machine's cores with the service, as it would on one host.

Run: ``.venv/bin/python benchmarks/answers_http.py --data /tmp/copy [--queries 30] [--seed 7]
[--asks blocked_invoices,close_risk] [--service-env NAME=VALUE] [--json FILE]`` where
``/tmp/copy/data`` is the engine's directory: it must hold a derived business state
(``benchmarks/rebuild_state.py``) and no other process may hold it.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import cpu_seconds
from benchmarks.service_env import add_service_env, service_env
from benchmarks.timer_state import percentiles
from slas.definitions import DEFAULT_SLAS
from tests.firm import write_firm_config
from tests.service import start_service, stop_service, wait_until_current

_RANGE = """
import sys
from warehouse.client import connect
first, last = connect(sys.argv[1]).query(
    "SELECT min(EventTime), max(EventTime) FROM biz_events").result_rows[0]
print(first.isoformat(), last.isoformat())
"""
"""Run in a process of its own before the service starts: the engine holds its data directory
for as long as the process that opened it lives."""


def event_range(data: Path) -> tuple[datetime, datetime]:
    """The first and last event instants stored in ``data`` (what ``timer_state.py`` draws its
    instants between)."""
    out = subprocess.run(
        [sys.executable, "-c", _RANGE, f"chdb://{data.resolve()}"],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout.split()
    first, last = (datetime.fromisoformat(text).replace(tzinfo=UTC) for text in out[-2:])
    return first, last


def asks(
    first: datetime, last: datetime, watermark: datetime
) -> dict[str, Callable[[random.Random], tuple[str, dict[str, str]]]]:
    """Each answer as the route and query it is asked with at an instant drawn from ``rng``: the
    same draws, in the same order, as ``timer_state.py``'s answers of the same name."""
    span = (last - first).total_seconds()
    periods = sorted({f"{first + timedelta(days=d):%Y-%m}" for d in range(int(span // 86400) + 1)})

    def instant(rng: random.Random) -> str:
        return (first + timedelta(seconds=rng.uniform(0.1 * span, span))).isoformat()

    def known(rng: random.Random) -> dict[str, str]:
        chosen = rng.choice([None, watermark - timedelta(seconds=rng.uniform(0, 5))])
        return {} if chosen is None else {"known_at": chosen.isoformat()}

    def trend(rng: random.Random) -> tuple[str, dict[str, str]]:
        as_of = instant(rng)
        return "/api/v1/slas/trend", {"as_of": as_of, "weeks": "6", **known(rng)}

    def timers(rng: random.Random, **query: str) -> tuple[str, dict[str, str]]:
        name = rng.choice(DEFAULT_SLAS).name
        as_of = instant(rng)
        return f"/api/v1/slas/{name}/timers", {"as_of": as_of, **known(rng), **query}

    def close_risk_period(rng: random.Random) -> tuple[str, dict[str, str]]:
        period = rng.choice(periods)
        return "/api/v1/close-risk", {"period": period, "as_of": instant(rng)}

    return {
        "close_risk": lambda rng: ("/api/v1/close-risk", {"as_of": instant(rng)}),
        "close_risk_period": close_risk_period,
        "blocked_invoices": lambda rng: (
            "/api/v1/impact/blocked-invoices",
            {"as_of": instant(rng)},
        ),
        "blocked_invoices_limit_100": lambda rng: (
            "/api/v1/impact/blocked-invoices",
            {"as_of": instant(rng), "limit": "100"},
        ),
        "slas": lambda rng: ("/api/v1/slas", {"as_of": instant(rng), **known(rng)}),
        "slas_trend": trend,
        "timers_breached": lambda rng: timers(rng, state="breached"),
        "timers_all": timers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="DIR whose DIR/data is the engine")
    parser.add_argument("--queries", type=int, default=30, help="calls of each answer")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--asks", help="only these answers, comma-separated")
    parser.add_argument(
        "--settle",
        type=float,
        default=75.0,
        help="seconds to wait once the state is current (the service's first quiet ticks and "
        "its first freeze of the Python heap, python_heap_freeze_interval)",
    )
    add_service_env(parser, "SYNCSIGHT_PYTHON_HEAP_FREEZE_INTERVAL=0")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    first, last = event_range(arguments.data / "data")
    config = write_firm_config(arguments.data)
    started = datetime.now(UTC)
    service = start_service(
        arguments.data,
        env={"SYNCSIGHT_CONFIG": str(config), **service_env(arguments.service_env)},
        timeout=600,
    )
    figures: dict[str, Any] = {}
    try:
        wait_until_current(service.base_url, started, 1800)
        print(f"state current {(datetime.now(UTC) - started).total_seconds():.1f} s after start")
        time.sleep(arguments.settle)
        with httpx.Client(base_url=service.base_url, timeout=120) as client:
            known = client.get("/api/v1/slas").raise_for_status().headers["X-Syncsight-Known-At"]
            chosen = asks(first, last, datetime.fromisoformat(known))
            if arguments.asks:
                chosen = {n: a for n, a in chosen.items() if n in arguments.asks.split(",")}
            for name, ask in chosen.items():
                figures[name] = timed_calls(client, service.process.pid, ask, arguments)
                print(
                    f"{name}: p50 {figures[name]['p50_ms']} ms, p95 {figures[name]['p95_ms']} "
                    f"ms, service CPU {figures[name]['service_cpu_ms']} ms a call",
                    flush=True,
                )
    finally:
        stop_service(service, timeout=60)
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


def timed_calls(
    client: httpx.Client,
    pid: int,
    ask: Callable[[random.Random], tuple[str, dict[str, str]]],
    arguments: argparse.Namespace,
) -> dict[str, float]:
    """One answer asked ``--queries`` times at the seed's instants (after one call to warm it):
    the client's p50 / p95 and the service's CPU a call."""
    path, query = ask(random.Random(0))
    client.get(path, params=query).raise_for_status()
    rng = random.Random(arguments.seed)
    walls, cpu = [], cpu_seconds(pid)
    for _ in range(arguments.queries):
        path, query = ask(rng)
        wall = time.perf_counter()
        client.get(path, params=query).raise_for_status()
        walls.append(time.perf_counter() - wall)
    cpu = cpu_seconds(pid) - cpu
    return {**percentiles(walls), "service_cpu_ms": round(1000 * cpu / arguments.queries, 1)}


if __name__ == "__main__":
    main()
