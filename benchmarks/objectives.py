"""The error-budget answer (``slas.objective_answers``) over a loaded quarter: every default SLA
given a 95 % objective over 20 business days, the answer at random instants of the quarter, timed
beside the SLA summaries (the same scan of every timer's latest version) for scale.

Opens the data directory (or ClickHouse URL) itself: no service may hold an embedded directory
meanwhile. Derives the timer state first when it is not current.
Run: ``.venv/bin/python benchmarks/objectives.py --clickhouse-url chdb:///abs/path/data
[--queries 40] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timer_state import percentiles, tick_now, timed
from slas.business_state import BusinessState
from slas.definitions import DEFAULT_SLAS
from slas.objective_answers import ObjectiveAnswers
from slas.objectives import Objective, ObjectiveBook
from slas.timer_answers import TimerAnswers
from tests.firm import firm_calendar_book
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/path/data or http://…")
    parser.add_argument("--queries", type=int, default=40, help="timed answers of each kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()

    client = connect(arguments.clickhouse_url)
    migrate(client, CorrelationRules.default())
    calendars = firm_calendar_book()
    state = BusinessState(lambda: client, DEFAULT_SLAS, calendars, settle=timedelta(0))
    report, wall, _ = timed(lambda: tick_now(state))
    timers = int(client.query("SELECT uniqExact(KeyType, KeyId, Sla, StartEventId) FROM sla_timers").result_rows[0][0])  # fmt: skip
    print(f"state current after {wall:.1f} s ({report.versions:,} versions); {timers:,} timers")
    first, last = client.query("SELECT min(EventTime), max(EventTime) FROM biz_events").result_rows[
        0
    ]
    first, last = first.replace(tzinfo=UTC), last.replace(tzinfo=UTC)
    book = ObjectiveBook({d.name: Objective(0.95) for d in DEFAULT_SLAS})
    objectives = ObjectiveAnswers(lambda: client, DEFAULT_SLAS, calendars, state, book)
    answers = TimerAnswers(lambda: client, DEFAULT_SLAS, calendars, state)
    rng = random.Random(arguments.seed)
    span = (last - first).total_seconds()

    def some_instant() -> datetime:
        return first + timedelta(seconds=rng.uniform(0.3 * span, span))

    kinds: dict[str, Callable[[], Any]] = {
        "objectives": lambda: objectives.report(some_instant(), None),
        "slas": lambda: answers.summaries(some_instant(), None),
    }
    figures: dict[str, Any] = {"timers": timers}
    for name, ask in kinds.items():
        ask()  # warm
        samples = [timed(ask)[1] for _ in range(arguments.queries)]
        figures[name] = percentiles(samples)
        print(f"{name}: p50 {figures[name]['p50_ms']} ms, p95 {figures[name]['p95_ms']} ms")
    _, statuses = objectives.report(last, None)
    figures["entities_at_the_end"] = len(statuses)
    figures["firing_at_the_end"] = sum(b.firing for s in statuses for b in s.burns)
    print(f"at the quarter's end: {len(statuses)} SLA x entity budgets, {figures['firing_at_the_end']} tiers firing")  # fmt: skip
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
