"""Run the HTTP service in the foreground until SIGTERM or Ctrl-C, then shut down gracefully.

Uvicorn re-raises the captured signal after its graceful shutdown, which makes a clean stop look
like a crash (exit status -15) to supervisors and tests; here a graceful stop exits 0.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulServer(uvicorn.Server):
    """A uvicorn server whose signal handling ends in a normal return."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def run_http(app: FastAPI, *, host: str, port: int, log_level: str = "info") -> None:
    """Serve ``app`` until asked to stop."""
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    GracefulServer(config).run()
