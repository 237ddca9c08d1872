"""The ids behind the hashes of evaluation arrays, remembered across evaluations and requests: a
hash always stands for the same id, so the evaluator's alerts, the timer lists and close-risk
contributors look each one up once instead of scanning the business tables per request."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from clickhouse_connect.driver.client import Client

from slas.queries import event_ids, object_ids

DEFAULT_LIMIT = 500_000
"""Ids kept before the cache starts over (about 100 bytes each)."""


class IdCache:
    """Object and event ids by hash; thread-safe; ids not found yet are asked again next time."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        self._objects: dict[int, tuple[str, str]] = {}
        self._events: dict[int, str] = {}
        self._lock = threading.Lock()

    def object_ids(
        self, client: Client, hashes: Iterable[int], object_types: Iterable[str]
    ) -> dict[int, tuple[str, str]]:
        """Object hash → (object type, object id) for every hash that is known."""
        wanted = {int(h) for h in hashes if h}
        with self._lock:
            missing = [h for h in wanted if h not in self._objects]
        found = object_ids(client, missing, object_types) if missing else {}
        with self._lock:
            self._make_room(len(found))
            self._objects.update(found)
            return {h: self._objects[h] for h in wanted if h in self._objects}

    def event_ids(self, client: Client, hashes: Iterable[int]) -> dict[int, str]:
        """Event hash → business event id for every hash that is known."""
        wanted = {int(h) for h in hashes if h}
        with self._lock:
            missing = [h for h in wanted if h not in self._events]
        found = event_ids(client, missing) if missing else {}
        with self._lock:
            self._make_room(len(found))
            self._events.update(found)
            return {h: self._events[h] for h in wanted if h in self._events}

    def _make_room(self, adding: int) -> None:
        if len(self._objects) + len(self._events) + adding > self._limit:
            self._objects.clear()
            self._events.clear()
