"""End-to-end ingest benchmark: pre-built OTLP protobuf requests of business-event spans, sent by
concurrent clients to ``syncsight serve`` on the embedded engine, acknowledged only when durable.

Reports acknowledged spans/s, the server's peak RSS, and in the same run the bare
``decode_protobuf`` rate of the same requests, so the share the decoder takes is visible.
Run: ``.venv/bin/python benchmarks/ingest.py [--seconds 60] [--clients 4] [--spans 1000]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.decode import build_request, spans_per_second
from collector.decode import decode_protobuf
from collector.limits import DecodeLimits
from tests.service import start_service, stop_service


def peak_rss_mib(pid: int) -> float:
    """VmHWM (the high-water mark of resident memory) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--spans", type=int, default=1000, help="spans per request")
    parser.add_argument("--requests", type=int, default=16, help="distinct pre-built requests")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()

    bodies = [
        build_request(arguments.spans, seed=seed).SerializeToString()
        for seed in range(arguments.requests)
    ]
    decode_rate = spans_per_second(
        lambda: decode_protobuf(bodies[0], DecodeLimits()), arguments.spans, 10
    )
    print(f"bare decode_protobuf: {decode_rate:,.0f} spans/s (one core)", flush=True)

    with tempfile.TemporaryDirectory(prefix="syncsight-bench-") as directory:
        service = start_service(Path(directory))
        acknowledged = [0] * arguments.clients
        refused = [0] * arguments.clients
        stop = threading.Event()

        def client(number: int) -> None:
            with httpx.Client(timeout=60) as http:
                index = number
                while not stop.is_set():
                    response = http.post(
                        f"{service.base_url}/v1/traces",
                        content=bodies[index % len(bodies)],
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                    if response.status_code == 200:
                        acknowledged[number] += arguments.spans
                    else:
                        refused[number] += 1
                        time.sleep(float(response.headers.get("Retry-After", "0.1")))
                    index += arguments.clients

        threads = [threading.Thread(target=client, args=(n,)) for n in range(arguments.clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        last, last_time = 0, started
        while (elapsed := time.monotonic() - started) < arguments.seconds:
            time.sleep(min(5.0, arguments.seconds - elapsed))
            now, total = time.monotonic(), sum(acknowledged)
            print(
                f"  {now - started:5.1f}s  {(total - last) / (now - last_time):>9,.0f} spans/s  "
                f"RSS peak {peak_rss_mib(service.process.pid):,.0f} MiB",
                flush=True,
            )
            last, last_time = total, now
        stop.set()
        for thread in threads:
            thread.join()
        duration = time.monotonic() - started
        rss = peak_rss_mib(service.process.pid)
        stop_service(service)

    figures = {
        "spans_per_second": sum(acknowledged) / duration,
        "acknowledged_spans": sum(acknowledged),
        "refused_requests": sum(refused),
        "seconds": duration,
        "clients": arguments.clients,
        "peak_rss_mib": rss,
        "bare_decode_spans_per_second": decode_rate,
    }
    print(json.dumps(figures, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
