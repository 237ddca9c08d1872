"""``benchmarks.asgi_calls``: a route's answer from synchronous code, through the app itself."""

from __future__ import annotations

import threading

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
