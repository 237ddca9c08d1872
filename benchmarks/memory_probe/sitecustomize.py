"""Memory probe for the soak (``benchmarks/soak.py --memory-probe FILE``): loaded into ``syncsight
serve`` through PYTHONPATH, a diagnostic thread appends one JSON line every 15 s to the file named by
``SOAK_MEMORY_PROBE_OUT`` with where the service's resident memory is:

- ``VmRSS``, ``RssAnon``, ``RssFile`` (MiB, /proc/self/status; RssFile is mostly the engine library);
- the C heap (glibc ``mallinfo2``): ``glibc_arena`` (heap obtained), ``glibc_used`` (allocated),
  ``glibc_free`` (freed, kept by the heap, resident or not), ``glibc_mmap`` (large blocks mapped
  on their own);
- the engine's own allocator (jemalloc, linked into chdb; ``system.jemalloc_stats``):
  ``je_allocated``, ``je_resident``, ``je_retained``, and the engine's ``MemoryTracking`` and
  cache sizes (``system.metrics``), active parts and their primary keys in memory;
- the Python heap: ``py_blocks`` (``sys.getallocatedblocks``) and ``gc_counts`` (``gc.get_count``,
  objects allocated per generation since its last collection); the thread count. Not
  ``gc.get_objects()``: on Python 3.11 it hands this thread tuples that another thread is still
  building, whose ``_PyTuple_Resize`` then fails with ``SystemError: Objects/tupleobject.c: bad
  argument to internal function`` (CPython gh-107137, fixed in 3.12). The soak's evaluator failed
  that way while this probe ran.

Two experiments, off unless set: ``SOAK_MEMORY_PROBE_TRIM_SECONDS`` calls glibc's ``malloc_trim(0)``
at that interval, ``SOAK_MEMORY_PROBE_PURGE_SECONDS`` runs ``SYSTEM JEMALLOC PURGE``; each record
then says how many MiB of RSS the call released. Not part of the product: a measuring aid only.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import sys
import threading
import time
from typing import Any

PERIOD_SECONDS = 15.0
MIB = 1 << 20
JEMALLOC_TOTALS = re.compile(
    r"Allocated: (\d+), active: (\d+), metadata: (\d+).*?resident: (\d+), mapped: (\d+), "
    r"retained: (\d+)"
)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _resident_mib() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // MIB


def _record(client: Any, libc: ctypes.CDLL) -> dict[str, Any]:
    record: dict[str, Any] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                record[key] = int(line.split()[1]) // 1024
    info = libc.mallinfo2()
    record |= {
        "glibc_arena": info.arena // MIB,
        "glibc_used": info.uordblks // MIB,
        "glibc_free": info.fordblks // MIB,
        "glibc_mmap": info.hblkhd // MIB,
        "py_blocks": sys.getallocatedblocks(),
        "gc_counts": list(gc.get_count()),
        "threads": len(os.listdir("/proc/self/task")),
    }
    try:
        rows = client.query(
            "SELECT metric, value FROM system.metrics WHERE (metric LIKE '%Cache%Bytes' "
            "OR metric LIKE '%Memory%' OR metric IN ('MergeParts', 'PartsActive', "
            "'PartsOutdated')) AND value != 0"
        ).result_rows
        record |= {metric: int(value) for metric, value in rows}
        stats = client.query("SELECT stats FROM system.jemalloc_stats").result_rows[0][0]
        totals = JEMALLOC_TOTALS.search(stats)
        if totals:
            names = ("allocated", "active", "metadata", "resident", "mapped", "retained")
            record |= {
                f"je_{n}": int(v) // MIB for n, v in zip(names, totals.groups(), strict=True)
            }
        parts = client.query(
            "SELECT count(), sum(primary_key_bytes_in_memory_allocated) FROM system.parts "
            "WHERE active"
        ).result_rows[0]
        record["parts"], record["pk_bytes"] = int(parts[0]), int(parts[1])
    except Exception as error:  # a probe that fails says so and goes on
        record["error"] = repr(error)[:200]
    return record


def _run() -> None:
    out_path = os.environ["SOAK_MEMORY_PROBE_OUT"]
    trim_seconds = float(os.environ.get("SOAK_MEMORY_PROBE_TRIM_SECONDS", "0"))
    purge_seconds = float(os.environ.get("SOAK_MEMORY_PROBE_PURGE_SECONDS", "0"))
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    time.sleep(20)  # the service has migrated and started its engine
    from warehouse.client import connect

    client = connect(os.environ["SYNCSIGHT_CLICKHOUSE_URL"])  # the service's engine, shared
    started = last_trim = last_purge = time.monotonic()
    with open(out_path, "a", encoding="utf-8") as out:
        while True:
            record = {"t": round(time.monotonic() - started, 1)} | _record(client, libc)
            if trim_seconds and time.monotonic() - last_trim >= trim_seconds:
                before = _resident_mib()
                libc.malloc_trim(0)
                record["trim_freed"], last_trim = before - _resident_mib(), time.monotonic()
            if purge_seconds and time.monotonic() - last_purge >= purge_seconds:
                before = _resident_mib()
                client.command("SYSTEM JEMALLOC PURGE")
                record["purge_freed"], last_purge = before - _resident_mib(), time.monotonic()
            out.write(json.dumps(record) + "\n")
            out.flush()
            time.sleep(PERIOD_SECONDS)


if "serve" in sys.argv and os.environ.get("SOAK_MEMORY_PROBE_OUT"):
    threading.Thread(target=_run, daemon=True, name="soak-memory-probe").start()
