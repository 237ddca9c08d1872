"""CPU a running service uses while nobody asks anything and no spans arrive, on a loaded quarter.

Starts ``syncsight serve`` on the data directory (no other process may hold it), waits until the
evaluator's state is current (the ``X-Syncsight-Known-At`` header reaches the start) and the
process has gone quiet, then samples its CPU time from /proc over ``--seconds``, and says which
threads (by name: the engine's pools, Python's threads under the process name) spent it.
Run: ``.venv/bin/python benchmarks/idle_cpu.py --data /tmp/medium/data [--seconds 60]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import cpu_seconds, peak_rss_mib, thread_cpu_seconds
from tests.firm import write_firm_config
from tests.service import wait_until_current

SYNCSIGHT = shutil.which("syncsight", path=str(Path(sys.executable).parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="embedded data directory")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--port", type=int, default=18431)
    parser.add_argument("--sla-interval", type=float, default=15.0)
    arguments = parser.parse_args()
    assert SYNCSIGHT, "syncsight is not installed in this environment (make install)"
    config = write_firm_config(arguments.data.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSIGHT_")}
    env.update(
        SYNCSIGHT_CLICKHOUSE_URL=f"chdb://{arguments.data.resolve()}",
        SYNCSIGHT_PORT=str(arguments.port),
        SYNCSIGHT_GRPC_PORT=str(arguments.port + 1),
        SYNCSIGHT_CONFIG=str(config),
        SYNCSIGHT_SLA_INTERVAL=str(arguments.sla_interval),
    )
    started = datetime.now(UTC)
    process = subprocess.Popen([SYNCSIGHT, "serve"], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{arguments.port}"
    try:
        wait_until_current(base, started, 1800)
        caught_up = (datetime.now(UTC) - started).total_seconds()
        print(f"state current {caught_up:.1f} s after start", flush=True)
        time.sleep(2 * arguments.sla_interval)  # the answer above, and a tick or two, settle
        before, threads = cpu_seconds(process.pid), thread_cpu_seconds(process.pid)
        time.sleep(arguments.seconds)
        used = cpu_seconds(process.pid) - before
        print(
            f"idle: {used:.2f} CPU-s in {arguments.seconds:g} s = {used / arguments.seconds:.3f} "
            f"cores; peak RSS {peak_rss_mib(process.pid):.0f} MiB",
            flush=True,
        )
        after = thread_cpu_seconds(process.pid)
        spent = {name: after[name] - threads.get(name, 0.0) for name in after}
        print(
            "by thread (CPU-s): "
            + ", ".join(f"{n} {s:.2f}" for n, s in sorted(spent.items(), key=lambda i: -i[1]) if s),
            flush=True,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


if __name__ == "__main__":
    main()
