"""Where the evaluator's peak memory goes, tick by tick, as history grows: before each tick
``--rate`` times ``--interval`` new spans of new engagements are stored (the soak's traffic,
``benchmarks/steady_tick.py``'s ingest), then one whole evaluation runs as the service's evaluator
thread runs it (``SlaEvaluator.evaluate_once``: the business-state tick, the open timers' alerts,
close risk, error budgets and telemetry silence, every source worked out afresh each tick), then
the work-item count the service's ``/metrics`` serves (``WorkQueue.counts``, its own thread in the
service). Each phase's peak resident memory (VmHWM, reset through ``/proc/self/clear_refs`` as the
phase starts: the process's, the in-process engine included) and CPU seconds are printed;
``--tracemalloc`` adds the Python heap's peak per phase (slower).

The engine directory is either new (``--history`` spans stored and derived first, as
``steady_tick.py`` does) or, with ``--existing``, a migrated copy of a quarter (its state derived
first when it has none). Run:
``.venv/bin/python benchmarks/evaluator_memory.py --data /tmp/mem/h400 --history 400000 --ticks 4``
or ``… --data /tmp/mem/l10 --existing --ticks 4`` (opens ``<data>/data``) ``[--json FILE]``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import own_cpu_seconds, peak_rss_mib, reset_peak_rss, resident_mib
from benchmarks.steady_tick import SPANS_PER_REQUEST, ingest, templates
from domain.instants import EPOCH
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas.config import SlaConfig
from slas.dispatch import Dispatcher
from slas.evaluator import SlaEvaluator
from slas.service import SlaService
from tests.firm import firm_calendar_book
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.pool import ClientPool


@dataclass
class Phases:
    """Consecutive phases of one process: each ``mark`` closes the phase running (its peak RSS
    since it began, its CPU seconds, its Python heap peak when traced) and begins the next."""

    traced: bool
    release: Callable[[], None] = lambda: None
    """Called before a phase begins (memory the allocators hold free would hide its peak)."""
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    _name: str | None = None
    _cpu: float = 0.0

    def mark(self, name: str | None) -> None:
        if self._name is not None:
            figure = {
                "peak_mib": peak_rss_mib(os.getpid()),
                "cpu_seconds": own_cpu_seconds() - self._cpu,
            }
            if self.traced:
                figure["python_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            previous = self.figures.get(self._name)
            if previous is not None:  # a phase entered twice keeps its peak and sums its CPU
                figure["peak_mib"] = max(figure["peak_mib"], previous["peak_mib"])
                figure["cpu_seconds"] += previous["cpu_seconds"]
                if self.traced:
                    figure["python_peak_mib"] = max(
                        figure["python_peak_mib"], previous["python_peak_mib"]
                    )
            self.figures[self._name] = figure
        self._name = name
        self.release()
        reset_peak_rss(os.getpid())
        if self.traced:
            tracemalloc.reset_peak()
        self._cpu = own_cpu_seconds()


class MeasuredState:
    """The business state with its tick as a phase, and the evaluator's timer alerts after it."""

    def __init__(self, state: Any, phases: Phases) -> None:
        self._state, self._phases = state, phases

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)

    def tick(self, now: datetime) -> Any:
        self._phases.mark("state tick")
        report = self._state.tick(now)
        self._phases.mark("timer alerts")
        return report


class MeasuredSource:
    """An alert source as a phase of its own."""

    def __init__(self, name: str, source: Any, phases: Phases) -> None:
        self._name, self._source, self._phases = name, source, phases

    def alerts(self, now: datetime) -> list[Any]:
        self._phases.mark(self._name)
        found: list[Any] = self._source.alerts(now)
        self._phases.mark("reconcile and dispatch")
        return found


def evaluator(pool: ClientPool, phases: Phases) -> tuple[SlaEvaluator, SlaService]:
    """The service's evaluator (the default SLAs, the test firm's calendars, no notifier), every
    source worked out afresh at each tick, each part a phase."""
    book = firm_calendar_book()
    config = SlaConfig(calendars=book.calendars, default_calendar=book.default)
    # an interval of a millisecond: close risk, blocked money and error budgets every tick
    service = SlaService(
        pool,
        config,
        LineageRules.default(),
        OwnerRouting(),
        interval_seconds=0.001,
        public_url="http://benchmark",
        settle_seconds=0.0,
    )
    sources = {
        "close risk and blocked money": service.business_alerts,
        "telemetry silence": service.silence,
        "error budgets": service.budget_burn,
    }
    measured = SlaEvaluator(
        pool.client,
        MeasuredState(service.business_state, phases),  # type: ignore[arg-type]
        service.answers,
        Dispatcher([], None, grace=timedelta(minutes=1), resend=timedelta(hours=4)),
        None,
        interval=timedelta(seconds=15),
        public_url="http://benchmark",
        sources=[MeasuredSource(name, source, phases) for name, source in sources.items()],
    )
    return measured, service


