"""The background loop: its own thread, its queries at lower CPU priority, paced by its step,
stopped at once."""

from __future__ import annotations

import os
import threading

from clickhouse_connect.driver.client import Client

from warehouse.background import BACKGROUND_NICE, BackgroundLoop


def test_the_loop_runs_its_step_with_niced_queries_until_stopped(client: Client) -> None:
    """Each call runs on the loop's thread, its queries ask the engine for nice
    ``BACKGROUND_NICE``, the Python thread itself keeps the process's priority (the engine puts
    the calling thread back to it after every query: a lowered Python thread would not stay
    lowered), the wait between calls is what the step returns, and ``stop`` ends a long wait at
    once."""
    calls: list[tuple[str, int, str]] = []
    third_call = threading.Event()

    def step() -> float:
        priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        (setting,) = client.query("SELECT getSetting('os_thread_priority')").result_rows[0]
        calls.append((threading.current_thread().name, priority, str(setting)))
        if len(calls) == 3:
            third_call.set()
            return 3600.0  # the next call would be an hour away
        return 0.0

    loop = BackgroundLoop("test-loop", lambda: client, step)
    loop.start()
    assert third_call.wait(30)
    stopping = threading.Thread(target=loop.stop)
    stopping.start()
    stopping.join(10)

    assert not stopping.is_alive()
    assert calls == [("test-loop", os.nice(0), str(BACKGROUND_NICE))] * 3


def test_the_loop_trims_the_c_heap_before_it_waits_not_while_it_catches_up(
    client: Client,
) -> None:
    """A step that asks to run again at once (a window cut short) is not followed by a trim; one
    that rests is, before its wait."""
    events: list[str] = []
    waits = iter([0.0, 0.0, 3600.0])
    resting = threading.Event()

    def step() -> float:
        events.append("step")
        return next(waits)

    def trim() -> None:
        events.append("trim")
        resting.set()

    loop = BackgroundLoop("test-trim", lambda: client, step, trim=trim)
    loop.start()
    assert resting.wait(30)
    loop.stop()

    assert events == ["step", "step", "step", "trim"]
