"""Calls to an ASGI app in this process, synchronously, for benchmarks that time what a route
answers without a server around it: one event loop on a thread of its own for every call (as a
service's loop would be), and ``httpx``'s ASGI transport between the caller and the app. Replaces
``fastapi.testclient.TestClient``, whose httpx base is deprecated by Starlette."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

import httpx


class AsgiCalls:
    """``get`` an ASGI app's routes from synchronous code; a context manager that stops its loop.
    The app's lifespan is not run: give it what it needs already open."""

    def __init__(self, app: Any, *, base_url: str = "http://in-process") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="asgi-calls", daemon=True
        )
        self._thread.start()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)

    def get(self, url: str, *, params: dict[str, Any] | None = None) -> httpx.Response:
        """The app's response to ``GET url``, its body read."""
        call = self._client.get(url, params=params)
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> AsgiCalls:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
