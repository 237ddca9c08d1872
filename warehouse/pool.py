"""Per-thread ClickHouse clients over one URL: request handlers run on a thread pool and a client
is not safe to share between threads (chdb lets many clients share the process's one engine)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from warehouse.client import ReadLimits, connect

READERS: Final = ThreadPoolExecutor(max_workers=2, thread_name_prefix="read-ahead")
"""The threads that read ahead for the whole process while the caller's own thread works on what
it has: the next page or batch of an OCEL export (``lineage.ocel_log``) while the export writes,
the next chunk of a derivation of the business state (``slas.business_state``) while the chunk
before is derived. The engine runs with the interpreter's lock released, so reading and working
use both cores. Shared and bounded, so that the per-thread clients of a ``ClientPool`` they open
are too (their threads never end: one client per thread and pool); no read waits on another, so
callers sharing them only queue."""


ANSWER_READERS: Final = ThreadPoolExecutor(max_workers=2, thread_name_prefix="answer-read")
"""The threads on which an API answer reads beside itself (the blocked invoices' failed set-ups,
``slas.impact_answers``): apart from ``READERS``, so that an answer never queues behind an OCEL
export's page or a derivation's chunk, which take seconds at a quarter's scale."""


def reads_apart(
    factory: Callable[[], Client], client: Client, readers: ThreadPoolExecutor = READERS
) -> bool:
    """Whether ``factory`` gives a thread of ``readers`` a client other than ``client`` (the
    caller's): only then may a read run there beside the caller's own. A factory that hands every
    thread one client (a script's, a test's) keeps its reads in turn."""
    return readers.submit(factory).result() is not client


T = TypeVar("T")


class ReadsBeside:
    """An answer's reads started ahead of where it needs them, each on an ``ANSWER_READERS``
    thread with that thread's own client from ``factory``, so that the answer's own work
    meanwhile (its other reads, its Python) runs beside them: the engine releases the
    interpreter's lock, and the answer uses both cores. A factory that hands every thread one
    client (a script's, a test's) keeps the reads in turn: each read on the caller's client
    when asked for."""

    def __init__(self, factory: Callable[[], Client]) -> None:
        self._factory = factory
        self._apart: bool | None = None

    def apart(self, client: Client) -> bool:
        """Whether reads start ahead beside the caller (``client``: its own): asked of the
        factory once (a factory either hands every thread its own client or one client to all)."""
        if self._apart is None:
            self._apart = reads_apart(self._factory, client, ANSWER_READERS)
        return self._apart

    @contextmanager
    def ahead(
        self, client: Client, read: Callable[[Client], T], *, start: bool = True
    ) -> Iterator[Callable[[], T]]:
        """``read``'s result, to be asked for inside the block (at most once read): begun on
        entry on a reader thread when ``start`` and the reads are ``apart``, else read with
        ``client`` when asked (never, if it is not). A read that failed fails the block when
        asked for, or on leaving it when it ran unasked; a block that fails first cancels the
        read or waits for it, so that none outlives the answer."""
        if not (start and self.apart(client)):
            found: list[T] = []

            def here() -> T:
                if not found:
                    found.append(read(client))
                return found[0]

            yield here
            return
        ahead = ANSWER_READERS.submit(lambda: read(self._factory()))
        try:
            yield ahead.result
        except BaseException:
            if not ahead.cancel():
                ahead.exception()
            raise
        if not ahead.cancel():
            ahead.result()


ENGINE_CALLS: Final = (
    "_query_with_context",
    "raw_query",
    "raw_stream",
    "command",
    "data_insert",
    "raw_insert",
)
"""The driver's methods through which every query, command and insert of a client reaches the
engine (``query``, ``query_np``, ``query_arrow``, ``insert``, ``insert_arrow`` … call them)."""


class ClientPool:
    """Hands every thread its own client for ``url`` (and ``database``), opened on first use; with
    ``read_limits``, every query of those clients runs under them (the API's pool).

    A thread's client is closed once the thread has ended, when the next thread opens one: the
    request handlers' worker threads end after a few idle seconds and new ones take their place
    (and a background count starts a thread of its own each time), so a pool that kept every
    client it opened would grow with the service's uptime, by about half a MiB a client on the
    embedded engine.

    A client whose query the engine failed is dropped where it failed: the embedded engine leaves
    the rest of a read cut short mid-stream (by ``max_execution_time``) to the same client's next
    query, which then reads those bytes as its own answer (a StreamFailureError, a MemoryError, or
    worse). Its thread's next ``client()`` opens a new one; every other thread keeps its own. The
    dropped client is not closed by the pool (a caller that caught the error may still hold it):
    the driver releases it once nothing does."""

    def __init__(
        self, url: str, *, database: str | None = None, read_limits: ReadLimits | None = None
    ) -> None:
        self.url = url
        self.database = database
        self.read_limits = read_limits
        self._local = threading.local()
        self._clients: dict[threading.Thread, Client] = {}
        self._failed: weakref.WeakSet[Client] = weakref.WeakSet()
        self._lock = threading.Lock()

    def client(self) -> Client:
        """This thread's client (a new one after the engine failed a query of the last)."""
        client: Client | None = getattr(self._local, "client", None)
        if client is not None and client in self._failed:
            client = None
        if client is None:
            client = self._guarded(
                connect(self.url, database=self.database, read_limits=self.read_limits)
            )
            self._local.client = client
            with self._lock:
                ended = [thread for thread in self._clients if not thread.is_alive()]
                closing = [self._clients.pop(thread) for thread in ended]
                self._clients[threading.current_thread()] = client
            for done in closing:
                done.close()
        return client

    def _guarded(self, client: Client) -> Client:
        """``client``, whose calls into the engine drop it from the pool when the engine fails
        them (on the thread that asked, where the error is raised). The wrappers hold the client
        weakly, so that it is freed once neither the pool nor a caller holds it."""
        held = weakref.ref(client)
        for name in ENGINE_CALLS:
            call = getattr(type(client), name)
            setattr(client, name, self._dropping_on_failure(held, call))
        return client

    def _dropping_on_failure(
        self, held: weakref.ref[Client], call: Callable[..., Any]
    ) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            client = held()
            assert client is not None  # a bound call holds its client
            try:
                return call(client, *args, **kwargs)
            except DatabaseError:
                self._drop(client)
                raise

        return guarded

    def _drop(self, client: Client) -> None:
        with self._lock:
            self._failed.add(client)
            for thread in [t for t, held in self._clients.items() if held is client]:
                del self._clients[thread]

    def open_clients(self) -> int:
        """How many clients the pool holds open (one per thread that asked and may still ask)."""
        with self._lock:
            return len(self._clients)

    def close(self) -> None:
        """Close every client the pool opened."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
