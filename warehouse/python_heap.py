"""The service's long-lived Python objects kept out of the cyclic garbage collector's full
collections.

CPython's cyclic collector walks every object it tracks in a full collection, and starts one
whenever the objects that survived two younger collections since the last reach a quarter of those
it holds. A service holds a large long-lived state: at 10M spans the evaluator keeps 85,862 open
timers' alerts from tick to tick, some 650,000 tracked objects with everything else. A blocked-
invoices page keeps its thousands of items alive across young collections, so pages set off full
collections (2 in 200 pages measured), and each took 0.5-0.6 s with every thread held
(benchmarks/history/business-state-answers.md, "The service's full garbage collections"): the
answer that met it, and every request and acknowledgement beside it, waited.

``HeapFreezer`` freezes what is alive (``gc.freeze``: a splice of the collector's lists, no walk)
whenever more than ``UNFROZEN_LIMIT`` objects have become long-lived since the last freeze
(counted every ``CHECK_SECONDS``, at most one freeze a ``MIN_SPACING_SECONDS``): a full
collection then walks only what became long-lived since, and the state the evaluator builds at
start-up, or rebuilds, is frozen within seconds of its building. Reference counting frees frozen
objects as before; only the garbage cycles among them wait, for the collecting refreeze every
``interval``: it unfreezes, collects everything once and freezes again (one full collection an
interval is the policy's cost).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

logger = logging.getLogger(__name__)

UNFROZEN_LIMIT = 100_000
"""Long-lived objects (the oldest generation's, not frozen) beyond which a freeze is due: a full
collection walks them all, some 10 ms for 100,000 on the project machine."""
CHECK_SECONDS = 5.0
"""How often the oldest generation is counted (a list of its objects: a few ms at the limit)."""
MIN_SPACING_SECONDS = 60.0
"""The least time between two freezes: each may freeze garbage cycles, which wait for the next
collecting refreeze."""


_PAUSES = threading.local()


@contextmanager
def collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off while this thread builds an answer of many objects (a
    blocked-invoices page: some fifteen container objects an item, none in a cycle). The
    collections they would set off walk them again for nothing (an every-item answer of 9,566
    items at 10M: 150 young, 13 middle and 1 or 2 full ones, 17-66 ms CPU;
    benchmarks/history/business-state-answers.md, "Blocked invoices, every item: the endpoint's
    JSON"); freed before the pause ends, they set off none at all. On again when this thread's
    outermost pause ends, unconditionally: nothing in the service turns it off for long, and an
    answer that overlaps another may start while that one has it off (restoring what it found
    would leave it off)."""
    depth = getattr(_PAUSES, "depth", 0)
    _PAUSES.depth = depth + 1
    gc.disable()
    try:
        yield
    finally:
        _PAUSES.depth = depth
        if not depth:
            gc.enable()


@dataclass(frozen=True)
class Refreeze:
    """What one freeze did."""

    frozen: int
    """Objects now frozen."""
    collected: int | None
    """Unreachable objects its full collection found (None: it collected nothing)."""
    seconds: float
    """How long every thread waited for it."""


def refreeze(*, collect: bool) -> Refreeze:
    """Freeze what is alive; with ``collect``, unfreeze and collect every generation first."""
    started = time.perf_counter()
    collected = None
    if collect:
        gc.unfreeze()
        collected = gc.collect()
    gc.freeze()
    return Refreeze(gc.get_freeze_count(), collected, time.perf_counter() - started)


def unfrozen_long_lived() -> int:
    """How many objects of the oldest generation are not frozen: what a full collection walks
    beyond the young."""
    return len(gc.get_objects(generation=2))


class HeapFreezer:
    """A daemon thread that freezes when more than ``limit`` long-lived objects are not frozen
    (counted every ``check`` seconds, at most once a ``spacing``), and refreezes with a full
    collection every ``interval`` seconds after ``start``, with its figures for ``/metrics``."""

    def __init__(
        self,
        interval: float,
        *,
        limit: int = UNFROZEN_LIMIT,
        check: float = CHECK_SECONDS,
        spacing: float = MIN_SPACING_SECONDS,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self._interval = interval
        self._limit = limit
        self._check = min(check, interval)
        self._spacing = min(spacing, interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registry = CollectorRegistry()
        self._frozen = Gauge(
            "syncsight_python_heap_frozen_objects",
            "Python objects frozen out of the garbage collector's full collections at the last "
            "freeze (python_heap_freeze_interval).",
            registry=self.registry,
        )
        self._freezes = Counter(
            "syncsight_python_heap_freezes",
            "Freezes of the long-lived Python objects, by how: 'grown' (more became long-lived: "
            "no collection) or 'collected' (every interval: one full collection).",
            ["how"],
            registry=self.registry,
        )
        for how in ("grown", "collected"):  # both series from the start, at zero
            self._freezes.labels(how)
        self._pause = Gauge(
            "syncsight_python_heap_collect_seconds",
            "How long the last collecting refreeze held every thread.",
            registry=self.registry,
        )
        self._failures = Counter(
            "syncsight_python_heap_freeze_failures",
            "Checks or freezes of the Python heap that raised (the freezer goes on; /readyz says "
            "so while the last one failed).",
            registry=self.registry,
        )
        self._failing: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="python-heap", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread; the objects frozen stay frozen (the process is ending)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def freeze_now(self, *, collect: bool) -> Refreeze:
        """``refreeze``, counted in the metrics."""
        done = refreeze(collect=collect)
        self._frozen.set(done.frozen)
        self._freezes.labels("collected" if collect else "grown").inc()
        if collect:
            self._pause.set(done.seconds)
        logger.debug(
            "froze %d long-lived objects (%s collected) in %.3f s",
            done.frozen,
            "none" if done.collected is None else done.collected,
            done.seconds,
        )
        return done

    def render(self) -> bytes:
        """The Prometheus text exposition of the freezes."""
        return bytes(generate_latest(self.registry))

    def problem(self) -> str | None:
        """Why the last check or freeze failed (for ``/readyz``), or None while they succeed."""
        return self._failing

    def _run(self) -> None:
        now = time.monotonic()
        frozen = collected = now  # start-up counts as both: the spacing and interval run from it
        while not self._stop.wait(self._check):
            now = time.monotonic()
            try:
                if now - collected >= self._interval:
                    collected = now  # a failing collection is tried again an interval later
                    self.freeze_now(collect=True)
                    frozen = collected = time.monotonic()
                    self._failing = None
                elif now - frozen >= self._spacing and unfrozen_long_lived() > self._limit:
                    frozen = now
                    self.freeze_now(collect=False)
                    frozen = time.monotonic()
                    self._failing = None
            except Exception as error:  # the thread goes on; /readyz and /metrics say it failed
                self._failures.inc()
                failing = f"the Python heap's freeze failed: {type(error).__name__}: {error}"
                if failing != self._failing:  # logged once per new reason, not every check
                    logger.exception("%s", failing)
                self._failing = failing  # until a freeze succeeds
