"""What the benchmarks read about a process from /proc (peak memory, CPU time, whether it has
gone quiet) and about their own: CPU time."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path


def _status_mib(pid: int, field: str) -> float:
    """A memory field (kB) of a process's /proc ``status``, in MiB; NaN when absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib(pid: int) -> float:
    """VmHWM (the high-water mark of resident memory) of a process, in MiB."""
    return _status_mib(pid, "VmHWM")


def resident_mib(pid: int) -> float:
    """VmRSS (resident memory now) of a process, in MiB."""
    return _status_mib(pid, "VmRSS")


def reset_peak_rss(pid: int) -> None:
    """Start a process's VmHWM again from its resident memory now (Linux 4.0 and later), so that
    ``peak_rss_mib`` then gives the peak of what follows."""
    Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")


def _stat_seconds(stat: Path, *, children: bool) -> float:
    """User plus system CPU time in a /proc ``stat`` file (and that of finished children)."""
    fields = stat.read_text().rpartition(")")[2].split()  # the name in (…) may hold spaces
    ticks = fields[11:15] if children else fields[11:13]
    return sum(int(value) for value in ticks) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its finished children, from /proc."""
    return _stat_seconds(Path(f"/proc/{pid}/stat"), children=True)


def own_cpu_seconds() -> float:
    """User plus system CPU time of the calling process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_until_idle(pid: int, *, below: float = 0.1, quiet_seconds: float = 3.0) -> float:
    """Wait until process ``pid`` uses less than ``below`` of a core for ``quiet_seconds`` (its
    start-up work, such as the first SLA evaluation and its alerts, is over); seconds waited."""
    started = time.monotonic()
    quiet_since = time.monotonic()
    before = cpu_seconds(pid)
    while time.monotonic() - quiet_since < quiet_seconds:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - before > below * 0.5:
            quiet_since = time.monotonic()
        before = now
    return time.monotonic() - started


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """User plus system CPU time of a process's live threads, summed by thread name (the engine
    names its threads by pool: ``MergeMutate``, ``QueryPipelineEx``…; Python threads carry the
    process name)."""
    totals: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            seconds = _stat_seconds(task / "stat", children=False)
        except OSError:  # the thread ended while we looked
            continue
        totals[name] = totals.get(name, 0.0) + seconds
    return totals
