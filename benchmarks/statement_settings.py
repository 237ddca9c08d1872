"""Which engine settings make the statements of issue 14's item answers cheaper: every statement
close risk (every period, one period) and the limited blocked-invoice answer make at the instants
``benchmarks/answer_profile.py`` draws, captured once, then run again as they were and under each
setting of ``VARIANTS`` (the rows compared with the run as it was), interleaved round by round so
that the load weighs on each alike. Opens the data directory itself: no service may hold it.
Run: ``.venv/bin/python benchmarks/statement_settings.py --clickhouse-url chdb:///abs/path/data
[--answers 4] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import own_cpu_seconds
from benchmarks.tick_profile import counted_state
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas.business_state import BusinessState
from slas.close_state import CloseRiskAnswers
from slas.impact_answers import BlockedInvoiceAnswers
from tests.firm import firm_calendar_book
from warehouse.client import connect

VARIANTS: dict[str, dict[str, Any]] = {
    "as is": {},
    "max_threads=1": {"max_threads": 1},
    "no plan optimizations": {"query_plan_enable_optimizations": 0},
    "no condition cache": {"use_query_condition_cache": 0},
    "no skip indexes": {"use_skip_indexes": 0},
    "no projections": {"optimize_use_projections": 0},
}


def kind_of(statement: str) -> str:
    """A short name for a statement: its first words and its first ``FROM``."""
    words = " ".join(statement.split())
    at = max(words.find("FROM"), 0)
    return f"{words[:40]} … {words[at : at + 50]}"


def opened(url: str) -> tuple[Any, BusinessState, datetime, float]:
    """The database at ``url`` migrated, its business state, and the first business event's
    time and the seconds from it to the last (the range the answers are asked in)."""
    client = connect(url)
    _, state = counted_state(client)
    first, last = client.query("SELECT min(EventTime), max(EventTime) FROM biz_events").result_rows[
        0
    ]
    first, last = first.replace(tzinfo=UTC), last.replace(tzinfo=UTC)
    return client, state, first, (last - first).total_seconds()


class Capturing:
    """A client that keeps every query it passes on (statement and parameters)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.statements: list[tuple[str, dict[str, Any]]] = []

    def query(self, statement: str, parameters: dict[str, Any] | None = None) -> Any:
        self.statements.append((statement, dict(parameters or {})))
        return self._client.query(statement, parameters=parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/path/data")
    parser.add_argument("--answers", type=int, default=4, help="answers of each kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()

    client, state, first, span = opened(arguments.clickhouse_url)
    periods = sorted({f"{first + timedelta(days=d):%Y-%m}" for d in range(int(span // 86400) + 1)})
    capturing = Capturing(client)
    reads: Any = lambda: capturing  # noqa: E731
    close_risk = CloseRiskAnswers(reads, firm_calendar_book(), state)
    blocked = BlockedInvoiceAnswers(reads, LineageRules.default(), OwnerRouting(), state)

    def instant(rng: random.Random) -> Any:
        return first + timedelta(seconds=rng.uniform(0.1 * span, span))

    rng = random.Random(arguments.seed)
    for _ in range(arguments.answers):
        close_risk.report(None, instant(rng), None)
        close_risk.report(rng.choice(periods), instant(rng), None)
        blocked.report(period=None, legal_entity=None, as_of=instant(rng), known_at=None, limit=100)
    captured = capturing.statements
    expected = [client.query(s, parameters=p).result_rows for s, p in captured]
    cpu: dict[tuple[str, str], float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for _ in range(arguments.rounds):
        for (statement, parameters), rows in zip(captured, expected, strict=True):
            kind = kind_of(statement)
            count[kind] += 1
            for name, settings in VARIANTS.items():
                before = own_cpu_seconds()
                result = client.query(statement, parameters=parameters, settings=settings)
                cpu[(kind, name)] += own_cpu_seconds() - before
                if sorted(map(repr, result.result_rows)) != sorted(map(repr, rows)):
                    print(f"  {name} changed the rows of {kind}", flush=True)
    print("ms CPU per statement: " + " | ".join(VARIANTS))
    for kind, times in sorted(count.items(), key=lambda kv: -cpu[(kv[0], "as is")]):
        figures = " | ".join(f"{1000 * cpu[(kind, name)] / times:6.1f}" for name in VARIANTS)
        print(f"{figures}  ({times}x) {kind}")
    totals = " | ".join(
        f"{1000 * sum(cpu[(k, name)] for k in count) / arguments.rounds:7.0f}" for name in VARIANTS
    )
    print(f"{totals}  all statements of one round")


if __name__ == "__main__":
    main()
