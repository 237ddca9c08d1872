"""The malloc-trim loop: it hands free C-heap memory back (measured in this process's RSS), keeps
going after a failed call and says so, and the service reports it in /metrics and /readyz."""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.service import running_service
from warehouse.malloc_trim import MallocTrimmer, resident_bytes

CHUNK_BYTES = 4096
CHUNKS = 25_000  # ~100 MiB of C heap


def free_heap_below_a_live_chunk() -> ctypes.c_void_p:
    """Leave ~100 MiB of freed C heap under one live chunk, so that free() cannot return it from
    the top of the heap: the shape a long-running engine leaves. Returns the live chunk."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    chunks = [libc.malloc(CHUNK_BYTES) for _ in range(CHUNKS)]
    for chunk in chunks:
        ctypes.memset(chunk, 1, CHUNK_BYTES)  # resident
    top = libc.malloc(CHUNK_BYTES)
    for chunk in chunks:
        libc.free(chunk)
    return ctypes.c_void_p(top)


def trimmer(interval: float, on_trim: list[int]) -> MallocTrimmer:
    made = MallocTrimmer(interval, on_trim.append)
    if not made.available:
        pytest.skip("the C library has no malloc_trim (not glibc)")
    return made


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


class TestMallocTrimmer:
    def test_trim_releases_the_free_heap_and_reports_what_it_released(self) -> None:
        released: list[int] = []
        trim = trimmer(60, released)
        trim.trim_once()  # whatever the test run left behind
        before = resident_bytes()
        top = free_heap_below_a_live_chunk()
        assert resident_bytes() - before > CHUNKS * CHUNK_BYTES // 2  # free() kept it
        got = trim.trim_once()
        assert got > CHUNKS * CHUNK_BYTES // 2
        assert released[-1] == got
        ctypes.CDLL(None).free(top)

    def test_the_loop_trims_at_its_interval_until_stopped(self) -> None:
        released: list[int] = []
        trim = trimmer(0.05, released)
        trim.start()
        try:
            wait_for(lambda: len(released) >= 3)
            assert trim.problem() is None
        finally:
            trim.stop()
        calls = len(released)
        time.sleep(0.2)
        assert len(released) == calls

    def test_a_failed_call_is_reported_and_the_loop_goes_on(self) -> None:
        calls: list[int] = []
        recovered = threading.Event()

        def report(released: int) -> None:
            calls.append(released)
            if not recovered.is_set():
                raise OSError("metrics unavailable")

        trim = MallocTrimmer(0.05, report)
        if not trim.available:
            pytest.skip("the C library has no malloc_trim (not glibc)")
        trim.start()
        try:
            wait_for(lambda: len(calls) >= 2)
            assert trim.problem() == "the malloc-trim loop failed: OSError: metrics unavailable"
            recovered.set()
            wait_for(lambda: trim.problem() is None)
        finally:
            trim.stop()

    def test_an_interval_of_zero_or_less_is_refused(self) -> None:
        with pytest.raises(ValueError, match="interval_seconds=0: expected more than 0"):
            MallocTrimmer(0, lambda released: None)


class TestServiceTrims:
    def test_metrics_count_the_trims_and_readyz_stays_ok(self, tmp_path: Path) -> None:
        if not MallocTrimmer(1, lambda released: None).available:
            pytest.skip("the C library has no malloc_trim (not glibc)")
        with running_service(tmp_path, env={"SYNCSIGHT_MALLOC_TRIM_INTERVAL": "0.2"}) as service:
            deadline = time.monotonic() + 30
            trims = 0.0
            while trims < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
                for line in httpx.get(f"{service.base_url}/metrics").text.splitlines():
                    if line.startswith("syncsight_malloc_trims_total "):
                        trims = float(line.split()[1])
            assert trims >= 2
            ready = httpx.get(f"{service.base_url}/readyz")
            assert ready.status_code == 200
            assert ready.json()["status"] == "ok"

    def test_an_interval_of_zero_turns_the_loop_off(self, tmp_path: Path) -> None:
        with running_service(tmp_path, env={"SYNCSIGHT_MALLOC_TRIM_INTERVAL": "0"}) as service:
            time.sleep(0.5)
            text = httpx.get(f"{service.base_url}/metrics").text
            assert "syncsight_malloc_trims_total 0.0" in text
