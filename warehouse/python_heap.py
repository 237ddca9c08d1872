"""The service's long-lived Python objects kept out of the cyclic garbage collector's full
collections.

CPython's cyclic collector walks every object it tracks in a full collection, and starts one
whenever the objects that survived two younger collections since the last reach a quarter of those
it holds. A service holds a large long-lived state: at 10M spans the evaluator keeps 85,862 open
timers' alerts from tick to tick, some 650,000 tracked objects with everything else. A blocked-
invoices page keeps its thousands of items alive across young collections, so every ten or so
pages set off a full collection, and each took 0.5-0.6 s with every thread held
(benchmarks/history/business-state-answers.md, "The service's full garbage collections"): the
answer that met it, and every request and acknowledgement beside it, waited.

``HeapFreezer`` collects once and freezes what is alive (``gc.freeze``) shortly after start-up and
every ``interval`` after: a full collection then walks only what became long-lived since the last
freeze. Each refreeze unfreezes first, so that its collection also finds the garbage cycles among
objects frozen before (nothing frozen outlives its next refreeze unexamined); that one full
collection an interval is the policy's cost. Reference counting frees frozen objects as before:
only cycles wait for the next refreeze.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

logger = logging.getLogger(__name__)

FIRST_FREEZE_SECONDS = 60.0
"""How long after start-up the first freeze waits (at most the interval): long enough for the
evaluator's first ticks to build the state it keeps."""


@dataclass(frozen=True)
class Refreeze:
    """What one refreeze did."""

    frozen: int
    """Objects now frozen."""
    collected: int
    """Unreachable objects its full collection found."""
    seconds: float
    """How long every thread waited for it."""


def refreeze() -> Refreeze:
    """Unfreeze, collect every generation, and freeze what is alive."""
    started = time.perf_counter()
    gc.unfreeze()
    collected = gc.collect()
    gc.freeze()
    return Refreeze(gc.get_freeze_count(), collected, time.perf_counter() - started)


class HeapFreezer:
    """A daemon thread that calls ``refreeze`` ``FIRST_FREEZE_SECONDS`` after ``start`` (at most
    ``interval``) and every ``interval`` seconds after, with its figures for ``/metrics``."""

    def __init__(self, interval: float, *, first_after: float = FIRST_FREEZE_SECONDS) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self._interval = interval
        self._first_after = min(first_after, interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registry = CollectorRegistry()
        self._frozen = Gauge(
            "syncsight_python_heap_frozen_objects",
            "Python objects frozen out of the garbage collector's full collections at the last "
            "refreeze (python_heap_freeze_interval).",
            registry=self.registry,
        )
        self._refreezes = Counter(
            "syncsight_python_heap_refreezes",
            "Refreezes of the long-lived Python objects: one full collection each.",
            registry=self.registry,
        )
        self._pause = Gauge(
            "syncsight_python_heap_refreeze_seconds",
            "How long the last refreeze's full collection held every thread.",
            registry=self.registry,
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="python-heap", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread; the objects frozen stay frozen (the process is ending)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def refreeze_now(self) -> Refreeze:
        """``refreeze``, counted in the metrics."""
        done = refreeze()
        self._frozen.set(done.frozen)
        self._refreezes.inc()
        self._pause.set(done.seconds)
        logger.debug(
            "froze %d long-lived objects (%d collected) in %.3f s",
            done.frozen,
            done.collected,
            done.seconds,
        )
        return done

    def render(self) -> bytes:
        """The Prometheus text exposition of the refreezes."""
        return bytes(generate_latest(self.registry))

    def _run(self) -> None:
        wait = self._first_after
        while not self._stop.wait(wait):
            self.refreeze_now()
            wait = self._interval
