"""Which ``serve`` process evaluates and notifies: a lease kept in ClickHouse.

Every process that may evaluate writes a heartbeat row each interval. The holder is the live
candidate (heartbeat younger than ``ttl``) that has been a candidate longest (ties: the smaller
holder id), so a replica that starts later never takes over from a running one, and when the
holder stops heartbeating the next-oldest candidate takes over once its heartbeat is ``ttl`` old
(two intervals by default). ClickHouse has no compare-and-set: two processes decide alike from the
same rows, and on a cluster the rows replicate within seconds, so a hand-over may overlap by a
replication delay; alert state is shared (``sla_alert_state``), so the overlap resends nothing
that was already recorded as delivered.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from warehouse.schema import EVALUATOR_LEASE

EVALUATOR = "sla-evaluator"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

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
        client = self._client()
        self._since = self._since or now
        client.insert(
            EVALUATOR_LEASE,
            [[self.name, self.holder, self._since, now]],
            column_names=["Name", "Holder", "Since", "Heartbeat"],
        )
        return self.current(now) == self.holder

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
            [[self.name, self.holder, self._since, _EPOCH]],
            column_names=["Name", "Holder", "Since", "Heartbeat"],
        )
