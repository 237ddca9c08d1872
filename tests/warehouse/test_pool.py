"""ClientPool with read limits: the API's reads are bounded, other clients of the engine are not."""

from __future__ import annotations

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
