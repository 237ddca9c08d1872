"""``benchmarks.asgi_calls``: a route's answer from synchronous code, through the app itself."""

from __future__ import annotations

import threading

import pytest
from fastapi import FastAPI, Response

from benchmarks.asgi_calls import AsgiCalls


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.get("/echo")
    def echo(word: str, response: Response) -> dict[str, str]:
        response.headers["Link"] = f"</echo?word={word}{word}>; rel=next"
        return {"word": word, "thread": threading.current_thread().name}

    return app


def test_a_get_answers_with_the_routes_body_and_headers() -> None:
    with AsgiCalls(echo_app()) as api:
        response = api.get("/echo", params={"word": "close"})
        assert response.status_code == 200
        assert response.json()["word"] == "close"
        assert response.headers["Link"] == "</echo?word=closeclose>; rel=next"
        assert api.get("/missing").status_code == 404
        assert api.get("/echo").status_code == 422  # the app's own validation answered


def test_closing_stops_the_loops_thread() -> None:
    api = AsgiCalls(echo_app())
    api.get("/echo", params={"word": "a"})
    api.close()
    assert not any(thread.name == "asgi-calls" for thread in threading.enumerate())


def test_a_synchronous_route_keeps_its_worker_thread_from_call_to_call() -> None:
    """As under a server's long-lived task: a route answered on a new thread at every call would
    open a database client of its own at every call (``warehouse.pool.ClientPool``). Threads
    are told apart by a mark of their own (an ended thread's id may be given to the next)."""
    app = FastAPI()
    marks = threading.local()
    threads: list[str] = []

    @app.get("/mark")
    def mark() -> None:
        if not hasattr(marks, "seen"):
            marks.seen = True
            threads.append(threading.current_thread().name)

    with AsgiCalls(app) as api:
        for _ in range(5):
            assert api.get("/mark").status_code == 200
    assert len(threads) == 1, threads


def test_an_error_reaches_the_caller_and_the_loop_goes_on() -> None:
    """A call that fails (here: an app that raises) fails for its caller; later calls answer."""
    app = echo_app()

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("the route broke")

    with AsgiCalls(app) as api:
        with pytest.raises(RuntimeError, match="the route broke"):
            api.get("/broken")
        assert api.get("/echo", params={"word": "after"}).json()["word"] == "after"


class Interrupted(BaseException):
    """Not an ``Exception``: what a ``KeyboardInterrupt`` in a route looks like to the loop."""


def test_a_call_interrupted_fails_alone_and_later_calls_are_answered() -> None:
    """A route that raises beyond ``Exception`` fails its own call; the loop does not end, so
    no later call waits for ever."""
    app = echo_app()

    @app.get("/interrupted")
    def interrupted() -> None:
        raise Interrupted

    with AsgiCalls(app) as api:
        with pytest.raises(Interrupted):
            api.get("/interrupted")
        assert api.get("/echo", params={"word": "after"}).json()["word"] == "after"
