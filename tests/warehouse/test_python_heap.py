"""The long-lived Python objects frozen out of full collections (``warehouse.python_heap``)."""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service import asgi_client, in_process_app
from warehouse.python_heap import HeapFreezer, collection_paused, refreeze


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """Whatever a test froze goes back to the collector (the pytest process is shared)."""
    yield
    gc.unfreeze()


class _Node:
    """A tracked object that can hold itself in a cycle."""

    def __init__(self) -> None:
        self.me: _Node | None = None


def _ids_in_full_collections() -> set[int]:
    """The ids of the objects a full collection walks (every generation, not the frozen)."""
    return {id(o) for generation in range(3) for o in gc.get_objects(generation)}


def test_refreeze_takes_the_live_objects_out_of_full_collections() -> None:
    """What is alive at a refreeze is no longer walked by any collection; what is made after is."""
    held = [[i] for i in range(20_000)]
    assert id(held[123]) in _ids_in_full_collections()

    done = refreeze(collect=False)

    walked = _ids_in_full_collections()
    assert id(held[123]) not in walked
    assert id(held) not in walked
    assert done.frozen == gc.get_freeze_count() >= 20_000
    later = [0]
    assert id(later) in _ids_in_full_collections()


def test_a_frozen_cycle_waits_for_a_collecting_refreeze() -> None:
    """A garbage cycle among frozen objects is found neither by collections nor by a freeze that
    does not collect, and is by a collecting refreeze (which unfreezes before it collects):
    nothing frozen leaks past it."""
    node = _Node()
    node.me = node
    gone = weakref.ref(node)
    refreeze(collect=False)
    del node

    gc.collect()
    assert gone() is not None  # frozen: the collector does not look at it
    assert refreeze(collect=False).collected is None
    assert gone() is not None

    done = refreeze(collect=True)
    assert gone() is None
    assert done.collected is not None
    assert done.collected >= 1


def test_a_pause_nested_in_one_thread_keeps_the_collector_off_until_the_outermost_ends() -> None:
    """A blocked-invoices page pauses around the answer, which pauses itself too: the inner pause
    ending leaves the collector off, so the page's objects are freed before any collection; the
    outer one ending (even by an error) turns it on."""

    def page() -> None:
        with collection_paused():
            with collection_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()
            raise RuntimeError("the page failed")

    with pytest.raises(RuntimeError, match="the page failed"):
        page()
    assert gc.isenabled()


def test_a_pause_ending_turns_the_collector_on_whatever_another_thread_paused() -> None:
    """Pauses of two threads overlapping: the first to end turns the collector on (one answer
    never leaves it off for another's whole length), and the collector is on once both ended."""
    paused, ended = threading.Event(), threading.Event()

    def other() -> None:
        with collection_paused():
            paused.set()
            ended.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert paused.wait(10)
        with collection_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
    finally:
        ended.set()
        thread.join(10)
    assert gc.isenabled()


def test_the_freezer_refreezes_when_long_lived_objects_pile_up() -> None:
    """Beyond ``limit`` unfrozen long-lived objects the freezer freezes without collecting (no
    sooner than its spacing), long before its interval; its figures are in its metrics; stopped,
    it does no more."""
    freezer = HeapFreezer(600, limit=30_000, check=0.02, spacing=0.05)
    freezer.start()
    try:
        _wait_for_freezes(freezer, 1, GROWN)  # the pytest process holds far more than 30,000
        held = [[i] for i in range(60_000)]
        gc.collect()  # they survive: the oldest generation's now
        _wait_for_freezes(freezer, 2, GROWN)
    finally:
        freezer.stop()
    assert id(held[0]) not in _ids_in_full_collections()
    assert _metric(freezer, "syncsight_python_heap_frozen_objects") >= 60_000
    assert _metric(freezer, COLLECTED) == 0
    stopped = _metric(freezer, GROWN)
    time.sleep(0.3)
    assert _metric(freezer, GROWN) == stopped


def test_the_freezer_collects_and_refreezes_every_interval_without_growth() -> None:
    """Below its limit the freezer still refreezes with a full collection once an interval (the
    cycles among frozen objects are collected then), and not before; its pause is in its
    metrics."""
    freezer = HeapFreezer(0.3, limit=10**9, check=0.02, spacing=0.05)
    assert _seconds_to_freezes(freezer, 2, COLLECTED) >= 0.6
    assert _metric(freezer, GROWN) == 0
    assert _metric(freezer, "syncsight_python_heap_collect_seconds") > 0