def run_tick(
    number: int,
    evaluate: SlaEvaluator,
    service: SlaService,
    phases: Phases,
    ingest_new: Callable[[], None],
) -> dict[str, Any]:
    """Store the new spans, evaluate once, count the work items; the figures of each phase."""
    ingest_new()
    time.sleep(0.01)
    phases.figures = {}
    started = resident_mib(os.getpid())
    phases.mark("evaluation")
    report = evaluate.evaluate_once(datetime.now(UTC))
    phases.mark("work-item count")
    service.work_queue.counts(datetime.now(UTC))
    phases.mark(None)
    figure: dict[str, Any] = {
        "tick": number,
        "rss_before_mib": started,
        "rss_after_mib": resident_mib(os.getpid()),
        "events": report.events if report else 0,
        "versions": report.versions if report else 0,
        "path": report.path if report else "",
        "alerts": len(evaluate.alerts()),
        "phases": phases.figures,
    }
    evaluation = [v["peak_mib"] for k, v in phases.figures.items() if k != "work-item count"]
    figure["evaluation_peak_mib"] = max(evaluation)
    print(
        f"tick {number}: RSS {started:,.0f} -> {figure['rss_after_mib']:,.0f} MiB; evaluation "
        f"peak {figure['evaluation_peak_mib']:,.0f} MiB; {figure['events']:,} events, "
        f"{figure['versions']:,} versions, path {figure['path'] or '-'}, "
        f"{figure['alerts']:,} alerts",
        flush=True,
    )
    for name, values in phases.figures.items():
        python = (
            f", Python peak {values['python_peak_mib']:7,.0f} MiB"
            if "python_peak_mib" in values
            else ""
        )
        print(
            f"  {name:30s} peak {values['peak_mib']:7,.0f} MiB, "
            f"{values['cpu_seconds']:6.2f} CPU-s{python}",
            flush=True,
        )
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the engine opens <data>/data")
    parser.add_argument("--existing", action="store_true", help="a migrated copy, not a new dir")
    parser.add_argument("--ticks", type=int, default=4)
    parser.add_argument("--history", type=int, default=400_000, help="spans stored first (new)")
    parser.add_argument("--rate", type=float, default=3000.0, help="spans per second ingested")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between ticks")
    parser.add_argument("--tracemalloc", action="store_true", help="Python's peak per phase too")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    if not arguments.existing and arguments.data.exists() and any(arguments.data.iterdir()):
        parser.error(f"{arguments.data} is not empty: without --existing the run starts empty")
    url = f"chdb://{arguments.data.resolve()}/data"
    client = connect(url)
    migrate(client, CorrelationRules.default())
    pool = ClientPool(url)
    made = templates()
    per_tick = max(1, round(arguments.rate * arguments.interval / SPANS_PER_REQUEST))
    first = 0 if arguments.existing else -(-arguments.history // SPANS_PER_REQUEST)
    for start in range(0, first, per_tick):
        ingest(url, client, made, start, min(per_tick, first - start))
    libc = ctypes.CDLL("libc.so.6")

    def release() -> None:
        # glibc's free heap back to the system, and the engine's jemalloc's: what a phase
        # takes beyond what is resident then is its own
        libc.malloc_trim(0)
        client.command("SYSTEM JEMALLOC PURGE")

    phases = Phases(traced=arguments.tracemalloc, release=release)
    evaluate, service = evaluator(pool, phases)
    stored = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    started, cpu = time.perf_counter(), own_cpu_seconds()
    if service.business_state.watermark() == EPOCH:
        print(f"deriving the state of {stored:,} spans first", flush=True)
    report = service.business_state.tick(datetime.now(UTC))
    print(
        f"history: {stored:,} spans; first tick {time.perf_counter() - started:.1f} s, "
        f"{own_cpu_seconds() - cpu:.1f} CPU-s ({report.events:,} events); "
        f"{per_tick * SPANS_PER_REQUEST:,} new spans before each tick",
        flush=True,
    )
    if arguments.tracemalloc:
        tracemalloc.start()
    # the first evaluation reads every open timer (its alerts are held from then on), as the
    # service's first tick does; it is measured, not left out
    figures = []
    # the requests' numbers follow the history's; on a copy, new on every run (the tag in each
    # id holds a request's number below 2,000,000)
    offset = (int(time.time()) % 9_000) * 100 if arguments.existing else first
    for number in range(arguments.ticks):
        figures.append(
            run_tick(
                number,
                evaluate,
                service,
                phases,
                partial(ingest, url, client, made, offset + number * per_tick, per_tick),
            )
        )
    peaks = [f["evaluation_peak_mib"] for f in figures]
    counts = [f["phases"]["work-item count"]["peak_mib"] for f in figures]
    print(
        f"history {stored:,} spans: evaluation peak {min(peaks):,.0f}-{max(peaks):,.0f} MiB, "
        f"work-item count peak {min(counts):,.0f}-{max(counts):,.0f} MiB",
        flush=True,
    )
    if arguments.json:
        arguments.json.write_text(
            json.dumps({"history_spans": stored, "ticks": figures}, indent=2), encoding="utf-8"
        )
    pool.close()


if __name__ == "__main__":
    main()
