"""What keeping the open timers' alerts costs the evaluator, in-process on a loaded quarter: a read
of every alerting timer with an alert built for each (what every tick that wrote a version did
before the alerts were kept by timer, and what the hourly refresh does), against a read of only the
timers that changed since (``TimerAnswers.alerting_changes``), after new spans of ``--new-spans``
scattered attempts (``benchmarks/timer_state.py``'s ``NEW_ATTEMPTS``) and one tick.

Opens the data directory itself (no service may hold it); the state must be current.
Run: ``.venv/bin/python benchmarks/timer_alerts.py --clickhouse-url chdb:///abs/path/data
[--new-spans 10000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timer_state import NEW_ATTEMPTS, tick_now, timed
from slas.business_state import BusinessState
from slas.definitions import DEFAULT_SLAS
from slas.evaluator import open_timer_alert
from slas.timer_answers import AlertingRead, AlertingTimer, TimerAnswers
from tests.firm import firm_calendar_book
from warehouse.client import connect


def built(timers: list[AlertingTimer]) -> int:
    """Build each timer's alert and its fingerprint, as the evaluator does for a new alert."""
    by_name = {d.name: d for d in DEFAULT_SLAS}
    for timer in timers:
        alert = open_timer_alert(timer, by_name[timer.sla], public_url="http://syncsight.test")
        _ = alert.fingerprint
    return len(timers)


def show(label: str, step: Callable[[], Any]) -> None:
    result, wall, cpu = timed(step)
    if isinstance(result, AlertingRead):
        result = f"{len(result.changed or ())} timers changed, {len(result.timers)} alerting"
    elif isinstance(result, list):
        result = f"{len(result)} timers"
    print(f"{label}: {wall:.2f} s wall, {cpu:.2f} CPU-s ({result})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True)
    parser.add_argument("--new-spans", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    client = connect(arguments.clickhouse_url)
    book = firm_calendar_book()
    state = BusinessState(lambda: client, DEFAULT_SLAS, book, settle=timedelta(0))
    answers = TimerAnswers(lambda: client, DEFAULT_SLAS, book, state)
    tick_now(state)
    for number in range(arguments.rounds):
        now = datetime.now(UTC)
        read = answers.alerting_read(now)
        show(f"round {number}: every alerting timer read", partial(answers.alerting, now))
        show(f"round {number}: an alert built for each", partial(built, read.timers))
        changes = partial(answers.alerting_changes, now + timedelta(seconds=15), read)
        show(f"round {number}: changes read, nothing new", changes)
        if arguments.new_spans:
            parameters = {"count": arguments.new_spans, "seed": 7 + number}
            client.command(NEW_ATTEMPTS, parameters=parameters)
            report = tick_now(state)
            print(f"round {number}: tick wrote {report.versions} versions", flush=True)
            changes = partial(answers.alerting_changes, datetime.now(UTC), read)
            show(f"round {number}: changes read after {arguments.new_spans} new spans", changes)


if __name__ == "__main__":
    main()
