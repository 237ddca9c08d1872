"""Answers computed once per state of the business tables.

A fingerprint of the tables' active parts (one cheap read of ``system.parts``) says whether any
row changed since an answer was computed; while ingest keeps changing them, an answer younger than
``max_staleness`` seconds is still served, so that a busy collector does not force a recomputation
per request. Concurrent requests for the same missing answer compute it once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from clickhouse_connect.driver.client import Client

from warehouse.schema import BIZ_EVENT_OBJECTS, BIZ_EVENTS, Topology

Value = TypeVar("Value")

PARTS_FINGERPRINT = """
SELECT count(), sum(rows), groupBitXor(cityHash64(name))
FROM {parts}
WHERE database = currentDatabase() AND table IN {{tables:Array(String)}} AND active
"""
"""Parts, rows and an order-free hash of the part names: every insert and merge changes it."""


class DataVersion:
    """The current fingerprint of the business tables (on every node of a cluster)."""

    def __init__(self, client: Callable[[], Client], topology: Topology) -> None:
        self._client = client
        parts = (
            f"clusterAllReplicas({topology.cluster}, system.parts)"
            if topology.cluster
            else "system.parts"
        )
        self._sql = PARTS_FINGERPRINT.format(parts=parts)
        self._tables = [topology.storage(BIZ_EVENTS), topology.storage(BIZ_EVENT_OBJECTS)]

    def __call__(self) -> Hashable:
        rows = self._client().query(self._sql, parameters={"tables": self._tables}).result_rows
        return tuple(rows[0]) if rows else ()


@dataclass(frozen=True)
class Fresh(Generic[Value]):
    """An answer, the data version it was computed from, and when its computation started."""

    value: Value
    version: Hashable
    computed_at: datetime
    started: float
    """``time.monotonic()`` at the start of the computation: the age of the data it saw."""


class FreshCache(Generic[Value]):
    """Answers by key, each valid while the data version is unchanged or it is young enough."""

    def __init__(
        self,
        version: Callable[[], Hashable],
        *,
        max_staleness: float,
        size: int = 8,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._version = version
        self._max_staleness = max_staleness
        self._size = size
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: dict[Hashable, Fresh[Value]] = {}
        self._computing: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(
        self, key: Hashable, compute: Callable[[], Value], *, max_age: float | None = None
    ) -> Fresh[Value]:
        """The cached answer for ``key`` if still valid, else a new one from ``compute``.

        ``max_age``: seconds after which an answer is recomputed even on unchanged data (for
        answers that depend on the clock as well).
        """
        cached = self._cached(key)
        if cached is None:
            return self._compute(key, compute, None)
        age = self._clock() - cached.started
        if max_age is not None and age > max_age:
            return self._compute(key, compute, cached)
        if age <= self._max_staleness or cached.version == self._version():
            return cached
        return self._compute(key, compute, cached)

    def refresh(
        self, key: Hashable, compute: Callable[[], Value], *, force: bool = False
    ) -> Fresh[Value]:
        """Recompute ``key`` if the data changed since its answer (for background warming), or
        anyway with ``force``."""
        cached = self._cached(key)
        if cached is not None and not force and cached.version == self._version():
            return cached
        return self._compute(key, compute, cached)

    def _cached(self, key: Hashable) -> Fresh[Value] | None:
        with self._lock:
            return self._entries.get(key)

    def _compute(
        self, key: Hashable, compute: Callable[[], Value], outdated: Fresh[Value] | None
    ) -> Fresh[Value]:
        """A new answer for ``key``, unless another thread replaced ``outdated`` meanwhile."""
        with self._lock:
            flight = self._computing.setdefault(key, threading.Lock())
        with flight:  # one computation per key; the others wait for it and reuse its answer
            cached = self._cached(key)
            if cached is not None and cached is not outdated:
                return cached
            version = self._version()  # before computing: a change meanwhile is seen next time
            started = self._clock()
            fresh = Fresh(compute(), version, self._wall_clock(), started)
            with self._lock:
                self._entries.pop(key, None)
                self._entries[key] = fresh
                while len(self._entries) > self._size:
                    evicted = next(iter(self._entries))
                    del self._entries[evicted]
                    self._computing.pop(evicted, None)  # keys come and go (pinned as_of)
            return fresh
