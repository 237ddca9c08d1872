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
  objects allocated per generation since its last collection); the process's CPU seconds (its
  threads and the engine's, user and system); the thread count, and every
  ``SMAPS_EVERY``-th record the threads by name (``threads_by_name``) and the resident memory by
  kind of mapping (``smaps``: glibc's main heap, glibc's thread arenas (anonymous mappings on a
  64 MiB boundary), thread stacks (anonymous mappings right above a guard page), other anonymous
  memory (the engine's jemalloc, Python's arenas, glibc's large blocks), files), MiB;
- what the service holds that grows with time rather than with the work: the engine clients
  every ``warehouse.pool.ClientPool`` opened (``pool_clients``), the alerts the SLA evaluator
  holds (``alerts_record``, ``alerts_timers``) and its dispatcher's delivered maps
  (``alerts_delivered``), found by wrapping their constructors when the probe loads. Not
  ``gc.get_objects()``: on Python 3.11 it hands this thread tuples that another thread is still
  building, whose ``_PyTuple_Resize`` then fails with ``SystemError: Objects/tupleobject.c: bad
  argument to internal function`` (CPython gh-107137, fixed in 3.12). The soak's evaluator failed
  that way while this probe ran.
- every ``SMAPS_EVERY``-th record, glibc's ``malloc_info`` per heap (``malloc_heaps``: heap number,
  MiB obtained from the system, MiB free in chunks of under 4 KiB, 4-64 KiB and over 64 KiB, fast
  bins included): free memory in chunks under a page cannot be handed back by ``malloc_trim``, so
  this tells fragmentation from memory merely not yet trimmed.

- Arrow's memory pool (the evaluator's ``query_arrow`` reads; mimalloc in the wheels): its backend,
  ``arrow_allocated`` and ``arrow_max`` (MiB in use now and at most).

Three experiments, off unless set: ``SOAK_MEMORY_PROBE_TRIM_SECONDS`` calls glibc's ``malloc_trim(0)``
at that interval, ``SOAK_MEMORY_PROBE_PURGE_SECONDS`` runs ``SYSTEM JEMALLOC PURGE``,
``SOAK_MEMORY_PROBE_ARROW_RELEASE_SECONDS`` asks Arrow's pool to hand back what it keeps
(``release_unused``); each record then says how many MiB of RSS the call released.
Not part of the product: a measuring aid only.
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
SMAPS_EVERY = 4
MIB = 1 << 20
ARENA_ALIGNMENT = 64 * MIB
"""glibc's thread arenas are heaps of at most 64 MiB mapped on a 64 MiB boundary (HEAP_MAX_SIZE)."""
GUARD_MAX_BYTES = 64 * 1024
_WATCHED: dict[str, list[Any]] = {"pools": [], "evaluators": [], "dispatchers": []}
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


def _watch() -> None:
    """Keep every client pool, evaluator and dispatcher the service builds (a measuring aid)."""
    from slas.dispatch import Dispatcher
    from slas.evaluator import SlaEvaluator
    from warehouse.pool import ClientPool

    for cls, kind in (
        (ClientPool, "pools"),
        (SlaEvaluator, "evaluators"),
        (Dispatcher, "dispatchers"),
    ):
        original = cls.__init__

        def init(
            self: Any, *args: Any, _original: Any = original, _kind: str = kind, **kw: Any
        ) -> None:
            _original(self, *args, **kw)
            _WATCHED[_kind].append(self)

        cls.__init__ = init  # type: ignore[method-assign]


def _held() -> dict[str, Any]:
    record: dict[str, Any] = {
        "pool_clients": [len(getattr(pool, "_clients", ())) for pool in _WATCHED["pools"]]
    }
    for evaluator in _WATCHED["evaluators"]:
        timers = getattr(evaluator, "_timer_alerts", None)
        record["alerts_record"] = len(getattr(evaluator, "_record", {}))
        record["alerts_timers"] = 0 if timers is None else len(timers.by_timer)
    for dispatcher in _WATCHED["dispatchers"]:
        states = getattr(dispatcher, "_state", {})
        record["alerts_delivered"] = sum(len(s.delivered) for s in states.values())
    return record


