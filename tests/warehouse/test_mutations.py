"""The engine's unfinished mutations as the service reports them, on the real engine: a mutation
that fails on every part (an ``UPDATE`` whose expression throws) degrades ``/readyz`` with the
engine's reason and shows in ``/metrics``; one that merely waits (merges stopped) is reported as
parts left; killed, both are gone; a probe in between reads nothing; a read that fails keeps the
last reading; a read that hangs holds no probe."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from tests.service import asgi_client, in_process_app
from warehouse.mutations import NAMED_FAILURES, MutationWatch, unfinished_mutations

FAILING_UPDATE = (
    "ALTER TABLE {table} UPDATE v = toString(throwIf(k >= 0, 'no such luck')) WHERE 1 "
    "SETTINGS mutations_sync = 0"
)


def doom(client: Client, *tables: str) -> None:
    """Two-part tables whose mutation fails on every part, once the engine has tried each."""
    for table in tables:
        client.command(f"CREATE TABLE {table} (k UInt64, v String) ENGINE = MergeTree ORDER BY k")
        client.command(f"INSERT INTO {table} SELECT number, toString(number) FROM numbers(100)")
        client.command(f"INSERT INTO {table} SELECT number, toString(number) FROM numbers(100)")
        client.command(FAILING_UPDATE.format(table=table))
    deadline = time.monotonic() + 60
    while sum(mutation.failing for mutation in unfinished_mutations(client)) < len(tables):
        assert time.monotonic() < deadline, "the engine never tried the mutations"
        time.sleep(0.1)


@pytest.fixture
def doomed(client: Client) -> Iterator[Client]:
    """A table whose mutation fails on every part."""
    doom(client, "doomed")
    yield client
    client.command("KILL MUTATION WHERE database = currentDatabase() AND table = 'doomed'")


def fresh(watch: MutationWatch) -> MutationWatch:
    """``watch`` once a read started now has completed (the next question gets its reading)."""
    assert watch.wait(30)
    watch.mutations()
    assert watch.wait(30)
    return watch


def metric(text: str, name: str) -> dict[str, float]:
    """Label text → value of every sample of ``name``."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, value = line[len(name) :].rsplit(" ", 1)
            found[labels] = float(value)
    return found


