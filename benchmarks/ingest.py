"""End-to-end ingest benchmark: pre-built OTLP protobuf requests of business-event spans, sent by
concurrent clients to ``syncsight serve`` on the embedded engine, acknowledged only when durable.

Reports acknowledged spans/s (and how many reached ClickHouse in the same time), the server's peak
RSS, the CPU time the service and the clients spent per acknowledged span (a measure that holds on
a machine shared with other work, where spans/s does not), the load average, and in the same run
the bare decode rate of the same requests (the compiled decoder the service uses, and the
pure-Python ``decode_protobuf``), so the share the decoder takes is visible.
Run: ``.venv/bin/python benchmarks/ingest.py [--seconds 60] [--clients 4] [--spans 1000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.decode import build_request, spans_per_second
from benchmarks.process_stats import (
    cpu_seconds,
    own_cpu_seconds,
    peak_rss_mib,
    thread_cpu_seconds,
)
from benchmarks.service_env import add_service_env, service_env
from collector.decode import decode_protobuf
from collector.limits import DecodeLimits
from collector.native_decode import NATIVE_DECODER_BUILT, decode_protobuf_request
from tests.service import start_service, stop_service


def inserts_so_far(base_url: str) -> tuple[float, float]:
    """Rows the service has inserted into ClickHouse so far, and in how many inserts (its insert
    batch-size histogram)."""
    found = {}
    for line in httpx.get(f"{base_url}/metrics").text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("syncsight_insert_batch_rows_sum", "syncsight_insert_batch_rows_count"):
            found[name] = float(value)
    return (
        found.get("syncsight_insert_batch_rows_sum", float("nan")),
        found.get("syncsight_insert_batch_rows_count", float("nan")),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--spans", type=int, default=1000, help="spans per request")
    parser.add_argument("--requests", type=int, default=16, help="distinct pre-built requests")
    parser.add_argument(
        "--sla-interval",
        type=float,
        default=15.0,
        help="SYNCSIGHT_SLA_INTERVAL of the service (15, its default: the SLA evaluator and the "
        "dashboard's warm-up run during ingest, as in production; 3600: ingest alone)",
    )
    add_service_env(parser, "SYNCSIGHT_BATCH_MAX_ROWS=100000")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    extra_env = service_env(arguments.service_env)

    bodies = [
        build_request(arguments.spans, seed=seed).SerializeToString()
        for seed in range(arguments.requests)
    ]
    decode_rate = spans_per_second(
        lambda: decode_protobuf(bodies[0], DecodeLimits()).encoded(), arguments.spans, 10
    )
    print(f"bare decode_protobuf + encoding: {decode_rate:,.0f} spans/s (one core)", flush=True)
    service_decode_rate = spans_per_second(
        lambda: decode_protobuf_request(bodies[0], DecodeLimits()), arguments.spans, 10
    )
    print(
        f"bare decode_protobuf_request: {service_decode_rate:,.0f} spans/s (one core, "
        f"compiled decoder {'built' if NATIVE_DECODER_BUILT else 'NOT built'})",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="syncsight-bench-") as directory:
        service = start_service(
            Path(directory),
            env={
                "SYNCSIGHT_SLA_INTERVAL": str(arguments.sla_interval),
                **extra_env,
            },
        )
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
        service_cpu_started, client_cpu_started = (
            cpu_seconds(service.process.pid),
            own_cpu_seconds(),
        )
        threads_cpu_started = thread_cpu_seconds(service.process.pid)
        inserted_started, inserts_started = inserts_so_far(service.base_url)
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
        inserted_total, inserts_total = inserts_so_far(service.base_url)
        inserted = inserted_total - inserted_started
        inserts = inserts_total - inserts_started
        service_cpu = cpu_seconds(service.process.pid) - service_cpu_started
        threads_cpu = thread_cpu_seconds(service.process.pid)
        client_cpu = own_cpu_seconds() - client_cpu_started
        load_average = os.getloadavg()
        rss = peak_rss_mib(service.process.pid)
        stop_service(service)

    spans = max(sum(acknowledged), 1)
    figures = {
        "spans_per_second": sum(acknowledged) / duration,
        # acknowledged spans may still wait in the spool at the end (at most batch_max_rows)
        "inserted_spans_per_second": inserted / duration,
        "mean_spans_per_insert": inserted / max(inserts, 1),
        "service_cpu_us_per_span": service_cpu * 1e6 / spans,
        "client_cpu_us_per_span": client_cpu * 1e6 / spans,
        # by thread name, of the threads alive at the end (an ended thread's time is not here)
        "service_cpu_us_per_span_by_thread": {
            name: round((seconds - threads_cpu_started.get(name, 0.0)) * 1e6 / spans, 2)
            for name, seconds in sorted(threads_cpu.items(), key=lambda item: -item[1])
            if seconds - threads_cpu_started.get(name, 0.0) > 0
        },
        "load_average_1_5_15": load_average,
        "acknowledged_spans": sum(acknowledged),
        "refused_requests": sum(refused),
        "seconds": duration,
        "clients": arguments.clients,
        "sla_interval_seconds": arguments.sla_interval,
        "service_env": extra_env,
        "peak_rss_mib": rss,
        "bare_decode_spans_per_second": decode_rate,
        "bare_service_decode_spans_per_second": service_decode_rate,
        "compiled_decoder": NATIVE_DECODER_BUILT,
    }
    print(json.dumps(figures, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