def _smaps() -> dict[str, int]:
    """Resident MiB by kind of mapping (see the module's docstring)."""
    kinds = dict.fromkeys(("heap", "arenas", "stacks", "anon", "files"), 0)
    previous: tuple[int, int, str, str] | None = None
    kind = "anon"
    with open("/proc/self/smaps", encoding="ascii", errors="replace") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" not in fields[0]:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                perms, path = fields[1], fields[5] if len(fields) > 5 else ""
                if path == "[heap]":
                    kind = "heap"
                elif path.startswith("/"):
                    kind = "files"
                elif path:
                    kind = "stacks" if path == "[stack]" else "anon"
                elif start % ARENA_ALIGNMENT == 0 and end - start <= ARENA_ALIGNMENT:
                    kind = "arenas"
                elif (
                    previous is not None
                    and previous[1] == start
                    and previous[2] == "---p"
                    and not previous[3]
                    and previous[1] - previous[0] <= GUARD_MAX_BYTES
                ):
                    kind = "stacks"
                else:
                    kind = "anon"
                previous = (start, end, perms, path)
            elif fields[0] == "Rss:":
                kinds[kind] += int(fields[1])
    return {name: kb // 1024 for name, kb in kinds.items()}


MALLOC_SIZE = re.compile(r'<size from="(\d+)" to="(\d+)" total="(\d+)" count="(\d+)"/>')
MALLOC_SYSTEM = re.compile(r'<system type="current" size="(\d+)"/>')
FREE_BUCKETS = ((4096, "free_small"), (65536, "free_mid"), (None, "free_large"))


def _malloc_heaps(libc: ctypes.CDLL) -> list[dict[str, int]]:
    """glibc's ``malloc_info`` per heap, summarised (see the module's docstring)."""
    buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
    stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
    try:
        libc.malloc_info(0, stream)
    finally:
        libc.fclose(stream)
    text = ctypes.string_at(buffer, size.value).decode("ascii", "replace")
    libc.free(buffer)
    heaps = []
    for number, body in re.findall(r'<heap nr="(\d+)">(.*?)</heap>', text, re.S):
        heap = {"nr": int(number)} | {name: 0 for _, name in FREE_BUCKETS}
        for _low, high, total, _count in MALLOC_SIZE.findall(body):
            name = next(n for limit, n in FREE_BUCKETS if limit is None or int(high) < limit)
            heap[name] += int(total)
        system = MALLOC_SYSTEM.search(body)
        heap["system"] = int(system.group(1)) if system else 0
        heaps.append({k: v if k == "nr" else v // MIB for k, v in heap.items()})
    return heaps


def _threads_by_name() -> dict[str, int]:
    names: dict[str, int] = {}
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm", encoding="utf-8", errors="replace") as comm:
                name = re.sub(r"[\d_-]+$", "", comm.read().strip()) or "?"
        except OSError:
            continue
        names[name] = names.get(name, 0) + 1
    return dict(sorted(names.items(), key=lambda item: -item[1]))


def _arrow() -> dict[str, Any]:
    arrow = sys.modules.get("pyarrow")
    if arrow is None:  # not imported by the service (yet)
        return {}
    pool = arrow.default_memory_pool()
    return {
        "arrow_backend": pool.backend_name,
        "arrow_allocated": pool.bytes_allocated() // MIB,
        "arrow_max": pool.max_memory() // MIB,
    }


def _record(client: Any, libc: ctypes.CDLL) -> dict[str, Any]:
    record: dict[str, Any] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                record[key] = int(line.split()[1]) // 1024
    info = libc.mallinfo2()
    record |= (
        {
            "glibc_arena": info.arena // MIB,
            "glibc_used": info.uordblks // MIB,
            "glibc_free": info.fordblks // MIB,
            "glibc_mmap": info.hblkhd // MIB,
            "py_blocks": sys.getallocatedblocks(),
            "gc_counts": list(gc.get_count()),
            "threads": len(os.listdir("/proc/self/task")),
            "cpu_seconds": round(sum(os.times()[:2]), 1),
        }
        | _held()
        | _arrow()
    )
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
    release_seconds = float(os.environ.get("SOAK_MEMORY_PROBE_ARROW_RELEASE_SECONDS", "0"))
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    libc.open_memstream.restype = ctypes.c_void_p
    libc.open_memstream.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
    libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.fclose.argtypes = (ctypes.c_void_p,)
    libc.free.argtypes = (ctypes.c_void_p,)
    time.sleep(20)  # the service has migrated and started its engine
    from warehouse.client import connect

    client = connect(os.environ["SYNCSIGHT_CLICKHOUSE_URL"])  # the service's engine, shared
    started = last_trim = last_purge = last_release = time.monotonic()
    records = 0
    with open(out_path, "a", encoding="utf-8") as out:
        while True:
            record = {"t": round(time.monotonic() - started, 1)} | _record(client, libc)
            if records % SMAPS_EVERY == 0:
                record |= {
                    "smaps": _smaps(),
                    "threads_by_name": _threads_by_name(),
                    "malloc_heaps": _malloc_heaps(libc),
                }
            records += 1
            if trim_seconds and time.monotonic() - last_trim >= trim_seconds:
                before = _resident_mib()
                libc.malloc_trim(0)
                record["trim_freed"], last_trim = before - _resident_mib(), time.monotonic()
            if purge_seconds and time.monotonic() - last_purge >= purge_seconds:
                before = _resident_mib()
                client.command("SYSTEM JEMALLOC PURGE")
                record["purge_freed"], last_purge = before - _resident_mib(), time.monotonic()
            arrow = sys.modules.get("pyarrow")
            if release_seconds and arrow and time.monotonic() - last_release >= release_seconds:
                before = _resident_mib()
                arrow.default_memory_pool().release_unused()
                record["release_freed"], last_release = before - _resident_mib(), time.monotonic()
            out.write(json.dumps(record) + "\n")
            out.flush()
            time.sleep(PERIOD_SECONDS)


if "serve" in sys.argv and os.environ.get("SOAK_MEMORY_PROBE_OUT"):
    _watch()
    threading.Thread(target=_run, daemon=True, name="soak-memory-probe").start()