class TestMutationWatch:
    def test_a_failing_mutation_is_named_with_the_engines_reason(self, doomed: Client) -> None:
        watch = fresh(MutationWatch(lambda: doomed, every=0))
        problem = watch.problem()
        assert problem is not None
        assert "of doomed" in problem
        assert "no such luck" in problem
        assert "UPDATE v" in problem
        rendered = watch.render().decode()
        assert metric(rendered, "syncsight_warehouse_mutations_failing") == {'{table="doomed"}': 1}
        assert metric(rendered, "syncsight_warehouse_mutation_parts_to_do") == {
            '{table="doomed"}': 2
        }
        doomed.command("KILL MUTATION WHERE database = currentDatabase() AND table = 'doomed'")
        fresh(watch)
        assert watch.problem() is None
        assert watch.pending() is None
        rendered = watch.render().decode()
        assert metric(rendered, "syncsight_warehouse_mutations_failing") == {}

    def test_many_failing_mutations_are_named_three_and_counted(self, client: Client) -> None:
        """An operator's loop of failing ALTERs does not make the probe's answer unbounded."""
        doom(client, "doomed_a", "doomed_b", "doomed_c", "doomed_d")
        try:
            problem = fresh(MutationWatch(lambda: client, every=0)).problem()
            assert problem is not None
            assert problem.count(" of doomed_") == NAMED_FAILURES
            assert problem.endswith("and 1 more failing mutation(s)")
        finally:
            client.command("KILL MUTATION WHERE database = currentDatabase()")

    def test_a_waiting_mutation_is_parts_left_not_a_problem(self, client: Client) -> None:
        client.command("CREATE TABLE slow (k UInt64) ENGINE = MergeTree ORDER BY k")
        client.command("INSERT INTO slow SELECT number FROM numbers(10)")
        client.command("SYSTEM STOP MERGES slow")
        try:
            client.command("ALTER TABLE slow DELETE WHERE k = 3 SETTINGS mutations_sync = 0")
            watch = fresh(MutationWatch(lambda: client, every=0))
            assert watch.problem() is None
            assert watch.pending() == "slow: 1 part(s) left"
            assert watch.readiness() == (False, {"mutations_pending": "slow: 1 part(s) left"})
        finally:
            client.command("SYSTEM START MERGES slow")
        deadline = time.monotonic() + 60
        while fresh(watch).pending() is not None:
            assert time.monotonic() < deadline, "the mutation never finished"
            time.sleep(0.1)

    def test_reads_at_most_once_an_interval(self, doomed: Client) -> None:
        now = [0.0]
        reads = []

        def counted() -> Client:
            reads.append(now[0])
            return doomed

        watch = MutationWatch(counted, every=10, clock=lambda: now[0])
        assert watch.problem() is None, "nothing is read in the probe itself"
        assert watch.wait(30)
        assert watch.problem() is not None
        doomed.command("KILL MUTATION WHERE database = currentDatabase() AND table = 'doomed'")
        now[0] = 9.9
        assert watch.problem() is not None, "the last reading is served until it is due"
        assert watch.wait(30)
        now[0] = 10.0
        assert watch.problem() is not None, "served while the read it started runs"
        assert watch.wait(30)
        assert watch.problem() is None
        assert reads == [0.0, 10.0]

    def test_a_failed_read_keeps_the_last_reading_and_is_counted(self, doomed: Client) -> None:
        broken = [False]

        def client() -> Client:
            if broken[0]:
                raise ConnectionError("engine away")
            return doomed

        now = [0.0]  # reads only when the test moves the clock: a scrape adds none of its own
        watch = MutationWatch(client, every=10, clock=lambda: now[0])
        watch.problem()
        assert watch.wait(30)
        assert watch.problem() is not None
        broken[0] = True
        for moment in (10.0, 20.0):
            now[0] = moment
            watch.problem()  # starts a read, which fails
            assert watch.wait(30)
            assert watch.problem() is not None, "the last reading is kept"
            unread = watch.read_problem()
            assert unread is not None
            assert "engine away" in unread, unread
            assert f"of {moment:.0f} s ago" in unread, "the kept reading's age is said"
        rendered = watch.render().decode()
        assert metric(rendered, "syncsight_warehouse_mutations_read_errors_total") == {"": 2}
        assert metric(rendered, "syncsight_warehouse_mutations_reading_age_seconds") == {"": 20}
        broken[0] = False
        now[0] = 30.0
        watch.problem()
        assert watch.wait(30)
        assert watch.read_problem() is None, "a read that succeeds again clears it"

    def test_a_hung_read_holds_no_probe_or_scrape(self, doomed: Client) -> None:
        """An engine that does not answer (here: a client that blocks) delays neither a probe
        nor a scrape: both get the last reading at once; the read is asked for once."""
        fresh_reading = fresh(MutationWatch(lambda: doomed, every=0)).problem()
        release = threading.Event()
        calls = []

        def hanging() -> Client:
            calls.append(1)
            release.wait(30)
            return doomed

        watch = MutationWatch(hanging, every=0)
        watch.problem()  # starts the read (on the watch's own thread), which now hangs
        deadline = time.monotonic() + 30
        while not calls:
            assert time.monotonic() < deadline, "the read never began"
            time.sleep(0.01)
        started = time.monotonic()
        answers = [watch.problem() for _ in range(5)] + [watch.render().decode()]
        assert time.monotonic() - started < 1.0
        assert answers[:5] == [None] * 5, "nothing read yet: nothing to report"
        assert watch.read_problem() is None, "not yet overdue"
        assert len(calls) == 1
        release.set()
        assert watch.wait(30)
        assert watch.problem() == fresh_reading
        assert watch.wait(30), "the read that answer started ends before the database goes"


def test_an_overdue_read_is_a_problem_until_it_ends(doomed: Client) -> None:
    """A read of system.mutations that hangs past ``stale_after`` is said (the mutations shown
    are as old as the last read that ended); once it returns, the reading is sound again."""
    now = [0.0]
    release = threading.Event()
    started = threading.Event()

    def hanging() -> Client:
        started.set()
        release.wait(30)
        return doomed

    watch = MutationWatch(hanging, every=10, stale_after=60, clock=lambda: now[0])
    watch.problem()  # starts the read, which hangs
    assert started.wait(30)
    now[0] = 59.0
    assert watch.read_problem() is None
    now[0] = 61.0
    unread = watch.read_problem()
    assert unread is not None
    assert "a read has run for 61 s" in unread, unread
    assert watch.readiness() == (True, {"mutations_read": unread}), "degraded: nothing is known"
    release.set()
    assert watch.wait(30)
    assert watch.read_problem() is None
    assert watch.problem() is not None, "the read that ended brought the failing mutation"
    assert watch.readiness() == (True, {"mutations": watch.problem()})


def test_the_service_reports_a_failing_mutation(
    chdb_url: str, database: str, doomed: Client, tmp_path: Path
) -> None:
    """Through the service's own endpoints: degraded (200) naming the mutation, the gauge set."""
    app = in_process_app(chdb_url, database, tmp_path, evaluator="off")

    async def scenario() -> None:
        async with asgi_client(app) as api:
            deadline = time.monotonic() + 30  # the first probe starts the read, a later one says
            while (ready := await api.get("/readyz")).json()["status"] != "degraded":
                assert ready.status_code == 200
                assert time.monotonic() < deadline, ready.json()
                await asyncio.sleep(0.05)
            assert ready.status_code == 200
            assert "no such luck" in ready.json()["mutations"]
            metrics = (await api.get("/metrics")).text
            assert metric(metrics, "syncsight_warehouse_mutations_failing") == {
                '{table="doomed"}': 1
            }

    asyncio.run(scenario())
