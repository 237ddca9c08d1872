"""ClientPool with read limits: the API's reads are bounded, other clients of the engine are not."""

from __future__ import annotations

import threading

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from warehouse.client import ReadLimits
from warehouse.pool import ClientPool

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


SLOW_STREAM = (
    "SELECT number, toString(number % 7)::LowCardinality(String) FROM numbers(100000) "
    "WHERE NOT ignore(sleepEachRow(0.001)) SETTINGS max_block_size = 50"
)
"""Blocks of 50 rows, each 50 ms apart: several have streamed when a 0.5 s limit stops it."""
SHORT = ReadLimits(max_execution_seconds=0.5, max_memory_bytes=1024**3, max_result_rows=10**6)


class TestRenew:
    def test_after_a_read_cut_short_mid_stream_a_renewed_pool_answers_right(
        self, engine_url: str, database: str
    ) -> None:
        """Found serving the medium quarter: after /lineage/completeness hit its time limit (503),
        the next request on that worker failed at its first query (500: StreamFailureError or
        MemoryError), reading the rest of the cut read. The service renews its pools on such an
        error; the thread then reads with a new client, and its answer is its own."""
        limited = ClientPool(engine_url, database=database, read_limits=SHORT)
        try:
            cut = limited.client()
            with pytest.raises(DatabaseError, match="TIMEOUT_EXCEEDED"):
                cut.query(SLOW_STREAM)
            limited.renew()
            renewed = limited.client()
            assert renewed is not cut
            assert limited.open_clients() == 1
            rows = renewed.query("SELECT toString(number)::LowCardinality(String) FROM numbers(3)")
            assert rows.result_rows == [("0",), ("1",), ("2",)]
        finally:
            limited.close()

    def test_renewing_reaches_every_thread_at_its_next_ask(
        self, engine_url: str, database: str
    ) -> None:
        """A thread that asks after the renewal gets a new client; until it asks it keeps its own."""
        pool = ClientPool(engine_url, database=database)
        seen: list[object] = []
        asked, renewed, done = threading.Event(), threading.Event(), threading.Event()

        def worker() -> None:
            seen.append(pool.client())
            asked.set()
            renewed.wait(30)
            seen.append(pool.client())
            seen.append(pool.client())
            done.set()

        thread = threading.Thread(target=worker)
        try:
            thread.start()
            asked.wait(30)
            mine = pool.client()
            pool.renew()
            renewed.set()
            done.wait(30)
            assert seen[1] is not seen[0]
            assert seen[2] is seen[1]
            assert pool.client() is not mine
        finally:
            thread.join(30)
            pool.close()
