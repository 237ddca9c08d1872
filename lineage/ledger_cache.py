"""What the ledger remembers between requests: only what never changes once stored (a complete
subtree's hash, a day's final head), so nothing remembered can go stale; bounded in entries."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class ImmutableCache(Generic[Key, Value]):
    """Values of stored rows that never change, by key; thread-safe; it starts over when adding
    would pass ``limit`` entries."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"cache limit {limit}: expected at least 1 entry")
        self._limit = limit
        self._values: dict[Key, Value] = {}
        self._lock = threading.Lock()

    def get(self, keys: Iterable[Key]) -> dict[Key, Value]:
        """The remembered values of ``keys`` (keys not remembered are left out)."""
        with self._lock:
            return {key: self._values[key] for key in keys if key in self._values}

    def put(self, values: Mapping[Key, Value]) -> None:
        """Remember ``values`` (more than the limit at once are not remembered)."""
        if len(values) > self._limit:
            return
        with self._lock:
            if len(self._values) + len(values) > self._limit:
                self._values.clear()
            self._values.update(values)

    def __len__(self) -> int:
        return len(self._values)
