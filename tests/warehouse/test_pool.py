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
