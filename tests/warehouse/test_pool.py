"""ClientPool with read limits: the API's reads are bounded, other clients of the engine are not;
ReadAside reads on a thread of its own with that thread's client, or else on the caller's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TypeVar

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from warehouse.background import BACKGROUND_NICE, yield_to_foreground
from warehouse.client import ReadLimits
from warehouse.pool import ANSWER_READ_THREADS, ANSWER_READERS, ClientPool, ReadAside

T = TypeVar("T")
TIGHT = ReadLimits(max_execution_seconds=30, max_memory_bytes=1024**3, max_result_rows=5)


class TestReadLimits:
    def test_a_read_over_the_row_limit_fails_naming_it(
        self, engine_url: str, database: str
    ) -> None:
        """max_result_rows with result_overflow_mode=throw refuses the answer, not truncates it."""
        limited = ClientPool(engine_url, database=database, read_limits=TIGHT)
        try:
            assert limited.client().query("SELECT number FROM numbers(5)").row_count == 5
            with pytest.raises(DatabaseError, match="TOO_MANY_ROWS_OR_BYTES"):
                limited.client().query("SELECT number FROM numbers(6)")
        finally:
            limited.close()

    def test_a_pool_without_limits_is_not_bounded_by_another_pools_limits(
        self, engine_url: str, database: str
    ) -> None:
        """The limits are per client: the writer's and evaluator's clients never get them."""
        limited = ClientPool(engine_url, database=database, read_limits=TIGHT)
        unlimited = ClientPool(engine_url, database=database)
        try:
            limited.client()
            assert unlimited.client().query("SELECT number FROM numbers(100)").row_count == 100
        finally:
            limited.close()
            unlimited.close()


def _query_on_a_thread_of_its_own(pool: ClientPool) -> None:
    worker = threading.Thread(target=lambda: pool.client().query("SELECT 1"))
    worker.start()
    worker.join()


class TestClientsOfEndedThreads:
    def test_clients_of_ended_threads_are_closed_when_a_new_thread_asks(
        self, engine_url: str, database: str
    ) -> None:
        """Worker threads come and go (the request pool's idle ones end); the pool holds the
        clients of the threads still running, not one for every thread it ever served."""
        pool = ClientPool(engine_url, database=database)
        try:
            pool.client()
            for _ in range(20):
                _query_on_a_thread_of_its_own(pool)
            assert pool.open_clients() == 2  # this thread's and the last worker's
        finally:
            pool.close()

    def test_a_running_threads_client_stays_open_and_answers(
        self, engine_url: str, database: str
    ) -> None:
        """Closing ended threads' clients never touches the client of a thread still running."""
        pool = ClientPool(engine_url, database=database)
        try:
            own = pool.client()
            for _ in range(3):
                _query_on_a_thread_of_its_own(pool)
            assert pool.client() is own
            assert own.query("SELECT 42").result_rows == [(42,)]
        finally:
            pool.close()


@pytest.fixture
def pool(engine_url: str, database: str) -> Iterator[ClientPool]:
    """Clients of the test's database, closed after the test."""
    opened = ClientPool(engine_url, database=database)
    yield opened
    opened.close()


def _on_thread(threads: list[threading.Thread], started: threading.Event, result: T) -> T:
    """``result``, the thread that computed it recorded, ``started`` set."""
    threads.append(threading.current_thread())
    started.set()
    return result


class TestReadAside:
    def test_the_read_runs_on_a_thread_of_its_own_with_that_threads_client(
        self, pool: ClientPool
    ) -> None:
        """The caller keeps its client for its own reads; the read aside asks the factory on
        its thread and gets another."""
        own = pool.client()
        started, threads = threading.Event(), list[threading.Thread]()
        aside = ReadAside(
            pool.client,
            own,
            lambda c: _on_thread(threads, started, (c is own, c.query("SELECT 7").result_rows)),
        )
        assert started.wait(30)
        assert aside.result() == (False, [(7,)])
        assert threads[0] is not threading.current_thread()

    def test_a_read_that_fails_raises_its_error_on_the_callers_thread(
        self, pool: ClientPool
    ) -> None:
        """An answer whose read aside failed fails with the engine's error, not a hang or a
        silent empty result."""
        aside = ReadAside(
            pool.client, pool.client(), lambda c: c.query("SELECT * FROM no_such_table")
        )
        with pytest.raises(DatabaseError, match="UNKNOWN_TABLE"):
            aside.result()

    def test_a_client_shared_by_every_thread_reads_on_the_callers_thread(
        self, pool: ClientPool
    ) -> None:
        """A factory that gives every thread the caller's client (tests, benchmarks) never runs
        two queries on it at once: the caller reads when it asks for the result."""
        shared = pool.client()
        threads: list[threading.Thread] = []
        aside = ReadAside(
            lambda: shared,
            shared,
            lambda c: _on_thread(threads, threading.Event(), c.query("SELECT 8").result_rows),
        )
        assert aside.result() == [(8,)]
        assert threads == [threading.current_thread()]

    def test_a_read_no_thread_has_started_runs_on_the_callers_thread(
        self, pool: ClientPool
    ) -> None:
        """While other answers' reads hold every thread, the caller reads itself rather than
        queue behind them."""
        release = threading.Event()
        busy = [ANSWER_READERS.submit(release.wait, 60) for _ in range(ANSWER_READ_THREADS)]
        try:
            threads: list[threading.Thread] = []
            aside = ReadAside(
                pool.client,
                pool.client(),
                lambda c: _on_thread(threads, threading.Event(), c.query("SELECT 9").result_rows),
            )
            assert aside.result() == [(9,)]
            assert threads == [threading.current_thread()]
        finally:
            release.set()
            for done in busy:
                done.result()

    def test_the_read_runs_at_the_callers_engine_priority(self, pool: ClientPool) -> None:
        """The evaluator's reads aside stay background work, and the next foreground caller's
        read on the same thread is not lowered by them."""
        priority = "SELECT getSetting('os_thread_priority')"
        own = pool.client()
        yield_to_foreground(own)
        read = ReadAside(pool.client, own, lambda c: c.query(priority).result_rows[0][0])
        assert read.result() == BACKGROUND_NICE
        own.set_client_setting("os_thread_priority", 0)
        read = ReadAside(pool.client, own, lambda c: c.query(priority).result_rows[0][0])
        assert read.result() == 0
