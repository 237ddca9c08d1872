"""How a traversal runs its reads: one after another on one client, or side by side.

Each point read costs the engine a few milliseconds of CPU whatever it returns, and a lineage is a
chain of them, so its latency is the length of that chain. ``ParallelReads`` shortens the chain on
a machine with spare cores: the reads of one level run side by side, and the reads that complete
nodes in full run behind the next level's read. Every worker thread has its own client (chdb
serialises the calls on one client).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from clickhouse_connect.driver.client import Client

from warehouse.pool import ClientPool

T = TypeVar("T")
Read = Callable[[Client], T]
"""One read: given a client, return what it read."""


class SerialReads:
    """Every read at once, on the caller's thread and client."""

    width = 1

    def __init__(self, client: Client) -> None:
        self._client = client

    def submit(self, read: Read[T]) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(read(self._client))
        return future

    def gather(self, reads: Sequence[Read[T]]) -> list[T]:
        return [read(self._client) for read in reads]


class ParallelReads:
    """Reads on ``workers`` threads beside the caller's own: ``gather`` runs one read on the
    caller's thread, so a traversal always makes progress even when the workers are busy."""

    def __init__(self, pool: ClientPool, *, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._pool = pool
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="lineage-read")
        self.width = workers + 1

    def submit(self, read: Read[T]) -> Future[T]:
        return self._executor.submit(self._run, read)

    def gather(self, reads: Sequence[Read[T]]) -> list[T]:
        if not reads:
            return []
        *others, last = reads
        futures = [self.submit(read) for read in others]
        mine = self._run(last)
        return [future.result() for future in futures] + [mine]

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _run(self, read: Read[T]) -> T:
        return read(self._pool.client())


Reads = SerialReads | ParallelReads
