"""A running service with the simulator's small quarter streamed in over OTLP, and its truth file.

Used by the end-to-end tests of ingest, lineage, SLAs and the dashboard. The quarter ends at a
fixed time so that every run sees the same data; API calls pass ``as_of=END`` where time matters.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from simulator.run import simulate
from simulator.stats import ScenarioStats
from tests.firm import write_firm_config
from tests.service import Service, start_service, wait_until_inserted

END = datetime(2026, 10, 30, 17, 0, tzinfo=UTC)
SEED = 7


@dataclass
class LoadedQuarter:
    """The service, what the simulator says it emitted, and its ground truth."""

    service: Service
    stats: ScenarioStats
    truth: dict[str, Any]
    end: datetime = END


def accepted_spans(service: Service) -> int:
    """Spans the service has acknowledged as durable, from its Prometheus metrics."""
    total = 0.0
    for line in httpx.get(f"{service.base_url}/metrics", timeout=10).text.splitlines():
        if line.startswith("syncsight_spans_accepted_total"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def load_small_quarter(data_dir: Path, *, env: dict[str, str] | None = None) -> LoadedQuarter:
    """Start a service configured with the simulated firm's calendars, stream the small quarter
    into it through the OTLP exporter, and wait for it (and for the SLA state to know it)."""
    firm = {"SYNCSIGHT_CONFIG": str(write_firm_config(data_dir))}
    # the business state follows ingest every interval: a short one, so the tests need not wait,
    # yet not a second: the service runs for the rest of the pytest process, and a tick with
    # nothing new costs a tenth of a CPU-second (a tenth of a core beside the tests at 1 s, a
    # thirtieth at 5 s)
    quick = {"SYNCSIGHT_SLA_INTERVAL": "5", "SYNCSIGHT_STATE_SETTLE_SECONDS": "0.5"}
    # the quarter has fixed dates that age: no TTL may drop its raw spans in a later year
    keep = {"SYNCSIGHT_RETENTION_RAW_DAYS": "0", "SYNCSIGHT_RETENTION_FACTS_DAYS": "0"}
    service = start_service(data_dir, env={**firm, **quick, **keep, **(env or {})})
    truth_path = data_dir / "truth.json"
    stats = simulate(
        end=END,
        endpoint=service.base_url,
        seed=SEED,
        scale="small",
        truth_path=truth_path,
        progress=False,
    )
    deadline = time.monotonic() + 120
    while accepted_spans(service) < stats.spans and time.monotonic() < deadline:
        time.sleep(0.2)
    wait_until_inserted(service)  # acknowledged from the journal: stored a moment later
    wait_for_sla_state(service, datetime.now(UTC))
    truth: dict[str, Any] = json.loads(truth_path.read_text(encoding="utf-8"))
    return LoadedQuarter(service, stats, truth)


def wait_for_sla_state(service: Service, stored_by: datetime, timeout: float = 120) -> None:
    """Until the SLA timer state knows everything stored by ``stored_by`` (its evaluator ticks
    every SYNCSIGHT_SLA_INTERVAL; the Known-At header says how far it is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{service.base_url}/api/v1/slas", timeout=30)
        known = response.headers.get("X-Syncsight-Known-At", "")
        if known and datetime.fromisoformat(known.replace("Z", "+00:00")) >= stored_by:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the SLA state did not reach {stored_by.isoformat()} in {timeout:g} s")
