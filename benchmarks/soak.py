"""Soak test: ``syncsight serve`` on the embedded engine, fed at a steady rate for a long time by
real OpenTelemetry SDK exporters (BatchSpanProcessor + OTLP/HTTP protobuf, one per sender process;
``--sender sdk``) or, for rates the SDK cannot reach, by pre-encoded requests recorded once with the
SDK and made new each time (``--sender requests``, ``benchmarks/paced_requests.py``).

Every 10 s it samples the service's resident memory, what it has inserted and the SLA evaluator's
lag; at the end it prints RSS at start, peak and end, the RSS slope after the warm-up (MiB per
hour, least squares), the errors (exports that failed, spans the SDK dropped, requests the service
did not answer 200, insert failures, loop errors, quarantined batches, /readyz not ready, probes
unanswered, ERROR lines in its log), how long the answered probes took, and the spans stored
(counted in ClickHouse after the service stopped) against the spans sent.
Run: ``.venv/bin/python benchmarks/soak.py [--minutes 30] [--rate 2000] [--sender sdk|requests]
[--senders 2] [--queue-size 2048] [--connections 4] [--engagement-size 1000]
[--memory-probe FILE] [--json FILE] [--keep-log FILE]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.decode import business_attributes
from benchmarks.paced_requests import Tally, build_template, send_paced
from benchmarks.process_stats import peak_rss_mib
from tests.service import Service, start_service, stop_service
from warehouse.client import connect

SERVICE_NAME = "syncsight-soak"
SAMPLE_SECONDS = 10.0
PROBE_TIMEOUT_SECONDS = 30.0
FINAL_WAIT_SECONDS = 900.0
TICK_SECONDS = 0.1
PROBE = Path(__file__).resolve().parent / "memory_probe"
"""A ``sitecustomize`` that logs where the service's memory is (``--memory-probe``)."""
LOGGED_ERRORS_KEPT = 20
WARM_UP_SHARE = 0.2
"""The share of the run left out of the RSS slope: caches and the engine's pools fill up first."""
ERROR_METRICS = (
    "syncsight_insert_failures_total",
    "syncsight_loop_errors_total",
    "syncsight_quarantined_batches_total",
    "syncsight_spans_rejected_total",
)


@dataclass
class Counts:
    """What the senders did, shared across their processes."""

    created: Synchronized[int]
    exported: Synchronized[int]
    failed: Synchronized[int]

    @classmethod
    def new(cls) -> Counts:
        return cls(*(multiprocessing.Value("q", 0) for _ in range(3)))


