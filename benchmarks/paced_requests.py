"""The soak's sender for rates that SDK exporters cannot reach: OTLP/protobuf requests recorded once
with the OpenTelemetry SDK and encoded with its OTLP encoder, then sent at a paced rate, each time
made new by replacing three markers of the same width in the encoded bytes.

- a generation tag in every event id and every id not drawn from the shared ones, so each request
  carries new business events and new engagements (``business_attributes`` with its ``tag``);
- the first 4 bytes of every trace and span id (the SDK's id generator is replaced by one that
  writes a marker there), so trace and span ids do not repeat;
- the upper 32 bits of every timestamp: a template's spans and events lie within one 2**32 ns
  (4.3 s) window, so setting that word to the current one moves them to the last 4.3 s.

Replacing bytes of the same length keeps the protobuf framing valid; each marker's count in the
template is checked when it is built, so a marker that also occurs by chance elsewhere is refused
instead of corrupting data.
"""

from __future__ import annotations

import itertools
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.id_generator import IdGenerator

from benchmarks.decode import record_spans

TAG_TEMPLATE = "g00000000"
"""Replaced by ``g`` + 2 digits of the sender + 6 digits of its request number."""
ID_MARKER = b"\xa5\x5a\xc3\x3c"
"""The first 4 bytes of every trace and span id of a template."""
TIME_WINDOW_BITS = 32
MAX_SPAN_NS = 1_900_000_000
"""A template's spans start within ``spans`` ms and last at most 0.9 s: for up to 1,000 spans per
request this stays inside one 2**32 ns window."""
RETRY_SECONDS = 30.0
"""How long one request is retried (503/429 and transport errors) before its spans count as failed."""


class MarkedIds(IdGenerator):
    """Trace and span ids that start with ``ID_MARKER`` and end with a counter."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def generate_span_id(self) -> int:
        return int.from_bytes(ID_MARKER + next(self._numbers).to_bytes(4, "big"), "big")

    def generate_trace_id(self) -> int:
        return int.from_bytes(ID_MARKER + next(self._numbers).to_bytes(12, "big"), "big")


@dataclass(frozen=True)
class Template:
    """One encoded request and the markers to replace in it."""

    body: bytes
    spans: int
    time_word: bytes

    def fresh(self, sender: int, number: int, now_ns: int) -> bytes:
        """The request as a new one: request ``number`` of ``sender``, timed now."""
        return (
            self.body.replace(TAG_TEMPLATE.encode(), f"g{sender:02d}{number:06d}".encode())
            .replace(ID_MARKER, bytes([sender]) + (number & 0xFFFFFF).to_bytes(3, "big"))
            .replace(self.time_word, struct.pack("<I", now_ns >> TIME_WINDOW_BITS))
        )


def build_template(
    sender: int, index: int, spans: int, engagement_size: int, service_name: str
) -> Template:
    """Request ``index`` of ``sender``: ``spans`` business events numbered after the sender's
    earlier requests (as one SDK exporter per sender would number them), recorded by the SDK."""
    if not 0 < spans <= 1000 or not 0 <= sender < 100:
        raise ValueError(
            f"spans {spans}, sender {sender}: a template holds 1 to 1,000 spans (its timestamps "
            "must stay in one 4.3 s window) and senders are numbered 0 to 99"
        )
    window = time.time_ns() >> TIME_WINDOW_BITS
    start_ns = window << TIME_WINDOW_BITS
    recorded = record_spans(
        spans,
        seed=sender * 1000 + index,
        first_number=sender * 1_000_000_000 + index * spans,
        engagement_size=engagement_size,
        tag=TAG_TEMPLATE,
        start_ns=start_ns,
        id_generator=MarkedIds(),
        service_name=service_name,
    )
    body = encode_spans(recorded).SerializeToString()
    time_word = struct.pack("<I", window)
    timestamps = 2 * len(recorded) + sum(len(span.events) for span in recorded)
    if body.count(time_word) != timestamps or body.count(ID_MARKER) != 2 * len(recorded):
        raise ValueError(
            f"template {index} of sender {sender}: a marker also occurs outside the ids and "
            "timestamps; build it again (a new time window)"
        )
    return Template(body, len(recorded), time_word)


@dataclass
class Tally:
    """Where a sender reports spans: created (sent a first time), acknowledged, failed."""

    created: Callable[[int], None]
    acknowledged: Callable[[int], None]
    failed: Callable[[int], None]


def send_paced(
    endpoint: str,
    templates: list[Template],
    sender: int,
    rate: float,
    seconds: float,
    connections: int,
    tally: Tally,
) -> None:
    """Send ``rate`` spans per second for ``seconds``: request ``k`` (template ``k`` modulo their
    number, made new) is due ``k`` request intervals after the start, and ``connections`` threads
    each send the next one due, waiting for its answer, so a slow answer delays only its thread.
    Requests still due when ``seconds`` have passed (the service was slower) are not sent: the
    achieved rate says how far behind it fell."""
    interval = templates[0].spans / rate
    numbers = itertools.count()
    lock = threading.Lock()
    started = time.monotonic()

    def connection() -> None:
        with httpx.Client(timeout=RETRY_SECONDS) as client:
            while True:
                with lock:
                    number = next(numbers)
                due = started + number * interval
                if due - started >= seconds or time.monotonic() - started >= seconds:
                    return  # the run is over, even for requests a slow service left unsent
                time.sleep(max(0.0, due - time.monotonic()))
                template = templates[number % len(templates)]
                body = template.fresh(sender, number, time.time_ns())
                tally.created(template.spans)
                if post_until_acknowledged(client, endpoint, body):
                    tally.acknowledged(template.spans)
                else:
                    tally.failed(template.spans)

    # daemon: a sender process stopped by a signal ends without waiting for its answers
    threads = [threading.Thread(target=connection, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def post_until_acknowledged(client: httpx.Client, endpoint: str, body: bytes) -> bool:
    """POST one request, retrying refusals the service asks to be retried (429, 503, after their
    ``Retry-After``) and transport errors for up to ``RETRY_SECONDS``, as the SDK's exporter does."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            response = client.post(
                endpoint, content=body, headers={"Content-Type": "application/x-protobuf"}
            )
        except httpx.TransportError:
            wait = 1.0
        else:
            if response.status_code == 200:
                return True
            if response.status_code not in (429, 503):
                return False
            wait = float(response.headers.get("Retry-After", "1"))
        if time.monotonic() + wait > deadline:
            return False
        time.sleep(wait)
