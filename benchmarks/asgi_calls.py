"""Calls to an ASGI app in this process, synchronously, for benchmarks that time what a route
answers without a server around it: one event loop on a thread of its own (as a service's loop
would be), every call made by one long-lived task on it, and ``httpx``'s ASGI transport between
the caller and the app. Replaces ``fastapi.testclient.TestClient``, whose httpx base is
deprecated by Starlette."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from types import TracebackType
from typing import Any

import httpx

Call = tuple[str, dict[str, Any] | None, "Future[httpx.Response]"]


class AsgiCalls:
    """``get`` an ASGI app's routes from synchronous code; a context manager that stops its loop.
    The app's lifespan is not run: give it what it needs already open.

    Every call is made by the one task that runs the loop, as a server's calls are made under
    its long-lived task: anyio keeps the worker threads of a synchronous route for the life of
    the loop's root task, so that a task per call (``run_coroutine_threadsafe``) ended them after
    every call, and each call's route ran on a new thread, which opened a database client of its
    own (``warehouse.pool.ClientPool``): some 13 ms a call at 10M that no service pays."""

    def __init__(self, app: Any, *, base_url: str = "http://in-process") -> None:
        self._loop = asyncio.new_event_loop()
        self._calls: asyncio.Queue[Call | None] | None = None
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete,
            args=(self._serve(app, base_url, ready),),
            name="asgi-calls",
            daemon=True,
        )
        self._thread.start()
        ready.wait()

    async def _serve(self, app: Any, base_url: str, ready: threading.Event) -> None:
        """Make the calls queued, one after the other, until ``None`` comes."""
        calls: asyncio.Queue[Call | None] = asyncio.Queue()
        self._calls = calls
        ready.set()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            while (call := await calls.get()) is not None:
                url, params, answer = call
                try:
                    answer.set_result(await client.get(url, params=params))
                except BaseException as error:
                    # whatever a call raises is its caller's: were the loop to end, every later
                    # call would wait for an answer for ever
                    answer.set_exception(error)

    def _queue(self, call: Call | None) -> None:
        assert self._calls is not None
        self._loop.call_soon_threadsafe(self._calls.put_nowait, call)

    def get(self, url: str, *, params: dict[str, Any] | None = None) -> httpx.Response:
        """The app's response to ``GET url``, its body read."""
        answer: Future[httpx.Response] = Future()
        self._queue((url, params, answer))
        return answer.result()

    def close(self) -> None:
        self._queue(None)
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
