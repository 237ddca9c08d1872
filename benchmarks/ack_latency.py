"""Acknowledgement latency and concurrent throughput of OTLP/HTTP ingest against ``syncsight serve``
on the embedded engine.

1. One OpenTelemetry SDK ``OTLPSpanExporter`` exporting batches of 512 business-event spans one after
   another, one request in flight, as the SDK's ``BatchSpanProcessor`` sends: the time each
   ``export()`` call takes, p50 / p99 / max, and apart from it the encoding of the spans in the
   sender's Python (timed on the same batch), so that the acknowledgement wait is seen. An export
   not answered with success counts as a failure (the SDK's retries would hide it as latency).
2. Sixteen concurrent senders posting the same kind of 512-span requests (pre-encoded with the SDK's
   OTLP encoder, so that the clients' Python is not what is measured): acknowledged spans/s.

Run: ``.venv/bin/python benchmarks/ack_latency.py [--exports 600] [--seconds 60] [--senders 16]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.decode import build_request, record_spans
from benchmarks.ingest import inserts_so_far
from benchmarks.service_env import add_service_env, service_env
from tests.service import start_service, stop_service

SPANS_PER_EXPORT = 512
"""The SDK BatchSpanProcessor's default max_export_batch_size."""


def percentiles(milliseconds: list[float]) -> dict[str, float]:
    ordered = sorted(milliseconds)
    return {
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))],
        "max_ms": ordered[-1],
    }


def sequential_exports(base_url: str, exports: int, warm_up: int) -> dict[str, object]:
    """Export ``exports`` batches one after another through the SDK exporter. Its ``export()``
    includes encoding the spans in the sender's Python; that encoding is timed apart on the same
    batch just before, so the acknowledgement wait (the rest) is reported too."""
    batches = [record_spans(SPANS_PER_EXPORT, seed=seed) for seed in range(8)]
    exporter = OTLPSpanExporter(endpoint=f"{base_url}/v1/traces", timeout=30)
    export_ms: list[float] = []
    encode_ms: list[float] = []
    failures = 0
    try:
        for number in range(warm_up + exports):
            batch = batches[number % len(batches)]
            started = time.perf_counter()
            encode_spans(batch).SerializeToString()
            encoded = time.perf_counter()
            result = exporter.export(batch)
            exported = time.perf_counter()
            if number < warm_up:
                continue
            if result is SpanExportResult.SUCCESS:
                encode_ms.append((encoded - started) * 1000)
                export_ms.append((exported - encoded) * 1000)
            else:
                failures += 1
    finally:
        exporter.shutdown()
    return {
        "exports": len(export_ms),
        "failures": failures,
        "export": percentiles(export_ms),
        "encode": percentiles(encode_ms),
        "acknowledgement": percentiles(
            [export - encode for export, encode in zip(export_ms, encode_ms, strict=True)]
        ),
        "spans_per_second": SPANS_PER_EXPORT * len(export_ms) / (sum(export_ms) / 1000),
    }


def concurrent_senders(base_url: str, senders: int, seconds: float) -> dict[str, float]:
    """``senders`` clients posting 512-span requests for ``seconds``: acknowledged spans/s."""
    bodies = [build_request(SPANS_PER_EXPORT, seed=seed).SerializeToString() for seed in range(16)]
    acknowledged = [0] * senders
    refused = [0] * senders
    stop = threading.Event()

    def send(number: int) -> None:
        with httpx.Client(timeout=60) as http:
            index = number
            while not stop.is_set():
                response = http.post(
                    f"{base_url}/v1/traces",
                    content=bodies[index % len(bodies)],
                    headers={"Content-Type": "application/x-protobuf"},
                )
                if response.status_code == 200:
                    acknowledged[number] += SPANS_PER_EXPORT
                else:
                    refused[number] += 1
                    time.sleep(float(response.headers.get("Retry-After", "0.1")))
                index += senders

    inserted_before, _ = inserts_so_far(base_url)
    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    inserted_after, _ = inserts_so_far(base_url)
    return {
        "senders": senders,
        "seconds": elapsed,
        "acknowledged_spans": sum(acknowledged),
        "acknowledged_spans_per_second": sum(acknowledged) / elapsed,
        "inserted_spans_per_second": (inserted_after - inserted_before) / elapsed,
        "refused_requests": sum(refused),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exports", type=int, default=600, help="sequential exports measured")
    parser.add_argument("--warm-up", type=int, default=20, help="sequential exports not measured")
    parser.add_argument("--seconds", type=float, default=60.0, help="concurrent phase duration")
    parser.add_argument("--senders", type=int, default=16, help="concurrent senders")
    add_service_env(parser, "SYNCSIGHT_INGEST_ACKNOWLEDGE=insert")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    extra_env = service_env(arguments.service_env)

    with tempfile.TemporaryDirectory(prefix="syncsight-ack-") as directory:
        service = start_service(Path(directory), env=extra_env)
        try:
            sequential = sequential_exports(service.base_url, arguments.exports, arguments.warm_up)
            print(
                f"sequential SDK exporter, {SPANS_PER_EXPORT} spans per export, "
                f"{sequential['exports']} exports ({sequential['failures']} failed), "
                f"{sequential['spans_per_second']:,.0f} spans/s for one exporter",
                flush=True,
            )
            for name in ("export", "encode", "acknowledgement"):
                figures = sequential[name]
                assert isinstance(figures, dict)
                print(
                    f"  {name:>15}: p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms,"
                    f" max {figures['max_ms']:.1f} ms",
                    flush=True,
                )
            concurrent = (
                concurrent_senders(service.base_url, arguments.senders, arguments.seconds)
                if arguments.seconds > 0
                else {}
            )
            if concurrent:
                print(
                    f"{arguments.senders} concurrent senders, {concurrent['seconds']:.0f} s: "
                    f"{concurrent['acknowledged_spans_per_second']:,.0f} spans/s acknowledged, "
                    f"{concurrent['inserted_spans_per_second']:,.0f} spans/s inserted, "
                    f"{concurrent['refused_requests']:.0f} requests refused",
                    flush=True,
                )
        finally:
            stop_service(service)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    if arguments.json:
        arguments.json.write_text(
            json.dumps({"sequential": sequential, "concurrent": concurrent, "load": load})
        )


if __name__ == "__main__":
    main()
