"""Where one evaluator tick after N new spans spends its CPU: every engine round trip it makes,
counted and timed (wall and the process's CPU, the embedded engine's threads included), grouped
by the statement's first words, beside the Python between them.

Opens the data directory itself (no service may hold it). Brings the state current first (a
derivation from scratch when it is not), then inserts N new attempts of stored events scattered
across the quarter (``benchmarks/timer_state.py``'s ``NEW_ATTEMPTS``) and times one tick; repeat
with other seeds. Run py-spy on it for the Python side:
``.venv/bin/py-spy record -o tick.svg -- .venv/bin/python benchmarks/tick_profile.py …``.
Run: ``.venv/bin/python benchmarks/tick_profile.py --clickhouse-url chdb:///abs/path/data
[--new-spans 10000] [--seeds 7 8 9] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from benchmarks.process_stats import own_cpu_seconds
from benchmarks.timer_state import NEW_ATTEMPTS, tick_now
from domain.instants import EPOCH
from slas.business_state import BusinessState
from slas.definitions import DEFAULT_SLAS
from tests.firm import firm_calendar_book
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate


class CountingClient:
    """A client that times each round trip it passes on (``query``, ``query_np``, ``query_arrow``, ``command``,
    ``insert``, ``insert_arrow``), keyed by what the statement is."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.reads: list[tuple[str, str, dict[str, Any]]] | None = None
        """Set to a list to keep every read (``query``, ``query_np``, ``query_arrow``) as its
        kind, text and parameters, in order (``benchmarks/answer_profile.py --plan-cost``)."""

    def __getattr__(self, name: str) -> Any:
        inner = getattr(self._client, name)
        if name not in ("query", "query_np", "query_arrow", "command", "insert", "insert_arrow"):
            return inner

        def timed(statement: Any, *args: Any, **kwargs: Any) -> Any:
            if self.reads is not None and name.startswith("query"):
                parameters = dict(kwargs.get("parameters") or {})
                self.reads.append((_kind(name, statement), statement, parameters))
            wall, cpu = time.perf_counter(), own_cpu_seconds()
            try:
                return inner(statement, *args, **kwargs)
            finally:
                self.calls[_kind(name, statement)].append(
                    (time.perf_counter() - wall, own_cpu_seconds() - cpu)
                )

        return timed


def _kind(method: str, statement: Any) -> str:
    """A short name for a statement: the insert's table, else its first distinctive words."""
    if method.startswith("insert"):
        return f"{method} {statement}"
    words = " ".join(str(statement).split())
    for marker in ("FROM", "TRUNCATE"):
        at = words.find(marker)
        if at >= 0:
            return f"{method}: {words[:40]} … {words[at : at + 50]}"
    return f"{method}: {words[:90]}"


def counted_state(client: Any) -> tuple[CountingClient, BusinessState]:
    """The database migrated, and the business state (the default SLAs, the test firm's
    calendars, no settle time) reading through a ``CountingClient`` of it."""
    migrate(client, CorrelationRules.default())
    counting = CountingClient(client)
    state = BusinessState(
        lambda: counting,  # type: ignore[arg-type,return-value]
        DEFAULT_SLAS,
        firm_calendar_book(),
        settle=timedelta(0),
    )
    return counting, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/path/data or http://…")
    parser.add_argument("--new-spans", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()

    client = connect(arguments.clickhouse_url)
    counting, state = counted_state(client)
    if state.watermark() == EPOCH:
        print("deriving from scratch first", flush=True)
    tick_now(state)  # current (a from-scratch derivation when it was not)
    tick_now(state)  # idle
    figures: list[dict[str, Any]] = []
    for seed in arguments.seeds:
        client.command(NEW_ATTEMPTS, parameters={"count": arguments.new_spans, "seed": seed})
        counting.calls.clear()
        wall, cpu = time.perf_counter(), own_cpu_seconds()
        report = tick_now(state)
        wall, cpu = time.perf_counter() - wall, own_cpu_seconds() - cpu
        calls = {kind: list(samples) for kind, samples in counting.calls.items()}
        engine_wall = sum(w for samples in calls.values() for w, _ in samples)
        engine_cpu = sum(c for samples in calls.values() for _, c in samples)
        print(
            f"seed {seed}: tick {1000 * wall:.0f} ms wall, {1000 * cpu:.0f} ms CPU; "
            f"{sum(len(s) for s in calls.values())} round trips: {1000 * engine_wall:.0f} ms "
            f"wall, {1000 * engine_cpu:.0f} ms CPU; Python between them "
            f"{1000 * (cpu - engine_cpu):.0f} ms CPU; {report}",
            flush=True,
        )
        ordered = sorted(calls.items(), key=lambda item: -sum(c for _, c in item[1]))
        for kind, samples in ordered:
            print(
                f"  {len(samples):4d} x {1000 * sum(c for _, c in samples):7.1f} ms CPU "
                f"{1000 * sum(w for w, _ in samples):7.1f} ms wall  {kind}",
                flush=True,
            )
        figures.append(
            {
                "seed": seed,
                "wall_seconds": wall,
                "cpu_seconds": cpu,
                "report": {k: str(v) for k, v in vars(report).items()},
                "calls": {
                    kind: {
                        "count": len(samples),
                        "cpu_seconds": sum(c for _, c in samples),
                        "wall_seconds": sum(w for w, _ in samples),
                    }
                    for kind, samples in ordered
                },
            }
        )
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


def new_counted_engine(
    parser: argparse.ArgumentParser, data: Path, *, subdirectory: str = ""
) -> tuple[str, Any, CountingClient, BusinessState]:
    """A new embedded engine in ``data`` (the run starts empty: a directory holding anything is
    refused), its URL and client, and a business state reading through a ``CountingClient``."""
    if data.exists() and any(data.iterdir()):
        parser.error(f"--data {data} is not empty: the run starts from a new engine")
    url = f"chdb://{(data / subdirectory).resolve() if subdirectory else data.resolve()}"
    client = connect(url)
    counting, state = counted_state(client)
    return url, client, counting, state


def recorders_current(state: BusinessState) -> int:
    """Tick until a tick leaves no recorder of ``RECORDED`` behind the keeper (the evidence spans
    copy a bounded window a tick: on a copy never derived, some 26 ticks at 10M), so that the
    timed part records only its own window; the ticks it took (the last one found none behind)."""
    ticks = 1
    while state.tick(datetime.now(UTC)).recorders_behind:
        ticks += 1
    return ticks


if __name__ == "__main__":
    started = datetime.now(UTC)
    main()
    print(f"done in {(datetime.now(UTC) - started).total_seconds():.0f} s", flush=True)