def send(
    endpoint: str,
    rate: float,
    seconds: float,
    seed: int,
    queue_size: int,
    engagement_size: int,
    counts: Counts,
) -> None:
    """One sender process: a TracerProvider whose BatchSpanProcessor (a queue of ``queue_size``
    spans) exports over OTLP/HTTP, ``rate`` business-event spans per second for ``seconds``."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class CountingExporter(SpanExporter):
        """The SDK's OTLP exporter, counting the spans each export delivered or lost."""

        def __init__(self, inner: SpanExporter) -> None:
            self.inner = inner

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            result = self.inner.export(spans)
            target = counts.exported if result is SpanExportResult.SUCCESS else counts.failed
            with target.get_lock():
                target.value += len(spans)
            return result

        def shutdown(self) -> None:
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return self.inner.force_flush(timeout_millis)

    provider = TracerProvider(
        resource=Resource({"service.name": SERVICE_NAME, "service.instance.id": str(seed)}),
        shutdown_on_exit=False,
    )
    provider.add_span_processor(
        BatchSpanProcessor(
            CountingExporter(OTLPSpanExporter(endpoint=endpoint, timeout=30)),
            max_queue_size=queue_size,
        )
    )
    tracer = provider.get_tracer("syncsight.soak", "0.1.0")
    rnd = random.Random(seed)
    per_tick = rate * TICK_SECONDS
    started = time.monotonic()
    created = 0
    owed = 0.0
    while (elapsed := time.monotonic() - started) < seconds:
        owed += per_tick
        batch = int(owed)
        owed -= batch
        for _ in range(batch):
            with tracer.start_as_current_span("sync.step") as span:
                span.set_attributes(
                    business_attributes(
                        seed * 1_000_000_000 + created, rnd, engagement_size=engagement_size
                    )
                )
            created += 1
        with counts.created.get_lock():
            counts.created.value += batch
        time.sleep(max(0.0, (elapsed // TICK_SECONDS + 1) * TICK_SECONDS - elapsed))
    provider.shutdown()  # exports what is queued


def send_requests(
    endpoint: str,
    rate: float,
    seconds: float,
    seed: int,
    spans_per_request: int,
    templates: int,
    connections: int,
    engagement_size: int,
    counts: Counts,
) -> None:
    """One sender process of pre-encoded requests (``benchmarks/paced_requests.py``): ``templates``
    requests recorded with the SDK, sent made new at ``rate`` spans per second for ``seconds``."""

    def adder(target: Synchronized[int]) -> Callable[[int], None]:
        def add(spans: int) -> None:
            with target.get_lock():
                target.value += spans

        return add

    built = [
        build_template(seed, index, spans_per_request, engagement_size, SERVICE_NAME)
        for index in range(templates)
    ]
    tally = Tally(adder(counts.created), adder(counts.exported), adder(counts.failed))
    send_paced(endpoint, built, seed, rate, seconds, connections, tally)


def vm_rss_mib(pid: int) -> float:
    """VmRSS (resident memory now) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def parse_samples(text: str) -> list[Sample]:
    """The samples of a Prometheus text exposition, in its order."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def metric_samples(base_url: str) -> list[Sample]:
    """The samples of the service's ``/metrics``."""
    return parse_samples(httpx.get(f"{base_url}/metrics", timeout=PROBE_TIMEOUT_SECONDS).text)


def totals_by_name(samples: Sequence[Sample]) -> dict[str, float]:
    """Samples summed over their labels, by sample name (``…_total``, ``…_sum``, a gauge's)."""
    totals: dict[str, float] = {}
    for sample in samples:
        totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def metric_totals(base_url: str) -> dict[str, float]:
    """The service's samples, summed over their labels, by name."""
    return totals_by_name(metric_samples(base_url))


def by_label(samples: Sequence[Sample], name: str, label: str) -> dict[str, float]:
    """The samples called ``name`` by the value of their label ``label``, in their order."""
    values: dict[str, float] = {}
    for sample in samples:
        if sample.name == name:
            value = sample.labels.get(label, "")
            values[value] = values.get(value, 0.0) + sample.value
    return values


def non_ok_requests(samples: Sequence[Sample]) -> float:
    """Export requests the service answered other than 200 (HTTP) or OK (gRPC)."""
    statuses = by_label(samples, "syncsight_export_requests_total", "status")
    return sum(count for status, count in statuses.items() if status not in ("200", "OK"))


def slope_mib_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) samples, in MiB per hour."""
    if len(samples) < 2:
        return float("nan")
    mean_t = sum(t for t, _ in samples) / len(samples)
    mean_r = sum(r for _, r in samples) / len(samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return float("nan")
    return sum((t - mean_t) * (r - mean_r) for t, r in samples) / spread * 3600


@dataclass(frozen=True)
class Senders:
    """How the load is sent: ``sdk``, ``count`` processes of one SDK exporter each (a queue of
    ``queue_size`` spans); ``requests``, ``count`` processes sending pre-encoded requests of
    ``spans_per_request`` spans (``templates`` of them, made new each time) over ``connections``
    connections each."""

    mode: str
    count: int
    engagement_size: int
    queue_size: int
    spans_per_request: int
    templates: int
    connections: int

    def process(
        self, endpoint: str, rate: float, seconds: float, seed: int, counts: Counts
    ) -> multiprocessing.Process:
        """Sender ``seed``'s process, sending its share of ``rate``."""
        share = rate / self.count
        if self.mode == "sdk":
            target: Callable[..., None] = send
            args: tuple[object, ...] = (
                endpoint, share, seconds, seed, self.queue_size, self.engagement_size, counts
            )  # fmt: skip
        else:
            target = send_requests
            args = (
                endpoint, share, seconds, seed, self.spans_per_request, self.templates,
                self.connections, self.engagement_size, counts,
            )  # fmt: skip
        # daemon: stops with the soak, whatever stops it
        return multiprocessing.Process(target=target, args=args, daemon=True)

    def describe(self) -> str:
        if self.mode == "sdk":
            return f"{self.count} SDK exporters (queue {self.queue_size})"
        return (
            f"{self.count} senders of pre-encoded requests of {self.spans_per_request} spans "
            f"({self.connections} connections each)"
        )


@dataclass
class Summary:
    minutes: float
    rate: float
    senders: Senders
    service_env: dict[str, str]
    spans_created: int = 0
    spans_exported: int = 0
    spans_export_failed: int = 0
    spans_dropped_by_sdk: int = 0
    spans_stored: int = 0
    rss_start_mib: float = 0.0
    rss_peak_mib: float = 0.0
    rss_end_mib: float = 0.0
    rss_slope_mib_per_hour: float = 0.0
    non_ok_requests: float = 0.0
    service_errors: dict[str, float] = field(default_factory=dict)
    window_paths: dict[str, float] = field(default_factory=dict)
    """The evaluator's windows by how they were closed (``index``, ``graph``: the whole graph read,
    whose cost follows history)."""
    not_ready_samples: int = 0
    unanswered_samples: int = 0
    probe_seconds: list[float] = field(default_factory=list)
    """How long each answered probe (``/metrics``, ``/readyz``) took."""
    log_error_lines: int = 0
    log_error_sample: list[str] = field(default_factory=list)
    """The first ``LOGGED_ERRORS_KEPT`` of those lines (the service's log goes with its data)."""
    samples: list[tuple[float, float, float, float]] = field(default_factory=list)
    """(seconds, RSS MiB, rows inserted so far, the SLA evaluator's lag in seconds: how far its
    watermark trails the clock, NaN with the evaluator off)."""

    @property
    def errors(self) -> int:
        return int(
            self.spans_export_failed
            + self.spans_dropped_by_sdk
            + self.non_ok_requests
            + sum(self.service_errors.values())
            + self.not_ready_samples
            + self.unanswered_samples
            + self.log_error_lines
        )


def soak(
    minutes: float,
    rate: float,
    senders: Senders,
    data_dir: Path,
    service_env: dict[str, str],
    memory_probe: Path | None = None,
    keep_log: Path | None = None,
) -> Summary:
    summary = Summary(minutes=minutes, rate=rate, senders=senders, service_env=service_env)
    probe_env = (
        {
            "PYTHONPATH": os.pathsep.join(filter(None, (str(PROBE), os.environ.get("PYTHONPATH")))),
            "SOAK_MEMORY_PROBE_OUT": str(memory_probe.resolve()),
        }
        if memory_probe
        else {}
    )
    service = start_service(data_dir, env=service_env | probe_env, timeout=120)
    seconds = minutes * 60
    try:
        summary.rss_start_mib = vm_rss_mib(service.process.pid)
        counts = Counts.new()
        processes = [
            senders.process(f"{service.base_url}/v1/traces", rate, seconds, seed, counts)
            for seed in range(1, senders.count + 1)
        ]
        for process in processes:
            process.start()
        started = time.monotonic()
        while any(process.is_alive() for process in processes):
            time.sleep(SAMPLE_SECONDS)
            sample(service, started, summary, counts)
        for process in processes:
            process.join()
        time.sleep(2)  # the last acknowledged batch reaches ClickHouse
        sample(service, started, summary, counts)
        metrics = final_metrics(service, summary)
        totals = totals_by_name(metrics)
        summary.non_ok_requests = non_ok_requests(metrics)
        summary.service_errors = {name: totals.get(name, 0.0) for name in ERROR_METRICS}
        summary.window_paths = by_label(metrics, "syncsight_evaluator_window_paths_total", "path")
        summary.rss_peak_mib = peak_rss_mib(service.process.pid)
        summary.rss_end_mib = vm_rss_mib(service.process.pid)
        summary.spans_created = counts.created.value
        summary.spans_exported = counts.exported.value
        summary.spans_export_failed = counts.failed.value
        summary.spans_dropped_by_sdk = (
            summary.spans_created - summary.spans_exported - summary.spans_export_failed
        )
    finally:
        stop_service(service)
    log = service.log()
    if keep_log is not None:
        keep_log.write_text(log, encoding="utf-8")
    summary.log_error_lines, summary.log_error_sample = logged_errors(log)
    warm = [(t, r) for t, r, _, _ in summary.samples if t >= seconds * WARM_UP_SHARE]
    summary.rss_slope_mib_per_hour = slope_mib_per_hour(warm)
    summary.spans_stored = stored_spans(data_dir)
    return summary


def logged_errors(log: str) -> tuple[int, list[str]]:
    """The ERROR and Traceback lines of a service log, and the first ``LOGGED_ERRORS_KEPT`` of
    them, each traceback with the exception it ends with."""
    count, kept = 0, list[str]()
    lines = log.splitlines()
    for number, line in enumerate(lines):
        if " ERROR " not in line and "Traceback" not in line:
            continue
        count += 1
        if len(kept) < LOGGED_ERRORS_KEPT:
            if line.startswith("Traceback"):
                after = (text for text in lines[number + 1 :] if not text.startswith(" "))
                line = f"{line} ... {next(after, '')}"
            kept.append(line)
    return count, kept


def sample(service: Service, started: float, summary: Summary, counts: Counts) -> None:
    """One sample: RSS, rows inserted so far, /readyz; a probe the service does not answer within
    its timeout counts as an unanswered sample (an error), and the soak goes on."""
    elapsed = time.monotonic() - started
    rss = vm_rss_mib(service.process.pid)
    try:
        asked = time.monotonic()
        totals = metric_totals(service.base_url)
        summary.probe_seconds.append(round(time.monotonic() - asked, 3))
        inserted = totals.get("syncsight_insert_batch_rows_sum", 0.0)
        lag = totals.get("syncsight_evaluator_lag_seconds", float("nan"))
        asked = time.monotonic()
        ready = httpx.get(f"{service.base_url}/readyz", timeout=PROBE_TIMEOUT_SECONDS).status_code
        summary.probe_seconds.append(round(time.monotonic() - asked, 3))
    except httpx.TransportError as error:
        summary.unanswered_samples += 1
        inserted, lag, ready = float("nan"), float("nan"), 0
        print(f"{elapsed:7.0f} s  the service did not answer a probe: {error!r}", flush=True)
    summary.samples.append((round(elapsed, 1), round(rss, 1), inserted, round(lag, 1)))
    if ready != 200:
        summary.not_ready_samples += 1
    print(
        f"{elapsed:7.0f} s  RSS {rss:7.1f} MiB  created {counts.created.value:>10,}  "
        f"exported {counts.exported.value:>10,}  inserted {inserted:>12,.0f}  readyz {ready}  "
        f"evaluator lag {lag:,.0f} s",
        flush=True,
    )


def final_metrics(service: Service, summary: Summary) -> list[Sample]:
    """The service's metrics once the senders stopped, waiting for a busy service to answer
    (each probe it leaves unanswered counts as an unanswered sample)."""
    deadline = time.monotonic() + FINAL_WAIT_SECONDS
    while True:
        try:
            return metric_samples(service.base_url)
        except httpx.TransportError:
            summary.unanswered_samples += 1
            if time.monotonic() > deadline:
                raise


def stored_spans(data_dir: Path) -> int:
    """The soak's spans in otel_traces, read after the service (the engine's owner) stopped."""
    client = connect(f"chdb://{data_dir / 'data'}")
    try:
        result = client.query(
            "SELECT count() FROM otel_traces WHERE ServiceName = {name:String}",
            parameters={"name": SERVICE_NAME},
        )
        return int(result.result_rows[0][0])
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to send")
    parser.add_argument("--rate", type=float, default=2000.0, help="spans per second, in all")
    parser.add_argument(
        "--sender",
        choices=("sdk", "requests"),
        default="sdk",
        help="sdk: OpenTelemetry SDK exporters create every span (about 500 spans/s per process "
        "on this VM); requests: pre-encoded requests recorded once with the SDK, made new and "
        "sent at a paced rate (benchmarks/paced_requests.py), for rates the SDK cannot reach",
    )
    parser.add_argument("--senders", type=int, default=2, help="sender processes")
    parser.add_argument(
        "--spans-per-request", type=int, default=1000, help="--sender requests: spans per request"
    )
    parser.add_argument(
        "--templates", type=int, default=8, help="--sender requests: requests recorded per sender"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=4,
        help="--sender requests: connections per sender, each with one request in flight",
    )
    parser.add_argument(
        "--queue-size",
        type=int,
        default=2048,
        help="each sender's BatchSpanProcessor queue (OTEL_BSP_MAX_QUEUE_SIZE; SDK default 2048)",
    )
    parser.add_argument(
        "--engagement-size",
        type=int,
        default=1000,
        help="spans per contract (two projects each), as engagements grow; 0: every span draws "
        "from 120 shared contracts and 200 projects, which joins all of them into one graph part",
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="SYNCSIGHT_NAME=VALUE",
        help="a setting of the service under test, e.g. SYNCSIGHT_EVALUATOR=off (repeatable)",
    )
    parser.add_argument(
        "--memory-probe",
        type=Path,
        metavar="FILE",
        help="load benchmarks/memory_probe into the service: every 15 s it appends where its "
        "memory is (C heap, the engine's jemalloc, Python heap) to FILE as a JSON line",
    )
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    parser.add_argument(
        "--keep-log", type=Path, help="copy the service's whole log here (its tracebacks in full)"
    )
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the service is stopped and the temporary data removed
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    if args.engagement_size < 0:
        parser.error(f"--engagement-size {args.engagement_size}: expected 0 or more spans")
    if args.minutes <= 0 or args.rate <= 0 or args.queue_size < 1:
        parser.error(
            f"--minutes {args.minutes}, --rate {args.rate}, --queue-size {args.queue_size}: "
            "expected positive minutes, rate and queue size"
        )
    if not 1 <= args.senders <= 99 or args.templates < 1 or args.connections < 1:
        parser.error(
            f"--senders {args.senders}, --templates {args.templates}, --connections "
            f"{args.connections}: expected 1 to 99 senders, at least one template and connection"
        )
    if not 1 <= args.spans_per_request <= 1000:
        parser.error(f"--spans-per-request {args.spans_per_request}: expected 1 to 1,000")
    service_env = dict(item.partition("=")[::2] for item in args.service_env)
    if not all(name.startswith("SYNCSIGHT_") for name in service_env):
        parser.error(f"--service-env {args.service_env}: expected SYNCSIGHT_NAME=VALUE items")
    with tempfile.TemporaryDirectory(prefix="syncsight-soak-") as directory:
        senders = Senders(
            args.sender,
            args.senders,
            args.engagement_size,
            args.queue_size,
            args.spans_per_request,
            args.templates,
            args.connections,
        )
        summary = soak(
            args.minutes,
            args.rate,
            senders,
            Path(directory),
            service_env,
            args.memory_probe,
            args.keep_log,
        )
    max_lag = max((lag for *_, lag in summary.samples if lag == lag), default=float("nan"))
    print(
        f"\nsoak: {summary.minutes:g} min at {summary.rate:g} spans/s from "
        f"{senders.describe()}, engagements of {senders.engagement_size} spans, service settings "
        f"{summary.service_env or 'defaults'}\n"
        f"RSS start {summary.rss_start_mib:.0f} MiB, peak {summary.rss_peak_mib:.0f} MiB, end "
        f"{summary.rss_end_mib:.0f} MiB; slope after warm-up "
        f"{summary.rss_slope_mib_per_hour:+.1f} MiB/h; SLA evaluator lag at the end "
        f"{summary.samples[-1][3]:,.0f} s, at most {max_lag:,.0f} s; windows by path "
        f"{summary.window_paths}\n"
        f"spans created {summary.spans_created:,} "
        f"({summary.spans_created / (summary.minutes * 60):,.0f}/s achieved), exported {summary.spans_exported:,}, "
        f"export failed {summary.spans_export_failed:,}, dropped by the SDK "
        f"{summary.spans_dropped_by_sdk:,}, stored {summary.spans_stored:,}\n"
        f"errors {summary.errors}: requests not 200 {summary.non_ok_requests:g}, service "
        f"{summary.service_errors}, /readyz not ready {summary.not_ready_samples} and "
        f"unanswered {summary.unanswered_samples} of {len(summary.samples)} samples, ERROR lines in the log {summary.log_error_lines}"
    )
    if summary.probe_seconds:
        waits = sorted(summary.probe_seconds)
        print(
            f"answered probes: {len(waits)}, p50 {waits[len(waits) // 2] * 1000:,.0f} ms, p99 "
            f"{waits[min(len(waits) - 1, len(waits) * 99 // 100)] * 1000:,.0f} ms, max "
            f"{waits[-1] * 1000:,.0f} ms"
        )
    for line in summary.log_error_sample:
        print(f"  {line}")
    if args.json:
        args.json.write_text(json.dumps(asdict(summary), indent=2) + "\n")


if __name__ == "__main__":
    main()
