"""The incremental SLA timer state over a loaded quarter: deriving it from scratch, an idle tick, a
tick after N spans arrive, and the SQL answers at arbitrary past ``as_of`` / ``known_at``.

Opens the data directory (or ClickHouse URL) itself: no service may hold an embedded directory
meanwhile. "N spans arrive" twice over: N stored spans chosen at random across the quarter sent
again unchanged (a redelivery: the tick finds nothing new and reads no component), then N new
attempts of stored events (new facts scattered across the quarter, the worst case of arrivals:
the tick re-derives every component they touch). Every answer is timed on both paths, from
``sla_timer_changes`` and by sorting the versions (the SQL before it), at the same instants, and
close risk and blocked invoices (every period) beside them. With ``--truth`` the counts at the
quarter's end are checked against the ground truth.
Run: ``.venv/bin/python benchmarks/timer_state.py --clickhouse-url chdb:///abs/path/data
[--truth truth.json] [--new-spans 10000] [--queries 40] [--json FILE]``; ``--http`` also asks
the blocked invoices through the API route (what a client gets: the answer, its JSON bytes);
``--page N`` the page size of the paged answers (every page of one answer read, in process and
through the route by its ``Link``), ``--asks a,b`` only those answers of the items rounds.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi import FastAPI

from benchmarks.asgi_calls import AsgiCalls
from benchmarks.process_stats import own_cpu_seconds, peak_rss_mib
from lineage import impact
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas import item_versions, timer_changes
from slas.api import slas_router
from slas.business_state import BusinessState, TickReport
from slas.close_state import CloseRiskAnswers
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BlockedInvoiceAnswers
from slas.timer_answers import TimerAnswers
from slas.timers import STATES
from tests.firm import firm_calendar_book
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.pool import ClientPool

TRUTH_STATE = {"met": "met", "breached": "breached", "at_risk": "open", "on_track": "open"}
REDELIVER = """
INSERT INTO otel_traces
SELECT * FROM otel_traces
WHERE SpanAttributes['biz.event.type'] != ''
ORDER BY cityHash64(TraceId, SpanId, {seed:UInt64})
LIMIT {count:UInt64}
"""
"""An exporter's retries: N stored spans sent again, byte for byte."""

NEW_ATTEMPTS = """
INSERT INTO otel_traces
SELECT * REPLACE (lower(hex(cityHash64(SpanId, {seed:UInt64}))) AS SpanId,
                  Timestamp + INTERVAL 1 MINUTE AS Timestamp)
FROM otel_traces
WHERE SpanAttributes['biz.event.type'] != ''
ORDER BY cityHash64(TraceId, SpanId, {seed:UInt64})
LIMIT {count:UInt64}
"""
"""N new facts scattered across the quarter: another attempt of N stored events a minute later
(new span ids), so every component they touch is re-derived."""


def timed(step: Callable[[], Any]) -> tuple[Any, float, float]:
    """The step's result, its wall seconds and the process's CPU seconds."""
    wall, cpu = time.perf_counter(), own_cpu_seconds()
    result = step()
    return result, time.perf_counter() - wall, own_cpu_seconds() - cpu


def recorded(
    client: Any, figures: dict[str, Any], key: str, table: str, label: str, step: Callable[[], Any]
) -> None:
    """Time one record step (a backfill of a state table), count ``table``'s rows after it, and
    put both into ``figures[key]``."""
    _, wall, cpu = timed(step)
    rows = int(client.query(f"SELECT count() FROM {table}").result_rows[0][0])
    figures[key] = {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "rows": rows}
    print(f"{label}: {wall:.2f} s (cpu {cpu:.2f} s), {rows:,} rows", flush=True)


def tick_now(state: BusinessState) -> TickReport:
    time.sleep(0.01)
    return state.tick(datetime.now(UTC))


