"""Per-thread ClickHouse clients over one URL: request handlers run on a thread pool and a client
is not safe to share between threads (chdb lets many clients share the process's one engine)."""

from __future__ import annotations

import threading

from clickhouse_connect.driver.client import Client

from warehouse.client import ReadLimits, connect


class ClientPool:
    """Hands every thread its own client for ``url`` (and ``database``), opened on first use; with
    ``read_limits``, every query of those clients runs under them (the API's pool)."""

    def __init__(
        self, url: str, *, database: str | None = None, read_limits: ReadLimits | None = None
    ) -> None:
        self.url = url
        self.database = database
        self.read_limits = read_limits
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()

    def client(self) -> Client:
        """This thread's client."""
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = connect(self.url, database=self.database, read_limits=self.read_limits)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every client the pool opened."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
