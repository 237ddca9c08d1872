"""The background read behind ``/readyz`` and ``/metrics`` (``warehouse.refreshed``): every read
runs on one thread, so a per-thread client is opened once, not at every read."""

from __future__ import annotations

import threading

from warehouse.refreshed import Refreshed


def test_every_read_runs_on_the_same_thread() -> None:
    threads: list[int] = []

    def read() -> int:
        threads.append(threading.get_ident())
        return len(threads)

    value = Refreshed(read, 0, name="test-read", every=0)
    for _ in range(5):
        value.reading()
        assert value.wait(10)
    assert value.reading().value == 5
    assert value.wait(10)
    assert len(threads) == 6
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()
