"""The engine's unfinished background mutations on this database's tables (``system.mutations``):
a changed retention's rewrite of the stored parts (``warehouse.retention`` starts it and does not
wait), or an ``ALTER … UPDATE/DELETE`` an operator started. The engine retries a failing mutation
for ever, and later mutations of that table queue behind it, so a failure that nobody sees means
data kept past its retention without end. ``/readyz`` says ``degraded`` while one fails, and
while ``system.mutations`` itself cannot be read (a failure would go unseen); ``/metrics`` exports
the parts left and the failing mutations per table, the failed reads and the reading's age.

``system.mutations`` is read in the background (``warehouse.refreshed``), at most once every
``every`` seconds and only while probes or scrapes come: they get the last reading at once, so a
slow or hung engine holds neither, and frequent probes add no engine work."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from warehouse.refreshed import STALE_AFTER, Reading, Refreshed

UNFINISHED: Final = """
SELECT table, mutation_id, command, parts_to_do, latest_fail_reason, latest_fail_time
FROM system.mutations
WHERE database = currentDatabase() AND NOT is_done
ORDER BY create_time, table, mutation_id
LIMIT 1000
SETTINGS max_execution_time = 5
"""
"""Every unfinished mutation of this database (a thousand at most: more would be an operator's
loop gone wrong, and the first thousand say so)."""

READ_EVERY_SECONDS: Final = 10.0

NAMED_FAILURES: Final = 3
"""Failing mutations ``/readyz`` names one by one (an operator's loop of failing ALTERs would
otherwise make the probe's answer as long as a thousand of the engine's messages)."""

_REASON_CHARS: Final = 300
"""How much of the engine's failure text ``/readyz`` repeats (the text names the function and
the whole expression; the start says what failed)."""


@dataclass(frozen=True)
class Mutation:
    """One unfinished mutation: its table, the engine's id and command, the parts it has still to
    rewrite, and why its last attempt failed ('' while none has)."""

    table: str
    mutation_id: str
    command: str
    parts_to_do: int
    fail_reason: str
    failed_at: datetime | None

    @property
    def failing(self) -> bool:
        return bool(self.fail_reason)

    def problem(self) -> str:
        """The failure in a sentence an operator can act on."""
        since = f" at {self.failed_at.isoformat()}" if self.failed_at else ""
        reason = self.fail_reason[:_REASON_CHARS]
        return (
            f"mutation {self.mutation_id} of {self.table} ({self.command.strip()}) last failed"
            f"{since}: {reason}; the engine retries it and later mutations of the table wait "
            f"behind it (docs/operations.md, Retention)"
        )


def unfinished_mutations(client: Client) -> tuple[Mutation, ...]:
    """This database's unfinished mutations, oldest first."""
    rows = client.query(UNFINISHED).result_rows
    return tuple(
        Mutation(
            table=str(table),
            mutation_id=str(mutation_id),
            command=str(command),
            parts_to_do=int(parts),
            fail_reason=str(reason),
            failed_at=failed_at if reason and failed_at and failed_at.year > 1970 else None,
        )
        for table, mutation_id, command, parts, reason, failed_at in rows
    )


def parts_left(mutations: Iterable[Mutation]) -> Counter[str]:
    """Table → the parts its unfinished mutations have still to rewrite."""
    left: Counter[str] = Counter()
    for mutation in mutations:
        left[mutation.table] += mutation.parts_to_do
    return left


def failures(mutations: Iterable[Mutation]) -> str | None:
    """The first ``NAMED_FAILURES`` failing mutations in a sentence each (and how many more
    fail), or None while none fails."""
    failing = [mutation for mutation in mutations if mutation.failing]
    named = [mutation.problem() for mutation in failing[:NAMED_FAILURES]]
    if len(failing) > NAMED_FAILURES:
        named.append(f"and {len(failing) - NAMED_FAILURES} more failing mutation(s)")
    return " | ".join(named) or None


def pending_parts(mutations: Iterable[Mutation]) -> str | None:
    """Parts left per table of every unfinished mutation, or None when none is left."""
    parts = parts_left(mutations)
    if not parts:
        return None
    return ", ".join(f"{table}: {count} part(s) left" for table, count in sorted(parts.items()))


