"""A derivation of the business state from scratch (issue 14: "full rebuild of the state tables
≤ 60 s at 10M", "evaluator peak memory flat from 1M to 10M"): the state brought current first
(untimed unless it is behind), then ``BusinessState.reset`` and ticks until current, timed: wall,
CPU seconds of the process, its peak RSS over the rebuild alone (VmHWM cleared before it),
versions written, events read and chunks. ``--emptied`` truncates the state tables first (a first
derivation, which reads no stored version; the tick then also records every version it wrote).
``--phases`` also takes each part's peak (the graph read and its labels, the staging, the chunks'
derivations and their writes, clearing the staging, each recorder of ``RECORDED``, the
watermarks' write) as ``benchmarks/evaluator_memory.py`` does: glibc's free heap and the
engine's jemalloc given back, then VmHWM reset as the part begins; and every statement's peak
above the resident memory it began with (the in-process engine's work, mostly), the largest
printed.

Opens the data directory (or ClickHouse URL) itself: no service may hold an embedded directory
meanwhile. Run: ``.venv/bin/python benchmarks/rebuild_state.py --clickhouse-url chdb:///abs/path/data
[--emptied] [--phases] [--json FILE]``
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import slas.business_state as keeper_module
import slas.state_queries as state_queries
from benchmarks.process_stats import own_cpu_seconds, peak_rss_mib, reset_peak_rss, resident_mib
from benchmarks.tick_profile import recorders_current
from slas.business_state import (
    RECORDED,
    BusinessState,
    TickReport,
)
from slas.definitions import DEFAULT_SLAS
from slas.event_dimensions import append_dimensions
from slas.state_config import STATE_TABLES
from slas.state_queries import clear_staging, graph_chunks
from tests.firm import firm_calendar_book
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.pool import ClientPool
from warehouse.schema import STATE_CHUNKS
from warehouse.schema_state import write_states


@dataclass
class PartMemory:
    """Consecutive parts of one derivation, each with its peak resident memory and CPU seconds,
    and the statements run in them, each with its peak above the resident memory it began with.
    A statement resets VmHWM as it begins, so a part's peak is the largest of what it read
    before each reset and after the last."""

    release: Callable[[], None]
    parts: dict[str, dict[str, float]] = field(default_factory=dict)
    statements: list[dict[str, Any]] = field(default_factory=list)
    _name: str | None = None
    _cpu: float = 0.0
    _carried: float = 0.0
    _resident: float = 0.0

    def _peak(self) -> float:
        return max(self._carried, peak_rss_mib(os.getpid()))

    def mark(self, name: str | None) -> None:
        """Close the part running (a part entered again keeps its peak and sums its CPU) and
        begin ``name``."""
        if self._name is not None:
            previous = self.parts.get(self._name, {"peak_mib": 0.0, "cpu_seconds": 0.0, "n": 0})
            self.parts[self._name] = {
                "peak_mib": round(max(previous["peak_mib"], self._peak())),
                "cpu_seconds": round(previous["cpu_seconds"] + own_cpu_seconds() - self._cpu, 2),
                "n": previous["n"] + 1,
                "resident_at_start_mib": previous.get("resident_at_start_mib", self._resident),
            }
        self._name = name
        if name is None:
            return
        self.release()
        self._resident = round(resident_mib(os.getpid()))
        reset_peak_rss(os.getpid())
        self._carried = 0.0
        self._cpu = own_cpu_seconds()

    def part(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function``, beginning the part ``name`` when called."""

        @functools.wraps(function)
        def begun(*args: Any, **kwargs: Any) -> Any:
            self.mark(name)
            return function(*args, **kwargs)

        return begun

    def statement(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """A client method whose calls are measured one by one."""

        @functools.wraps(function)
        def measured(text: Any, *args: Any, **kwargs: Any) -> Any:
            self._carried = self._peak()
            before = resident_mib(os.getpid())
            reset_peak_rss(os.getpid())
            started, cpu = time.perf_counter(), own_cpu_seconds()
            try:
                return function(text, *args, **kwargs)
            finally:
                peak = peak_rss_mib(os.getpid())
                self.statements.append(
                    {
                        "part": self._name,
                        "statement": " ".join(str(text).split())[:100],
                        "above_start_mib": round(peak - before),
                        "peak_mib": round(peak),
                        "seconds": round(time.perf_counter() - started, 2),
                        "cpu_seconds": round(own_cpu_seconds() - cpu, 2),
                    }
                )

        return measured


def measure_parts(client: Any, state: BusinessState) -> PartMemory:
    """Wrap the derivation's parts and the client's statements (this process only: the
    benchmark's own copies of the functions the tick calls)."""
    libc = ctypes.CDLL("libc.so.6")
    command = client.command

    def release() -> None:
        # glibc's free heap back to the system, and the engine's jemalloc's: what a part takes
        # beyond what is resident then is its own
        libc.malloc_trim(0)
        command("SYSTEM JEMALLOC PURGE")

    parts = PartMemory(release)
    # the tick calls these by its module's names, some of them imported there from where they
    # live: each wrapper replaces the name in ``slas.business_state``
    for name, part, function in (
        ("graph_chunks", "graph read and labels", graph_chunks),
        ("append_timers", "chunk writes", keeper_module.append_timers),
        ("append_items", "chunk writes", keeper_module.append_items),
        ("append_dimensions", "chunk writes", append_dimensions),
        ("clear_staging", "clearing the staging", clear_staging),
        ("write_states", "watermarks", write_states),
    ):
        setattr(keeper_module, name, parts.part(part, function))
    state_queries._write_chunks = parts.part("staging", state_queries._write_chunks)
    state._write = parts.part("chunk derivation", state._write)  # type: ignore[method-assign]
    for key, record in RECORDED.items():
        RECORDED[key] = parts.part(f"recording {record.__module__}", record)
    for method in ("command", "query", "query_np", "insert_arrow", "insert"):
        setattr(client, method, parts.statement(getattr(client, method)))
    return parts


def report_parts(parts: PartMemory) -> dict[str, Any]:
    """Print each part's figures and the statements that rose highest; both, as data."""
    for name, figure in parts.parts.items():
        print(
            f"  {name:45s} peak {figure['peak_mib']:7,.0f} MiB (from "
            f"{figure['resident_at_start_mib']:6,.0f}), {figure['cpu_seconds']:6.2f} CPU-s, "
            f"x{figure['n']}",
            flush=True,
        )
    highest = sorted(parts.statements, key=lambda s: -s["above_start_mib"])[:15]
    for statement in highest:
        print(
            f"  +{statement['above_start_mib']:5,} MiB (peak {statement['peak_mib']:6,}) "
            f"{statement['cpu_seconds']:6.2f} CPU-s [{statement['part']}] "
            f"{statement['statement']}",
            flush=True,
        )
    return {"parts": parts.parts, "statements": parts.statements}


def until_current(state: BusinessState) -> dict[str, Any]:
    """Tick until a tick is not cut short; wall, CPU (the process's, and the tick thread's
    alone: with the next chunk read ahead on another thread, the wall time follows the tick
    thread), versions, events, ticks."""
    wall, cpu, thread = time.perf_counter(), own_cpu_seconds(), time.thread_time()
    versions = events = ticks = 0
    report: TickReport | None = None
    while report is None or report.capped:
        time.sleep(0.01)
        report = state.tick(datetime.now(UTC))
        versions += report.versions
        events += report.events
        ticks += 1
    return {
        "seconds": round(time.perf_counter() - wall, 2),
        "cpu_seconds": round(own_cpu_seconds() - cpu, 2),
        "tick_thread_cpu_seconds": round(time.thread_time() - thread, 2),
        "versions": versions,
        "events": events,
        "ticks": ticks,
        "path": report.path,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clickhouse-url", required=True)
    parser.add_argument(
        "--emptied",
        action="store_true",
        help="truncate the state tables before the rebuild (a first derivation: on a copy only)",
    )
    parser.add_argument(
        "--phases", action="store_true", help="each part's and statement's peak memory too"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()

    # as the service does: every thread its own client (the tick's, and the reader thread's that
    # reads the next chunk ahead)
    pool = ClientPool(arguments.clickhouse_url)
    client = pool.client()
    migrate(client, CorrelationRules.default())
    spans = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    print(f"{spans:,} spans, load {os.getloadavg()}", flush=True)
    state = BusinessState(pool.client, DEFAULT_SLAS, firm_calendar_book(), settle=timedelta(0))
    figures: dict[str, Any] = {"spans": spans, "load_before": os.getloadavg()}
    figures["catch_up"] = until_current(state)
    figures["catch_up"]["recorder_ticks"] = recorders_current(state)
    print(f"brought current: {figures['catch_up']}", flush=True)

    if arguments.emptied:
        for table in STATE_TABLES:
            client.command(f"TRUNCATE TABLE {table}")
    parts = measure_parts(client, state) if arguments.phases else None
    reset_peak_rss(os.getpid())
    state.reset(datetime.now(UTC))
    if parts is not None:
        parts.mark("the tick's own reads")
    rebuild = until_current(state)
    if parts is None:
        rebuild["peak_rss_mib"] = round(peak_rss_mib(os.getpid()))
    else:
        parts.mark(None)
        rebuild["peak_rss_mib"] = max(p["peak_mib"] for p in parts.parts.values())
    rebuild["chunks"] = int(
        client.query(f"SELECT uniqExact(Chunk) FROM {STATE_CHUNKS}").result_rows[0][0]
    )
    figures["rebuild"] = rebuild
    figures["load_after"] = os.getloadavg()
    print(f"from scratch: {rebuild}, load {os.getloadavg()}", flush=True)
    if parts is not None:
        figures["parts"] = report_parts(parts)
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    pool.close()


if __name__ == "__main__":
    main()
