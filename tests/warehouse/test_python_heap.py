"""The long-lived Python objects frozen out of full collections (``warehouse.python_heap``)."""

from __future__ import annotations

import asyncio
import gc
import re
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service import asgi_client, in_process_app
from warehouse.python_heap import HeapFreezer, refreeze


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

    done = refreeze()

    walked = _ids_in_full_collections()
    assert id(held[123]) not in walked
    assert id(held) not in walked
    assert done.frozen == gc.get_freeze_count() >= 20_000
    later = [0]
    assert id(later) in _ids_in_full_collections()


def test_a_cycle_frozen_before_is_collected_at_the_next_refreeze() -> None:
    """A garbage cycle among frozen objects is not found by collections, and is by the next
    refreeze (which unfreezes before it collects): nothing frozen leaks past it."""
    node = _Node()
    node.me = node
    gone = weakref.ref(node)
    refreeze()
    del node

    gc.collect()
    assert gone() is not None  # frozen: the collector does not look at it

    done = refreeze()
    assert gone() is None
    assert done.collected >= 1


def test_the_freezer_refreezes_when_long_lived_objects_pile_up() -> None:
    """Beyond ``limit`` unfrozen long-lived objects the freezer refreezes (no sooner than its
    spacing), long before its interval; its figures are in its metrics; stopped, it does no
    more."""
    freezer = HeapFreezer(600, limit=30_000, check=0.02, spacing=0.05)
    freezer.start()
    try:
        _wait_for_refreezes(freezer, 1)  # the pytest process holds far more than 30,000
        held = [[i] for i in range(60_000)]
        gc.collect()  # they survive: the oldest generation's now
        _wait_for_refreezes(freezer, 2)
    finally:
        freezer.stop()
    assert id(held[0]) not in _ids_in_full_collections()
    assert _metric(freezer, "syncsight_python_heap_frozen_objects") >= 60_000
    assert _metric(freezer, "syncsight_python_heap_refreeze_seconds") > 0
    stopped = _metric(freezer, "syncsight_python_heap_refreezes_total")
    time.sleep(0.3)
    assert _metric(freezer, "syncsight_python_heap_refreezes_total") == stopped


def test_the_freezer_refreezes_every_interval_without_growth() -> None:
    """Below its limit the freezer still refreezes once an interval (the cycles among frozen
    objects are collected then), and not before."""
    freezer = HeapFreezer(0.3, limit=10**9, check=0.02, spacing=0.05)
    started = time.monotonic()
    freezer.start()
    try:
        _wait_for_refreezes(freezer, 2)
    finally:
        freezer.stop()
    assert time.monotonic() - started >= 0.6


def test_refreezes_keep_their_spacing_however_much_piles_up() -> None:
    """Always beyond its limit, the freezer still waits a spacing from start-up to its first
    refreeze and from each to the next: each walks every object."""
    freezer = HeapFreezer(600, limit=-1, check=0.01, spacing=1.0)  # even none unfrozen
    started = time.monotonic()
    freezer.start()
    try:
        _wait_for_refreezes(freezer, 2)
    finally:
        freezer.stop()
    assert time.monotonic() - started >= 2.0


def _wait_for_refreezes(freezer: HeapFreezer, count: int) -> None:
    deadline = time.monotonic() + 30
    while _metric(freezer, "syncsight_python_heap_refreezes_total") < count:
        assert time.monotonic() < deadline, freezer.render().decode()
        time.sleep(0.01)


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
    assert _value(text, "syncsight_python_heap_refreezes_total") >= 1
    gc.unfreeze()

    never = in_process_app(chdb_url, database, tmp_path, python_heap_freeze_interval=0)
    assert "syncsight_python_heap" not in asyncio.run(metrics_after(never, 0.5))
    assert gc.get_freeze_count() == 0


def _metric(freezer: HeapFreezer, name: str) -> float:
    return _value(freezer.render().decode(), name)


def _value(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in {text}"
    return float(found.group(1))
