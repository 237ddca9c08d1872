"""Facts an answer keeps from one reading of the business state to the next: values read from the
engine that cannot change under their key while the state's reading stays the same (an event's
attempts known at a knowledge time, ``slas.error_attempts``; an item version's row,
``slas.close_state``), so that the next answer reads only the keys it has not seen. Bounded (the
least recently used leave first) and dropped whole whenever the reading changes
(``BusinessState.facts_reading``: a tick, a reset, a rebuild)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class KeptFacts(Generic[K, V]):
    """Values by key, the ``size`` most recently used, all from one ``reading`` (any value that
    changes when what the keys name may have changed)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[K, V] = OrderedDict()
        self._reading: Hashable = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def known(self, reading: Hashable, keys: Iterable[K]) -> tuple[dict[K, V], list[K]]:
        """The values kept of ``keys``, and the keys not kept (each once, in the order first
        given); everything kept from another ``reading`` is dropped first."""
        found: dict[K, V] = {}
        unseen: list[K] = []
        with self._lock:
            if reading != self._reading:
                self._kept.clear()
                self._reading = reading
            for key in dict.fromkeys(keys):
                if key in self._kept:
                    self._kept.move_to_end(key)
                    found[key] = self._kept[key]
                else:
                    unseen.append(key)
        return found, unseen

    def keep(self, reading: Hashable, values: dict[K, V]) -> None:
        """Keep ``values`` (read under ``reading``) as the most recently used, the least recently
        used leaving past ``size``; nothing when the reading changed since."""
        with self._lock:
            if reading != self._reading:
                return
            for key, value in values.items():
                self._kept[key] = value
                self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