def test_refreezes_keep_their_spacing_however_much_piles_up() -> None:
    """Always beyond its limit, the freezer still waits a spacing from start-up to its first
    freeze and from each to the next."""
    freezer = HeapFreezer(600, limit=-1, check=0.01, spacing=1.0)  # even none unfrozen
    assert _seconds_to_freezes(freezer, 2, GROWN) >= 2.0


GROWN = 'syncsight_python_heap_freezes_total{how="grown"}'
COLLECTED = 'syncsight_python_heap_freezes_total{how="collected"}'


def _seconds_to_freezes(freezer: HeapFreezer, count: int, series: str) -> float:
    """Start ``freezer``, wait for ``count`` freezes of ``series``, stop it: the seconds it
    took from the start."""
    started = time.monotonic()
    freezer.start()
    try:
        _wait_for_freezes(freezer, count, series)
    finally:
        freezer.stop()
    return time.monotonic() - started


def _wait_for_freezes(freezer: HeapFreezer, count: int, series: str) -> None:
    deadline = time.monotonic() + 30
    while _metric(freezer, series) < count:
        assert time.monotonic() < deadline, freezer.render().decode()
        time.sleep(0.01)


def test_a_failing_freeze_is_counted_and_reported_once_and_the_freezer_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The interpreter refuses to freeze: the freezer counts every failure, says why in
    ``problem`` (``/readyz``), logs the reason once, and keeps its thread; once freezing works
    again, the next collecting refreeze clears the problem."""

    def refused() -> None:
        raise RuntimeError("the heap cannot be frozen now")

    freezer = HeapFreezer(0.1, limit=10**9, check=0.02, spacing=0.05)
    monkeypatch.setattr(gc, "freeze", refused)
    freezer.start()
    try:
        deadline = time.monotonic() + 10
        while _metric(freezer, "syncsight_python_heap_freeze_failures_total") < 3:
            assert time.monotonic() < deadline, "no failure counted"
            time.sleep(0.02)
        assert freezer.problem() == (
            "the Python heap's freeze failed: RuntimeError: the heap cannot be frozen now"
        )
        logged = [r for r in caplog.records if "cannot be frozen" in r.getMessage()]
        assert len(logged) == 1
        monkeypatch.undo()
        _wait_for_freezes(freezer, 1, COLLECTED)
        deadline = time.monotonic() + 10
        while freezer.problem() is not None:
            assert time.monotonic() < deadline, "the problem stayed"
            time.sleep(0.02)
    finally:
        freezer.stop()
    assert _metric(freezer, COLLECTED) >= 1


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        HeapFreezer(0)


def test_the_service_freezes_by_its_setting_and_says_so_in_its_metrics(
    chdb_url: str, database: str, tmp_path: Path
) -> None:
    """``python_heap_freeze_interval`` starts the freezer with the service (a refreeze at most
    one interval after start-up), and ``/metrics`` shows it; 0 starts none."""

    async def metrics_after(app: object, seconds: float) -> str:
        async with asgi_client(app) as api:
            await asyncio.sleep(seconds)
            return str((await api.get("/metrics")).text)

    frozen = in_process_app(chdb_url, database, tmp_path, python_heap_freeze_interval=0.2)
    text = asyncio.run(metrics_after(frozen, 1.0))
    assert _value(text, COLLECTED) >= 1
    gc.unfreeze()

    never = in_process_app(chdb_url, database, tmp_path, python_heap_freeze_interval=0)
    assert "syncsight_python_heap" not in asyncio.run(metrics_after(never, 0.5))
    assert gc.get_freeze_count() == 0


def test_the_service_is_degraded_while_its_freezer_fails(
    chdb_url: str, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/readyz`` says ``degraded`` with the freezer's reason while its freezes fail, and
    ``/metrics`` counts them."""

    def refused() -> None:
        raise RuntimeError("the heap cannot be frozen now")

    async def ready_after(app: object, seconds: float) -> tuple[dict[str, str], str]:
        async with asgi_client(app) as api:
            await asyncio.sleep(seconds)
            ready = (await api.get("/readyz")).json()
            return ready, str((await api.get("/metrics")).text)

    monkeypatch.setattr(gc, "freeze", refused)
    app = in_process_app(chdb_url, database, tmp_path, python_heap_freeze_interval=0.2)
    ready, text = asyncio.run(ready_after(app, 1.0))
    assert ready["status"] == "degraded"
    assert ready["python_heap"].endswith("RuntimeError: the heap cannot be frozen now")
    assert _value(text, "syncsight_python_heap_freeze_failures_total") >= 1


def _metric(freezer: HeapFreezer, name: str) -> float:
    return _value(freezer.render().decode(), name)


def _value(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in {text}"
    return float(found.group(1))