def every_page(
    blocked: BlockedInvoiceAnswers, first: datetime, span: float, items: int, rng: random.Random
) -> int:
    """Every page of ``items`` of one blocked-invoice answer at a random instant, each page at
    the first page's known_at, the next after the last item of the one before; how many."""
    as_of = first + timedelta(seconds=rng.uniform(0.1 * span, span))
    known, page = blocked.report(
        period=None, legal_entity=None, as_of=as_of, known_at=None, limit=items
    )
    pages = 1
    while page.more:
        _, page = blocked.report(
            period=None,
            legal_entity=None,
            as_of=as_of,
            known_at=known,
            limit=items,
            after=impact.blocked_order(page.items[-1]),
        )
        pages += 1
    return pages


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/path/data or http://…")
    parser.add_argument("--truth", type=Path, help="the simulator's truth file, to reconcile")
    parser.add_argument(
        "--new-spans",
        type=int,
        default=10_000,
        help="spans arriving per tick (0: no arrival rounds)",
    )
    parser.add_argument("--queries", type=int, default=40, help="timed answers of each kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--rounds",
        default="",
        help="answer rounds to time, of versions,changes,items,items_oracle (default: all)",
    )
    parser.add_argument(
        "--answers-only",
        action="store_true",
        help="keep the state the last run derived: record its timer changes again, time answers",
    )
    parser.add_argument(
        "--keep-changes",
        action="store_true",
        help="with --answers-only: keep the recorded timer changes as they are",
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="in the items round, also ask blocked invoices through the API route (FastAPI, "
        "in-process client): the answer, its response model and the JSON bytes a client gets",
    )
    parser.add_argument(
        "--page",
        type=int,
        default=1000,
        help="items of a page in process (the route's default, slas.api.BLOCKED_PAGE_ITEMS)",
    )
    parser.add_argument(
        "--asks",
        default="",
        help="in the items rounds, only these answers (comma-separated names, default: all)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()

    client = connect(arguments.clickhouse_url)
    migrate(client, CorrelationRules.default())
    truth = json.loads(arguments.truth.read_text(encoding="utf-8")) if arguments.truth else None
    spans = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    first, last = client.query("SELECT min(EventTime), max(EventTime) FROM biz_events").result_rows[
        0
    ]
    first, last = first.replace(tzinfo=UTC), last.replace(tzinfo=UTC)
    print(f"{spans:,} spans, events from {first:%Y-%m-%d} to {last:%Y-%m-%d}", flush=True)

    state = BusinessState(lambda: client, DEFAULT_SLAS, firm_calendar_book(), settle=timedelta(0))
    answers = TimerAnswers(lambda: client, DEFAULT_SLAS, firm_calendar_book(), state)
    figures: dict[str, Any] = {"spans": spans}

    if arguments.answers_only and not arguments.keep_changes:
        # the state as the last run left it: its changes recorded again from every version
        timer_changes.reset(client, at=datetime.now(UTC))
    watermark = state.watermark()
    recorded(client, figures, "changes_backfill", "sla_timer_changes", "timer changes of the stored versions",
             lambda: timer_changes.record(client, watermark, at=datetime.now(UTC)))  # fmt: skip
    # after migration 18 the close items' versions are recorded again (replaced versions, pieces)
    recorded(client, figures, "item_pieces_backfill", "close_item_pieces", "close item versions recorded",
             lambda: item_versions.record(client, watermark, at=datetime.now(UTC)))  # fmt: skip
    if not arguments.answers_only:
        derive(state, arguments, client, figures)
    figures["peak_rss_mib"] = round(peak_rss_mib_self(), 0)

    watermark = state.watermark()
    per_thread = ClientPool(arguments.clickhouse_url)
    span = (last - first).total_seconds()
    versions = TimerAnswers(
        lambda: client, DEFAULT_SLAS, firm_calendar_book(), state, from_changes=False
    )
    periods = sorted({f"{first + timedelta(days=d):%Y-%m}" for d in range(int(span // 86400) + 1)})

    open_clients = ExitStack()

    def items(oracle: bool) -> dict[str, Callable[[random.Random], Any]]:
        """Close risk and blocked invoices: summed / narrowed in SQL, or (``oracle``) assessed
        over every item row in Python. A client per thread, as the service's answers have (an
        answer may read on a ``warehouse.pool.READERS`` thread beside its own)."""
        close_risk = CloseRiskAnswers(
            per_thread.client, firm_calendar_book(), state, from_sums=not oracle
        )
        blocked = BlockedInvoiceAnswers(
            per_thread.client, LineageRules.default(), OwnerRouting(), state, narrowed=not oracle
        )
        asks: dict[str, Callable[[random.Random], Any]] = {
            "close_risk": lambda rng: close_risk.report(
                None, first + timedelta(seconds=rng.uniform(0.1 * span, span)), None
            ),
            "close_risk_period": lambda rng: close_risk.report(
                rng.choice(periods), first + timedelta(seconds=rng.uniform(0.1 * span, span)), None
            ),
            "blocked_invoices": lambda rng: blocked.report(
                period=None,
                legal_entity=None,
                as_of=first + timedelta(seconds=rng.uniform(0.1 * span, span)),
                known_at=None,
            ),
            # the API's `limit`: the largest items listed, totals and count of every item
            "blocked_invoices_limit_100": lambda rng: blocked.report(
                period=None,
                legal_entity=None,
                as_of=first + timedelta(seconds=rng.uniform(0.1 * span, span)),
                known_at=None,
                limit=100,
            ),
            "blocked_invoices_page": lambda rng: blocked.report(
                period=None,
                legal_entity=None,
                as_of=first + timedelta(seconds=rng.uniform(0.1 * span, span)),
                known_at=None,
                limit=arguments.page,
            ),
        }
        if "after" in inspect.signature(blocked.report).parameters:  # a tree that pages
            asks["blocked_invoices_every_page"] = partial(
                every_page, blocked, first, span, arguments.page
            )
        if arguments.http and not oracle:
            app = FastAPI()
            app.include_router(slas_router(answers, close_risk, blocked), prefix="/api/v1")
            api = open_clients.enter_context(AsgiCalls(app))  # one event loop for every ask

            def through_api(rng: random.Random, **query: Any) -> bytes:
                as_of = first + timedelta(seconds=rng.uniform(0.1 * span, span))
                response = api.get(
                    "/api/v1/impact/blocked-invoices",
                    params={"as_of": as_of.isoformat(), **query},
                )
                response.raise_for_status()
                body: bytes = response.content
                return body

            def every_page_through_api(rng: random.Random) -> int:
                """The route's pages of one answer, followed by their ``Link`` (a tree that
                does not page answers every item at once); how many."""
                as_of = first + timedelta(seconds=rng.uniform(0.1 * span, span))
                response = api.get(
                    "/api/v1/impact/blocked-invoices", params={"as_of": as_of.isoformat()}
                )
                pages = 1
                while "Link" in response.raise_for_status().headers:
                    response = api.get(response.headers["Link"][1:].split(">;")[0])
                    pages += 1
                return pages

            asks["blocked_invoices_http"] = (
                through_api  # the route's default: a page, or every item
            )
            asks["blocked_invoices_limit_100_http"] = partial(through_api, limit=100)
            asks["blocked_invoices_every_page_http"] = every_page_through_api
        if arguments.asks:
            asks = {name: ask for name, ask in asks.items() if name in arguments.asks.split(",")}
        return asks

    def kinds(timers: TimerAnswers) -> dict[str, Callable[[random.Random], Any]]:
        def instant(rng: random.Random) -> datetime:
            moment: datetime = first + timedelta(seconds=rng.uniform(0.1 * span, span))
            return moment

        def known(rng: random.Random) -> datetime | None:
            return rng.choice([None, watermark - timedelta(seconds=rng.uniform(0, 5))])

        def trend(rng: random.Random) -> Any:
            moment = instant(rng)
            return timers.trend(
                moment, known(rng), [moment - timedelta(weeks=w) for w in range(6, -1, -1)]
            )

        return {
            "slas": lambda rng: timers.summaries(instant(rng), known(rng)),
            "slas_trend": trend,
            "timers_breached": lambda rng: timers.timers(
                rng.choice(DEFAULT_SLAS), instant(rng), known(rng), state="breached", limit=1000
            ),
            "timers_all": lambda rng: timers.timers(
                rng.choice(DEFAULT_SLAS), instant(rng), known(rng), limit=1000
            ),
        }

    rounds: dict[str, dict[str, Callable[[random.Random], Any]]] = {
        "versions": kinds(versions),
        "changes": kinds(answers),
        "items": items(oracle=False),
        "items_oracle": items(oracle=True),
    }
    queries: dict[str, Any] = {}
    chosen = arguments.rounds.split(",") if arguments.rounds else list(rounds)
    for path, asks in ((path, rounds[path]) for path in chosen):
        for name, ask in asks.items():
            ask(random.Random(0))  # warm
            rng = random.Random(arguments.seed)  # the same instants on either path
            samples = [timed(partial(ask, rng)) for _ in range(arguments.queries)]
            queries[f"{path}/{name}"] = {
                **percentiles([wall for _, wall, _ in samples]),
                "cpu_seconds": round(sum(cpu for _, _, cpu in samples), 2),
            }
            figure = queries[f"{path}/{name}"]
            print(f"{path}/{name}: p50 {figure['p50_ms']} ms, p95 {figure['p95_ms']} ms, "
                  f"{figure['cpu_seconds']} CPU-s for {arguments.queries}", flush=True)  # fmt: skip
    figures["queries"] = queries
    open_clients.close()

    if truth:
        end = datetime.fromisoformat(truth["scenario"]["end"].replace("Z", "+00:00"))
        counts = {s.name: s.counts for s in answers.summaries(end, None).summaries}
        problems = []
        for sla, expected in truth["summary"]["sla_timers"].items():
            got = {"met": 0, "breached": 0, "open": 0}
            for name in STATES:
                got[TRUTH_STATE[name]] += counts[sla][name]
            if got != expected:
                problems.append(f"{sla}: {got} != truth {expected}")
        figures["reconciles"] = not problems
        print("reconciles with the truth" if not problems else "\n".join(problems), flush=True)
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


def derive(
    state: BusinessState, arguments: argparse.Namespace, client: Any, figures: dict[str, Any]
) -> None:
    """The state derived from scratch, an idle tick, then ticks after spans arrive."""
    state.reset(datetime.now(UTC))
    report, wall, cpu = timed(lambda: tick_now(state))
    figures["from_scratch"] = {
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "objects": report.touched,
        "versions": report.versions,
        "peak_rss_mib": round(peak_rss_mib_self(), 0),
    }
    print(f"from scratch: {wall:.2f} s (cpu {cpu:.2f} s), {report.versions:,} versions", flush=True)

    report, wall, cpu = timed(lambda: tick_now(state))
    figures["idle_tick"] = {"seconds": round(wall, 4), "cpu_seconds": round(cpu, 4)}
    print(f"idle tick: {1000 * wall:.1f} ms (cpu {1000 * cpu:.1f} ms)", flush=True)

    arrivals = (("redelivered", REDELIVER), ("new_attempts", NEW_ATTEMPTS))
    for name, statement in arrivals if arguments.new_spans else ():
        ticks = []
        for round_ in range(3):
            client.command(
                statement,
                parameters={"count": arguments.new_spans, "seed": arguments.seed + round_},
            )
            report, wall, cpu = timed(lambda: tick_now(state))
            refreshed = report.refreshed
            ticks.append({"seconds": wall, "cpu_seconds": cpu, "objects": report.touched,
                          "events": report.events, "versions": report.versions,
                          "refreshed": refreshed})  # fmt: skip
            print(
                f"tick after {arguments.new_spans:,} {name} spans: {1000 * wall:.0f} ms (cpu "
                f"{1000 * cpu:.0f} ms), {report.touched:,} objects, {report.events:,} events, "
                f"{report.versions} versions, {refreshed} events refreshed",
                flush=True,
            )
        figures[f"tick_after_{name}_spans"] = ticks


def peak_rss_mib_self() -> float:
    return peak_rss_mib(os.getpid())


if __name__ == "__main__":
    main()
