"""A small real HTTP server that answers GET (and POST) paths with canned JSON (and, when given, the
X-Syncsight-As-Of / X-Syncsight-Known-At headers): answers built from the API's response models,
states a loaded service does not produce, and the failures the REST client must tell apart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, Any] | tuple[int, Any, Mapping[str, str]]
"""(status, JSON body or text) or (status, body, extra headers)."""


@dataclass
class StubApi:
    """Answers by path with its query when one is given so, else by path; remembers (path with
    query, Authorization)."""

    answers: Mapping[str, Reply]
    url: str = ""
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    posted: list[tuple[str, Any]] = field(default_factory=list)
    """(path, JSON body) of every POST, which is answered like a GET of its path."""


@contextmanager
def stub_api(answers: Mapping[str, Reply]) -> Iterator[StubApi]:
    """Serve ``answers`` on a free loopback port; unknown paths get FastAPI's 404."""
    stub = StubApi(answers)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            stub.posted.append((self.path, json.loads(data) if data else None))
            self.do_GET()

        def do_GET(self) -> None:
            stub.seen.append((self.path, self.headers.get("Authorization")))
            # a path with its query when answered so, else the path
            reply = stub.answers.get(
                self.path, stub.answers.get(self.path.split("?")[0], (404, {"detail": "Not Found"}))
            )
            status, body, headers = (*reply, {}) if len(reply) == 2 else reply
            text = isinstance(body, str)
            data = body.encode() if text else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
