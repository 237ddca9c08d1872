"""The service's ledger sealer: every finished day of stored facts gets its final signed tree head
(``Ledger.seal_finished_days``), at start and then every ten minutes. Auditors rely on those heads,
so a sealer that fails or hangs must not go unnoticed: ``/readyz`` says ``degraded`` while its
rounds fail or once one has run for an hour, and ``/metrics`` counts the days sealed, the failed
rounds and the last good one. A failed round is tried again after a minute."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from lineage.ledger import Ledger
from warehouse.background import BackgroundLoop
from warehouse.loop_health import LoopHealth

logger = logging.getLogger(__name__)

SEALING_INTERVAL_SECONDS: Final = 600.0
"""How often the service looks for finished days without a final head."""

RETRY_SECONDS: Final = 60.0
"""The wait after a failed round: sooner than the interval, not so soon that a lasting fault (a
full disk, a refused write) turns into a stream of attempts."""

STUCK_AFTER_SECONDS: Final = 3600.0
"""A round that has not ended after this long is reported: the first start on years of history
seals every day once (about 5 s a day of a million facts, benchmarks/history/evidence.md, "Tree head"), so
a long first round is expected; an hour is not."""

Clock = Callable[[], datetime]


class Sealer:
    """The sealing loop with its health and metrics."""

    def __init__(
        self,
        client: Callable[[], Client],
        ledger: Ledger,
        *,
        settle: timedelta,
        clock: Clock = lambda: datetime.now(UTC),
        interval: float | None = None,
        retry: float | None = None,
    ) -> None:
        """``client`` gives the loop's thread its own client (``ClientPool.client``); the
        interval and the wait after a failure default to the module's constants."""
        self._client = client
        self._ledger = ledger
        self._settle = settle
        self._clock = clock
        self._interval = SEALING_INTERVAL_SECONDS if interval is None else interval
        self._retry = RETRY_SECONDS if retry is None else retry
        self.health = LoopHealth("ledger-sealer")
        self._loop = BackgroundLoop("ledger-sealer", client, self._step)
        self.registry = CollectorRegistry()
        self._sealed = Counter(
            "syncsight_ledger_sealed_days",
            "Days of stored facts the sealer gave their final signed tree head.",
            registry=self.registry,
        )
        self._failures = Counter(
            "syncsight_ledger_seal_failures",
            "Sealing rounds that failed (tried again after a minute; /readyz says degraded).",
            registry=self.registry,
        )
        self._last_success = Gauge(
            "syncsight_ledger_last_seal_success_timestamp_seconds",
            "When a sealing round last ended without error (Unix time).",
            registry=self.registry,
        )

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def _step(self) -> float:
        self.health.came_round()
        try:
            sealed = self._ledger.seal_finished_days(
                self._client(),
                now=self._clock(),
                settle=self._settle,
                stopping=self._loop.stopping,
            )
        except Exception as error:  # a loop boundary: reported, and tried again
            logger.exception("ledger: sealing finished days failed")
            self.health.failed(error)
            self._failures.inc()
            return self._retry
        self.health.succeeded()
        self._last_success.set_to_current_time()
        self._sealed.inc(sealed)
        if sealed:
            logger.info("ledger: sealed %d finished day(s)", sealed)
        return self._interval

    def problem(self) -> str | None:
        """What is wrong with the sealer, in a sentence, or None."""
        return self.health.problem(
            alive=self._loop.alive(), stuck_after_seconds=STUCK_AFTER_SECONDS
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
