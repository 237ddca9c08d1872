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


def test_a_readings_age_counts_from_when_the_read_was_asked_for() -> None:
    """The value is as old as the moment its read was asked for, not the later moment its
    thread began it: here that thread's clock runs 10 s ahead, and the served age stays 0 (a
    scrape right after a hung count saw 0.4997 s where 0.5 had passed since it asked)."""

    def clock() -> float:
        return 10.0 if threading.current_thread().name == "test-read" else 0.0

    value = Refreshed(lambda: 7, 0, name="test-read", every=60, clock=clock)
    value.reading()
    assert value.wait(10)
    served = value.reading()
    assert served.value == 7
    assert served.age == 0.0
