"""A small real HTTP server that answers GET paths with canned JSON: the API shapes the issues fix,
for pages whose endpoints are still being built, and the failures the client must tell apart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class StubApi:
    """Answers by path (without the query); remembers (path with query, Authorization)."""

    answers: Mapping[str, tuple[int, Any]]
    url: str = ""
    seen: list[tuple[str, str | None]] = field(default_factory=list)


@contextmanager
def stub_api(answers: Mapping[str, tuple[int, Any]]) -> Iterator[StubApi]:
    """Serve ``answers`` on a free loopback port; unknown paths get FastAPI's 404."""
    stub = StubApi(answers)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stub.seen.append((self.path, self.headers.get("Authorization")))
            status, body = stub.answers.get(self.path.split("?")[0], (404, {"detail": "Not Found"}))
            text = isinstance(body, str)
            data = body.encode() if text else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if text else "application/json")
            self.send_header("Content-Length", str(len(data)))
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
