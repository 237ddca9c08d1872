"""How soon a thread that waits for Python's global interpreter lock gets it.

CPython lets a thread keep the lock for the switch interval (5 ms by default) while another
waits. In the service a request's thread waits for it each time it comes back from the engine,
and again on the event loop to answer; while the evaluator's tick or the ingest's decoding runs
Python, each of those waits could last the whole interval. Under ingest at 3,000 spans/s that put
lineage's p95 at 260 ms against 133-154 ms with 0.5 ms (benchmarks/history/lineage.md, "The
interpreter's switch interval"). A shorter interval costs a CPU-bound thread a few more switches
a second, and nothing when one thread runs alone.
"""

from __future__ import annotations

import sys

from prometheus_client import CollectorRegistry, Gauge, generate_latest


class SwitchInterval:
    """Sets the interpreter's switch interval to ``seconds`` from ``apply`` until ``restore``
    (the value before comes back: in-process test apps share the interpreter), and shows the
    interval in force in ``/metrics``."""

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"the switch interval must be positive, got {seconds}")
        self.seconds = seconds
        self._before: float | None = None
        self.registry = CollectorRegistry()
        Gauge(
            "syncsight_python_switch_interval_seconds",
            "How long a Python thread may keep the interpreter while another waits "
            "(python_switch_interval_ms).",
            registry=self.registry,
        ).set_function(sys.getswitchinterval)

    def apply(self) -> None:
        self._before = sys.getswitchinterval()
        sys.setswitchinterval(self.seconds)

    def restore(self) -> None:
        if self._before is not None:
            sys.setswitchinterval(self._before)
            self._before = None

    def render(self) -> bytes:
        return generate_latest(self.registry)
