"""The OTLP/gRPC concurrency limit end to end: real gRPC clients against ``syncsight serve`` with
more exports in flight than ``max_concurrent_exports``. The ones over the limit are refused with
UNAVAILABLE at once; every export answered OK is stored, and the refused ones are stored on retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from tests.collector.test_hostile_input import invoice_request, stored
from tests.service import Service, running_service

LIMIT = 2
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(
        tmp_path_factory.mktemp("grpc-admission"),
        env={"SYNCSIGHT_MAX_CONCURRENT_EXPORTS": str(LIMIT), "SYNCSIGHT_BATCH_MAX_WAIT_MS": "20"},
    ) as running:
        yield running


HOLD_SECONDS = 150
"""How long a held export waits for its release at most: longer than the probes look for the
limit, so that the held exports still hold their slots when the probes give up."""


def held_message(invoice_id: str, release: threading.Event) -> Iterator[bytes]:
    """The request stream of an export that has started but sends its message only on
    ``release``: it holds one admission slot on the server meanwhile."""
    release.wait(timeout=HOLD_SECONDS)
    yield invoice_request([invoice_id]).SerializeToString()


def test_exports_over_the_limit_are_unavailable_and_every_ok_one_is_stored(
    service: Service,
) -> None:
    """Two exports hold both slots; a burst of eight from other clients is refused with
    UNAVAILABLE naming the limit; released, the two are stored, and so are the eight on retry."""
    release = threading.Event()
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        unary = channel.unary_unary(EXPORT)
        streaming = channel.stream_unary(EXPORT)

        def hold(n: int) -> grpc.Future:
            return streaming.future(
                held_message(f"INV-HELD-{n}", release), timeout=HOLD_SECONDS + 30
            )

        held = [hold(n) for n in range(LIMIT)]
        # until the server has admitted both held exports, a probe may still get through
        probes: list[str] = []
        refused_probe: grpc.RpcError | None = None
        # a loaded machine (the suite runs in two processes) may take a while to start them
        deadline = time.monotonic() + HOLD_SECONDS - 30
        while refused_probe is None and time.monotonic() < deadline:
            for n, future in enumerate(held):
                if future.done():
                    # a probe reached the server first and took this one's slot: it was
                    # refused before it could hold it, so hold the slot again
                    assert future.code() is grpc.StatusCode.UNAVAILABLE, future.code()
                    held[n] = hold(n)
            probe = f"INV-PROBE-{len(probes)}"
            try:
                unary(invoice_request([probe]).SerializeToString(), timeout=30)
            except grpc.RpcError as error:
                refused_probe = error
                break
            probes.append(probe)
            time.sleep(0.05)
        assert refused_probe is not None, "the held exports never filled the limit"
        assert refused_probe.code() is grpc.StatusCode.UNAVAILABLE
        assert "max_concurrent_exports" in str(refused_probe.details())

        burst = [f"INV-BURST-{n}" for n in range(8)]
        start = threading.Barrier(len(burst))

        def export(invoice_id: str) -> grpc.StatusCode:
            with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as own:
                start.wait(timeout=30)
                try:
                    own.unary_unary(EXPORT)(
                        invoice_request([invoice_id]).SerializeToString(), timeout=30
                    )
                except grpc.RpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

        with ThreadPoolExecutor(len(burst)) as pool:
            codes = list(pool.map(export, burst))
        assert codes == [grpc.StatusCode.UNAVAILABLE] * len(burst)

        release.set()
        for future in held:
            future.result(timeout=60)  # OK, or raises the call's error
        for invoice_id in burst:
            unary(invoice_request([invoice_id]).SerializeToString(), timeout=30)
    for invoice_id in [f"INV-HELD-{n}" for n in range(LIMIT)] + probes + burst:
        assert stored(service, invoice_id), invoice_id
