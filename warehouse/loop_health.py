"""The health of one background loop: when it last came round, and whether its iterations fail.
A loop records itself here; ``/readyz`` asks ``problem()``; nothing here runs a thread."""

from __future__ import annotations

import threading
import time
from typing import Final

_FIRST_PAUSE_SECONDS: Final = 0.1
_LONGEST_PAUSE_SECONDS: Final = 5.0


class LoopHealth:
    """Heartbeat and consecutive-error record of one loop, safe to read from any thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._last_round = time.monotonic()
        self._consecutive_errors = 0
        self._last_error = ""

    def came_round(self) -> None:
        """The loop starts an iteration (it is neither stuck nor dead)."""
        with self._lock:
            self._last_round = time.monotonic()

    def succeeded(self) -> None:
        with self._lock:
            self._consecutive_errors = 0
            self._last_error = ""

    def failed(self, error: BaseException) -> float:
        """Record a failed iteration; the seconds to pause before the next (doubling, capped)."""
        with self._lock:
            self._consecutive_errors += 1
            self._last_error = f"{type(error).__name__}: {error}"
            doublings = min(self._consecutive_errors - 1, 16)
        return float(min(_FIRST_PAUSE_SECONDS * 2**doublings, _LONGEST_PAUSE_SECONDS))

    @property
    def failing(self) -> bool:
        with self._lock:
            return self._consecutive_errors > 0

    def problem(self, *, alive: bool, stuck_after_seconds: float) -> str | None:
        """What is wrong with the loop, in a sentence, or None while it is healthy."""
        with self._lock:
            if not alive:
                return f"the {self.name} loop has stopped"
            if self._consecutive_errors:
                return (
                    f"the {self.name} loop failed {self._consecutive_errors} time(s) in a row; "
                    f"last error: {self._last_error}"
                )
            idle = time.monotonic() - self._last_round
        if idle > stuck_after_seconds:
            return (
                f"the {self.name} loop has not come round for {idle:.0f} s "
                f"(limit {stuck_after_seconds:g} s)"
            )
        return None