def reading_problem(reading: Reading[tuple[Mutation, ...]]) -> str | None:
    """Why ``reading`` may be out of date, or None while it is sound."""
    if not reading.failed:
        return None
    return (
        f"system.mutations could not be read ({reading.problem}); the mutations reported are "
        f"those of {reading.age:.0f} s ago"
    )


class MutationWatch(Collector):
    """What ``system.mutations`` says, read in the background through ``client`` at most once
    every ``every`` seconds; a collector for ``/metrics`` too."""

    def __init__(
        self,
        client: Callable[[], Client],
        *,
        every: float = READ_EVERY_SECONDS,
        stale_after: float = STALE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        empty: tuple[Mutation, ...] = ()
        self._read = Refreshed(
            lambda: unfinished_mutations(client()),
            empty,
            name="system.mutations",
            every=every,
            stale_after=stale_after,
            clock=clock,
        )
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def mutations(self) -> tuple[Mutation, ...]:
        """The unfinished mutations as last read (none before the first read); starts the next
        read when it is due. A read that fails keeps the last reading (counted, logged):
        ``/readyz`` reports the engine itself."""
        return self._read.reading().value

    def wait(self, timeout: float) -> bool:
        """Wait until no read is running; whether none is."""
        return self._read.wait(timeout)

    def problem(self) -> str | None:
        """The first ``NAMED_FAILURES`` failing mutations in a sentence each (and how many more
        fail), or None while none fails."""
        return failures(self.mutations())

    def read_problem(self) -> str | None:
        """Why the mutations above may be out of date (the last read of ``system.mutations``
        failed, or the one running is overdue), or None while the reading is sound."""
        return reading_problem(self._read.reading())

    def pending(self) -> str | None:
        """Parts left per table of every unfinished mutation (a retention rewrite under way), or
        None when none is left."""
        return pending_parts(self.mutations())

    def readiness(self) -> tuple[bool, dict[str, str]]:
        """What ``/readyz`` says of the mutations, all from one reading: whether they degrade
        readiness, and its fields (``mutations_read`` while the reading is unsound,
        ``mutations`` while one fails, else ``mutations_pending`` while parts are left)."""
        reading = self._read.reading()
        fields: dict[str, str] = {}
        if (unread := reading_problem(reading)) is not None:
            fields["mutations_read"] = unread
        if (failing := failures(reading.value)) is not None:
            fields["mutations"] = failing
        elif (left := pending_parts(reading.value)) is not None:
            fields["mutations_pending"] = left
        return bool(unread or failing), fields

    def describe(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """The families without samples: registering reads nothing."""
        return self._families(None)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        return self._families(self._read.reading())

    def _families(
        self, reading: Reading[tuple[Mutation, ...]] | None
    ) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        mutations = reading.value if reading is not None else ()
        parts = GaugeMetricFamily(
            "syncsight_warehouse_mutation_parts_to_do",
            "Parts the engine's unfinished mutations of a table have still to rewrite (a changed "
            "retention's rewrite of stored parts, or an operator's ALTER); absent once none is "
            "left.",
            labels=["table"],
        )
        failing = GaugeMetricFamily(
            "syncsight_warehouse_mutations_failing",
            "Unfinished mutations of a table whose last attempt failed (the engine retries them "
            "and later mutations of the table wait behind them; /readyz says which and why).",
            labels=["table"],
        )
        left = parts_left(mutations)
        failed = Counter(mutation.table for mutation in mutations if mutation.failing)
        for table in sorted(left):
            parts.add_metric([table], left[table])
            failing.add_metric([table], failed[table])
        errors = CounterMetricFamily(
            "syncsight_warehouse_mutations_read_errors",
            "Reads of system.mutations that failed (the gauges keep the last reading meanwhile).",
        )
        errors.add_metric([], self._read.errors())
        yield parts
        yield failing
        age = GaugeMetricFamily(
            "syncsight_warehouse_mutations_reading_age_seconds",
            "Seconds since system.mutations was last read (at most every 10 s, while probes or "
            "scrapes come); it grows while reads fail or hang, and the gauges above are as old.",
        )
        if reading is not None:
            age.add_metric([], reading.age)
        yield errors
        yield age

    def render(self) -> bytes:
        return generate_latest(self.registry)
