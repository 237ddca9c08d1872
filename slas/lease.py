"""Which ``serve`` process evaluates and notifies: a lease kept in ClickHouse.

Every process that may evaluate writes a heartbeat row each interval, and every quarter of the ttl
while it works on a tick (``Heartbeat``). The holder is the live
candidate (heartbeat younger than ``ttl``) that has been a candidate longest (ties: the smaller
holder id), so a replica that starts later never takes over from a running one, and when the
holder stops heartbeating the next-oldest candidate takes over once its heartbeat is ``ttl`` old
(two intervals by default). ClickHouse has no compare-and-set: two processes decide alike from the
same rows, and on a cluster the rows replicate within seconds, so a hand-over may overlap by a
replication delay; alert state is shared (``sla_alert_state``), so the overlap resends nothing
that was already recorded as delivered.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from domain.instants import EPOCH
from warehouse.schema import EVALUATOR_LEASE

logger = logging.getLogger(__name__)

EVALUATOR = "sla-evaluator"

HOLDER = f"""
SELECT Holder
FROM {EVALUATOR_LEASE} FINAL
WHERE Name = {{name:String}} AND Heartbeat >= {{since:DateTime64(3, 'UTC')}}
ORDER BY Since, Holder
LIMIT 1
"""


def holder_id() -> str:
    """This process among the replicas: host, pid and a random suffix (pids repeat in containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """``hold(now)`` heartbeats and says whether this process holds the lease."""

    def __init__(
        self,
        client: Callable[[], Client],
        *,
        ttl: timedelta,
        name: str = EVALUATOR,
        holder: str | None = None,
    ) -> None:
        self._client = client
        self.ttl = ttl
        self.name = name
        self.holder = holder or holder_id()
        self._since: datetime | None = None

    def hold(self, now: datetime) -> bool:
        """Heartbeat, and say whether this process holds the lease at ``now``."""
        self.beat(now)
        return self.current(now) == self.holder

    def beat(self, now: datetime) -> None:
        """Write this candidate's heartbeat (a candidate since its first)."""
        self._since = self._since or now
        self._client().insert(
            EVALUATOR_LEASE,
            [[self.name, self.holder, self._since, now]],
            column_names=["Name", "Holder", "Since", "Heartbeat"],
        )

    def current(self, now: datetime) -> str | None:
        """The holder at ``now``, if any candidate is alive."""
        rows = (
            self._client()
            .query(HOLDER, parameters={"name": self.name, "since": now - self.ttl})
            .result_rows
        )
        return str(rows[0][0]) if rows else None

    def release(self) -> None:
        """Step down at once (a clean stop): the next candidate need not wait for the ttl (the
        latest row written wins, and this one's heartbeat is long past)."""
        if self._since is None:
            return
        self._client().insert(
            EVALUATOR_LEASE,
            [[self.name, self.holder, self._since, EPOCH]],
            column_names=["Name", "Holder", "Since", "Heartbeat"],
        )


class Heartbeat:
    """Keeps a lease's heartbeat fresh while its holder works: a tick that lasts longer than the
    ttl (a backfill, a slow engine) must not hand the lease to another replica halfway, which
    would then evaluate beside it. One thread for the process's life (its client is its own);
    it beats every quarter of the ttl, but only inside ``working``, so an idle process writes
    no more heartbeats than its ticks do."""

    def __init__(
        self,
        lease: Lease,
        clock: Callable[[], datetime],
        failed: Callable[[], object] = lambda: None,
    ) -> None:
        self._lease = lease
        self._clock = clock
        self._failed = failed
        """Called at each failed beat (the evaluator counts them in ``/metrics``)."""
        self._every = lease.ttl.total_seconds() / 4
        self._working = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @contextmanager
    def working(self) -> Iterator[None]:
        """Beat while the body runs (from the next quarter of the ttl on)."""
        self._working.set()
        try:
            yield
        finally:
            self._working.clear()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            if not self._working.is_set():
                continue
            try:
                self._lease.beat(self._clock())
            except Exception:  # the tick's own hold() fails the same way and reports it
                self.failures += 1
                self._failed()
                logger.warning("the evaluator lease's heartbeat failed", exc_info=True)
