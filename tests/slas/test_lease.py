"""The evaluator lease on the real engine: one holder among candidates, the oldest; a new replica
never takes over from a live holder; a holder that stops is replaced within the ttl."""

from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from slas.lease import Heartbeat, Lease

TTL = timedelta(seconds=30)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def replica(client: Client, name: str) -> Lease:
    return Lease(lambda: client, ttl=TTL, holder=name)


class TestLease:
    def test_exactly_one_of_two_replicas_holds_it(self, migrated: Client) -> None:
        """Both heartbeat every interval; only the first candidate evaluates, every time."""
        first, second = replica(migrated, "b-first"), replica(migrated, "a-second")
        held = []
        for tick in range(4):
            now = T0 + tick * TTL / 2
            held.append((first.hold(now), second.hold(now + timedelta(seconds=1))))
        assert held == [(True, False)] * 4

    def test_a_holder_that_stops_is_replaced_within_the_ttl(self, migrated: Client) -> None:
        """The holder's last heartbeat ages out; the other replica takes over, not before."""
        first, second = replica(migrated, "first"), replica(migrated, "second")
        assert first.hold(T0)
        assert not second.hold(T0 + timedelta(seconds=1))
        assert not second.hold(T0 + TTL - timedelta(seconds=1))
        assert second.hold(T0 + TTL + timedelta(seconds=1))

    def test_a_clean_stop_hands_over_at_once(self, migrated: Client) -> None:
        """Releasing steps down without waiting for the ttl."""
        first, second = replica(migrated, "first"), replica(migrated, "second")
        assert first.hold(T0)
        assert not second.hold(T0 + timedelta(seconds=1))
        first.release()
        assert second.hold(T0 + timedelta(seconds=2))
        assert second.current(T0 + timedelta(seconds=3)) == "second"


class TestHeartbeat:
    def long_tick(self, holder: Lease, other: Lease, heartbeat: Heartbeat | None) -> list[bool]:
        """The holder takes the lease, then works for three ttls without calling ``hold``
        (one long tick), the other replica asking every tenth of a second; what it was told."""
        assert holder.hold(datetime.now(UTC))
        told = []
        with heartbeat.working() if heartbeat else nullcontext():
            deadline = time.monotonic() + 3 * holder.ttl.total_seconds()
            while time.monotonic() < deadline:
                told.append(other.hold(datetime.now(UTC)))
                time.sleep(0.1)
        return told

    def test_a_tick_longer_than_the_ttl_keeps_the_lease(self, migrated: Client) -> None:
        """Beating while it works, the holder keeps the lease through a tick three ttls long;
        after its tick, beating no more (it died), it is replaced within the ttl."""
        ttl = timedelta(seconds=1)
        holder = Lease(lambda: migrated, ttl=ttl, holder="holder")
        other = Lease(lambda: migrated, ttl=ttl, holder="other")
        heartbeat = Heartbeat(holder, lambda: datetime.now(UTC))
        heartbeat.start()
        try:
            told = self.long_tick(holder, other, heartbeat)
        finally:
            heartbeat.stop()
        assert len(told) > 10
        assert not any(told)
        assert heartbeat.failures == 0
        time.sleep(ttl.total_seconds() + 0.2)
        assert other.hold(datetime.now(UTC))

    def test_without_it_a_long_tick_hands_the_lease_over_midway(self, migrated: Client) -> None:
        """What the heartbeat prevents: the other replica takes over during the tick."""
        ttl = timedelta(seconds=1)
        holder = Lease(lambda: migrated, ttl=ttl, holder="holder")
        other = Lease(lambda: migrated, ttl=ttl, holder="other")
        assert any(self.long_tick(holder, other, None))

    def test_a_failing_heartbeat_is_counted_and_the_thread_goes_on(self) -> None:
        """ClickHouse refusing the heartbeat: each failure reaches the callback (the evaluator's
        ``/metrics`` counter) and the thread keeps beating."""

        class Refusing:
            def insert(self, *_: object, **__: object) -> None:
                raise OSError("engine unavailable")

        counted: list[int] = []
        lease = Lease(lambda: Refusing(), ttl=timedelta(seconds=0.4), holder="holder")  # type: ignore[arg-type, return-value]
        heartbeat = Heartbeat(lease, lambda: datetime.now(UTC), lambda: counted.append(1))
        heartbeat.start()
        try:
            with heartbeat.working():
                time.sleep(0.8)
        finally:
            heartbeat.stop()
        assert heartbeat.failures >= 3
        assert len(counted) == heartbeat.failures
