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


class TestAFailedClientIsDropped:
    def test_after_a_read_cut_short_mid_stream_the_thread_s_next_client_answers_right(
        self, engine_url: str, database: str
    ) -> None:
        """Found serving the medium quarter: after /lineage/completeness hit its time limit (503),
        the next request on that worker failed at its first query (500: StreamFailureError or
        MemoryError), reading the rest of the cut read. The pool drops the client whose query
        failed; the thread then reads with a new client, and its answer is its own."""
        limited = ClientPool(engine_url, database=database, read_limits=SHORT)
        try:
            cut = limited.client()
            with pytest.raises(DatabaseError, match="TIMEOUT_EXCEEDED"):
                cut.query(SLOW_STREAM)
            renewed = limited.client()
            assert renewed is not cut
            assert limited.open_clients() == 1
            rows = renewed.query("SELECT toString(number)::LowCardinality(String) FROM numbers(3)")
            assert rows.result_rows == [("0",), ("1",), ("2",)]
            assert limited.client() is renewed, "a client that answers is kept"
        finally:
            limited.close()

    @pytest.mark.parametrize("call", ["query", "command", "query_arrow", "insert"])
    def test_every_way_into_the_engine_drops_the_client_it_failed(
        self, engine_url: str, database: str, call: str
    ) -> None:
        """Queries, commands, Arrow reads and inserts alike: a failure through any of them."""
        pool = ClientPool(engine_url, database=database)
        failing = {
            "query": lambda c: c.query("SELECT throwIf(1)"),
            "command": lambda c: c.command("SELECT throwIf(1)"),
            "query_arrow": lambda c: c.query_arrow("SELECT throwIf(1)"),
            "insert": lambda c: c.insert("no_such_table", [[1]], column_names=["x"]),
        }[call]
        try:
            own = pool.client()
            with pytest.raises(DatabaseError):
                failing(own)
            assert pool.client() is not own
        finally:
            pool.close()

    def test_another_thread_s_client_survives_a_failure_on_this_one(
        self, engine_url: str, database: str
    ) -> None:
        """The engine error of one request poisons only the client it was read with: another
        thread's client (the evaluator's, another request's) is neither renewed nor closed, and
        answers on. (The service renewed every thread's client on any engine error before.)"""
        pool = ClientPool(engine_url, database=database, read_limits=SHORT)
        seen: list[object] = []
        asked, failed, done = threading.Event(), threading.Event(), threading.Event()

        def worker() -> None:
            seen.append(pool.client())
            asked.set()
            failed.wait(30)
            seen.append(pool.client())
            seen.append(pool.client().query("SELECT 42").result_rows)
            done.set()

        thread = threading.Thread(target=worker)
        try:
            thread.start()
            asked.wait(30)
            mine = pool.client()
            with pytest.raises(DatabaseError, match="TIMEOUT_EXCEEDED"):
                mine.query(SLOW_STREAM)
            assert pool.client() is not mine
            assert pool.open_clients() == 2, "this thread's new client and the other's"
            failed.set()
            done.wait(30)
            assert seen[1] is seen[0], "the other thread keeps its client"
            assert seen[2] == [(42,)]
        finally:
            thread.join(30)
            pool.close()
