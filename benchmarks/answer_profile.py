"""Where close risk, blocked invoices and the SLA summaries spend their time: each answer asked at the instants
``benchmarks/timer_state.py`` draws (the same seed gives the same instants), every statement
timed through ``benchmarks/tick_profile.py``'s ``CountingClient``, and the CPU per answer spent
outside the statements (Python). Opens the data directory itself: no service may hold it.
With ``--plan-cost`` each statement an answer ran is then asked again as ``EXPLAIN AST``,
``EXPLAIN QUERY TREE`` and ``EXPLAIN PLAN`` with its parameters (best of ``--plan-rounds`` each):
what it costs to parse, to analyse and to plan before it reads a row, beside what it cost to run.
With ``--apart`` every thread reads through a client of its own (``warehouse.pool.ClientPool``, as
the service's answers do): an answer's reads ahead then run beside it, and each statement's CPU
is the process's while it ran (overlapping statements count each other's).
Run: ``.venv/bin/python benchmarks/answer_profile.py --clickhouse-url chdb:///abs/path/data
[--answers 10] [--limit 100] [--plan-cost [--plan-rounds 2]] [--only close_risk ...] [--apart]``
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import own_cpu_seconds
from benchmarks.tick_profile import CountingClient, counted_state
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas.close_state import CloseRiskAnswers
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BlockedInvoiceAnswers
from slas.timer_answers import TimerAnswers
from tests.firm import firm_calendar_book
from warehouse.client import connect
from warehouse.pool import ClientPool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/path/data or http://…")
    parser.add_argument("--answers", type=int, default=10, help="answers of each kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--limit", type=int, default=100, help="items listed by the limited blocked answer"
    )
    parser.add_argument(
        "--plan-cost",
        action="store_true",
        help="also time each statement's EXPLAIN AST / QUERY TREE / PLAN",
    )
    parser.add_argument("--plan-rounds", type=int, default=2, help="best of this many EXPLAINs")
    parser.add_argument(
        "--only", nargs="+", metavar="KIND", help="ask only these kinds (e.g. close_risk)"
    )
    parser.add_argument(
        "--apart", action="store_true", help="a client per thread: answers read beside themselves"
    )
    arguments = parser.parse_args()

    client = connect(arguments.clickhouse_url)
    counting, state = counted_state(client)
    if arguments.plan_cost:
        counting.reads = []
    reads: Callable[[], Any] = lambda: counting  # noqa: E731
    if arguments.apart:
        pool, own = ClientPool(arguments.clickhouse_url), threading.local()

        def reads() -> Any:
            """This thread's counting client, its statements counted with the others'."""
            if not hasattr(own, "client"):
                own.client = CountingClient(pool.client())
                own.client.calls = counting.calls
            return own.client

    first, last = client.query("SELECT min(EventTime), max(EventTime) FROM biz_events").result_rows[
        0
    ]
    first, last = first.replace(tzinfo=UTC), last.replace(tzinfo=UTC)
    span = (last - first).total_seconds()
    periods = sorted({f"{first + timedelta(days=d):%Y-%m}" for d in range(int(span // 86400) + 1)})
    close_risk = CloseRiskAnswers(reads, firm_calendar_book(), state)
    blocked = BlockedInvoiceAnswers(reads, LineageRules.default(), OwnerRouting(), state)

    timers = TimerAnswers(reads, DEFAULT_SLAS, firm_calendar_book(), state)

    def instant(rng: random.Random) -> Any:
        return first + timedelta(seconds=rng.uniform(0.1 * span, span))

    asks: dict[str, Callable[[random.Random], Any]] = {
        "close_risk": lambda rng: close_risk.report(None, instant(rng), None),
        "close_risk_period": lambda rng: close_risk.report(rng.choice(periods), instant(rng), None),
        "blocked_invoices": lambda rng: blocked.report(
            period=None, legal_entity=None, as_of=instant(rng), known_at=None
        ),
        f"blocked_invoices_limit_{arguments.limit}": lambda rng: blocked.report(
            period=None, legal_entity=None, as_of=instant(rng), known_at=None, limit=arguments.limit
        ),
        "slas": lambda rng: (None, timers.summaries(instant(rng), None).summaries),
        "slas_trend": lambda rng: timers.trend(
            moment := instant(rng), None, [moment - timedelta(weeks=w) for w in range(6, -1, -1)]
        ),
    }
    for name, ask in asks.items():
        if arguments.only and name not in arguments.only:
            continue
        try:
            ask(random.Random(0))  # warm
        except TypeError as error:  # code before the limit (run from another checkout)
            print(f"{name}: not asked ({error})", flush=True)
            continue
        rng = random.Random(arguments.seed)
        counting.calls.clear()
        if counting.reads is not None:
            counting.reads.clear()
        wall, cpu = time.perf_counter(), own_cpu_seconds()
        sizes = []
        for _ in range(arguments.answers):
            answer = ask(rng)[1]
            sizes.append(len(answer) if isinstance(answer, list | dict) else len(answer.items))
        wall, cpu = time.perf_counter() - wall, own_cpu_seconds() - cpu
        per = 1000 / arguments.answers
        in_statements = sum(c for samples in counting.calls.values() for _, c in samples)
        print(
            f"{name}: {wall * per:.0f} ms wall, {cpu * per:.0f} ms CPU per answer "
            f"({min(sizes)}-{max(sizes)} entries); outside the statements "
            f"{(cpu - in_statements) * per:.0f} ms CPU",
            flush=True,
        )
        for kind, samples in sorted(
            counting.calls.items(), key=lambda kv: -sum(c for _, c in kv[1])
        ):
            print(
                f"    {sum(c for _, c in samples) * per:6.1f} ms CPU, "
                f"{len(samples) / arguments.answers:.1f}x  {kind}",
                flush=True,
            )
        if counting.reads is not None:
            plan_costs(client, counting.reads, arguments.answers, arguments.plan_rounds)


EXPLAINS = ("AST", "QUERY TREE", "PLAN")


def plan_costs(
    client: Any, captured: list[tuple[str, str, dict[str, Any]]], answers: int, rounds: int
) -> None:
    """Each captured statement asked again under each of ``EXPLAINS`` (best of ``rounds``), summed
    by kind per answer, beside the statement's length."""
    per = 1000 / answers
    by_kind: dict[str, list[float]] = {}
    for kind, statement, parameters in captured:
        costs = by_kind.setdefault(kind, [0.0] * (len(EXPLAINS) + 2))
        costs[0] += 1
        costs[1] = max(costs[1], len(statement))
        for i, explain in enumerate(EXPLAINS):
            best = float("inf")
            for _ in range(rounds):
                cpu = own_cpu_seconds()
                client.query(f"EXPLAIN {explain} {statement}", parameters=parameters)
                best = min(best, own_cpu_seconds() - cpu)
            costs[i + 2] += best
    for kind, (count, length, *explained) in sorted(by_kind.items(), key=lambda kv: -kv[1][-1]):
        figures = ", ".join(
            f"{explain.lower()} {cost * per:5.1f}"
            for explain, cost in zip(EXPLAINS, explained, strict=True)
        )
        print(
            f"    EXPLAIN ms CPU per answer: {figures}; {count / answers:.1f}x, "
            f"{length:,.0f} chars  {kind}",
            flush=True,
        )


if __name__ == "__main__":
    main()
