"""Background work (the SLA evaluator, the dashboard's warm-up) yields the CPU to ingest and to
requests: its thread and the engine threads that run its queries get a lower CPU priority.

On an idle machine it still runs at full speed; while spans arrive, acknowledging them comes first.
The engine part needs the CAP_SYS_NICE capability (ClickHouse ignores the setting without it);
the thread's own part needs nothing, since any thread may lower its own priority.
"""

from __future__ import annotations

import logging
import os
import threading

from clickhouse_connect.driver.client import Client

logger = logging.getLogger(__name__)

BACKGROUND_NICE = 10
"""Linux nice value of background threads: under contention a nice-10 thread gets about a tenth
of the CPU time of a nice-0 one."""

_ENGINE_NICE_SETTING = "os_thread_priority"
"""The query setting for the nice value of the engine's threads (known to old servers too)."""


def yield_to_foreground(client: Client) -> None:
    """Lower the CPU priority of the calling thread and of the queries of ``client``, which must
    be this thread's own (``ClientPool.client``)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except OSError as error:  # not Linux-like: the work simply keeps its priority
        logger.debug("cannot lower the priority of %s: %s", threading.current_thread().name, error)
    client.set_client_setting(_ENGINE_NICE_SETTING, BACKGROUND_NICE)
