"""Per-thread ClickHouse clients over one URL: request handlers run on a thread pool and a client
is not safe to share between threads (chdb lets many clients share the process's one engine)."""

from __future__ import annotations

import threading

from clickhouse_connect.driver.client import Client

from warehouse.client import connect


class ClientPool:
    """Hands every thread its own client for ``url`` (and ``database``), opened on first use."""

    def __init__(self, url: str, *, database: str | None = None) -> None:
        self.url = url
        self.database = database
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()

    def client(self) -> Client:
        """This thread's client."""
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = connect(self.url, database=self.database)
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
