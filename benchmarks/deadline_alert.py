"""From a timer's deadline to its alert in Alertmanager (issue 14: "a timer's deadline passes →
alert in Alertmanager ≤ 30 s"), on a running service over a loaded quarter.

Starts a real Prometheus Alertmanager (which keeps the alerts and notifies nobody: a loaded quarter
has tens of thousands of breached timers, and a receiver run here would be what is measured) and
``syncsight serve`` on the data directory, with the simulator firm's configuration plus a legal
entity per round, ``LE-BENCH-<round>``, whose calendar works every hour of every day, so that a
business-time deadline falls at a known wall-clock instant whatever the day (and, with
``--timer-alerts grouped``, each round's breach makes a new group: the figure is still deadline →
first alert). It waits until the evaluator's state
is current and ``--settle`` seconds more (its first pushes of every firing alert to Alertmanager,
over half a resend interval), then, each round, sends one ``contract.signed`` span over OTLP/HTTP
signed two days (the target of ``time-to-project-creation``) minus ``--lead`` seconds ago: the
timer's deadline passes ``--lead`` seconds after the span is sent. It polls Alertmanager's ``GET
/api/v2/alerts`` every 100 ms for the active ``SlaBreached`` alert of that contract (grouped: of
that round's legal entity) and prints how long after the deadline the answer that first held it
came back (an upper bound: the alert arrived before), and checks the alert's ``deadline``
(grouped: ``earliest_deadline``) annotation is the instant expected; then it activates the
contract's project, which stops the timer (the next run's groups are new again). Nothing else is
sent meanwhile: the service is otherwise idle, and the CPU it and Alertmanager used over the rounds
(cores) is what keeping tens of thousands of firing alerts alive costs; at the end it counts the
active alerts Alertmanager holds. ``--idle S``: then S seconds with nothing sent at all, and the
cores of both over them (issue 14's idle figure, with alerting attached).

Opens the data directory itself (no other process may hold it); run on a copy:
``.venv/bin/python benchmarks/deadline_alert.py --data /tmp/copy/data [--rounds 5] [--lead 40]
[--sla-interval 15] [--timer-alerts each|grouped] [--idle 300] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import cpu_seconds
from domain import semconv as sc
from simulator.firm import firm_config_toml
from slas.alert_groups import EACH, GROUPED, TIMER_ALERT_MODES
from slas.definitions import DEFAULT_SLAS
from tests.service import Service, start_service, stop_service, wait_until_current
from tests.slas.alert_stack import send_spans, start_alertmanager

ENTITY = "LE-BENCH-{}"
"""A legal entity per round; the same on every run (a calendar changed re-derives every timer),
and each round stops its timer once timed, so that the next run's groups are new again."""
ROUND_THE_CLOCK = """
[calendars."{entity}"]
time_zone = "UTC"
working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
working_hours = "00:00-24:00"
"""
SLA = "time-to-project-creation"
TARGET = next(d for d in DEFAULT_SLAS if d.name == SLA).target
POLL = 0.1


def _active(alertmanager: str, *matchers: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{alertmanager}/api/v2/alerts", params={"filter": list(matchers)}, timeout=300
    )
    response.raise_for_status()
    return [a for a in response.json() if a["status"]["state"] == "active"]


def one_round(
    service: Service, alertmanager: str, lead: float, timeout: float, *, entity: str, grouped: bool
) -> dict[str, Any]:
    """Sign a contract of ``entity`` whose deadline is ``lead`` seconds away; seconds from the
    deadline to the alert in Alertmanager."""
    contract = f"CTR-BENCH-{uuid.uuid4().hex[:12].upper()}"
    matcher = f'legal_entity="{entity}"' if grouped else f'object_id="{contract}"'
    deadline_note = "earliest_deadline" if grouped else "deadline"
    sent = datetime.now(UTC)
    signed = sent - timedelta(days=TARGET.days, hours=TARGET.hours) + timedelta(seconds=lead)
    deadline = signed + timedelta(days=TARGET.days, hours=TARGET.hours)
    attributes = {
        sc.EVENT_TYPE: sc.CONTRACT_SIGNED,
        sc.EVENT_ID: f"{sc.CONTRACT_SIGNED}:{contract}",
        sc.OUTCOME: sc.SUCCESS,
        sc.PERIOD: signed.strftime("%Y-%m"),
        sc.object_id_key(sc.CONTRACT): contract,
        sc.object_id_key(sc.LEGAL_ENTITY): entity,
    }
    send_spans(service, [(attributes, signed)], service_name="bench-deadline")
    in_alertmanager: float | None = None
    give_up = time.monotonic() + lead + timeout
    while in_alertmanager is None and time.monotonic() < give_up:
        if found := _active(alertmanager, matcher, 'alertname="SlaBreached"'):
            in_alertmanager = (datetime.now(UTC) - deadline).total_seconds()
            annotated = datetime.fromisoformat(found[0]["annotations"][deadline_note])
            if abs((annotated - deadline).total_seconds()) > 1:
                raise SystemExit(f"{contract}: deadline {annotated}, expected {deadline}")
        time.sleep(POLL)
    activated = {
        sc.EVENT_TYPE: sc.PROJECT_ACTIVATED,
        sc.EVENT_ID: f"{sc.PROJECT_ACTIVATED}:{contract}",
        sc.OUTCOME: sc.SUCCESS,
        sc.PERIOD: signed.strftime("%Y-%m"),
        sc.object_id_key(sc.PROJECT): f"PRJ-{contract}",
        sc.object_id_key(sc.CONTRACT): contract,
    }
    send_spans(service, [(activated, datetime.now(UTC))], service_name="bench-deadline")
    return {
        "contract": contract,
        "deadline": deadline.isoformat(),
        "alertmanager_s": in_alertmanager,
    }


def _cores(pids: dict[str, int], before: dict[str, float], began: float) -> dict[str, float]:
    """The cores each process used since ``before`` (CPU seconds) at ``began`` (monotonic)."""
    elapsed = time.monotonic() - began
    return {f"{k}_cores": (cpu_seconds(p) - before[k]) / elapsed for k, p in pids.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="embedded data directory (a copy)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--lead", type=float, default=40.0, help="seconds from sending a span to its deadline"
    )
    parser.add_argument("--sla-interval", type=float, default=15.0, help="the service's setting")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds after a deadline")
    parser.add_argument(
        "--settle", type=float, default=90.0, help="seconds from current to the first round"
    )
    parser.add_argument(
        "--timer-alerts",
        choices=TIMER_ALERT_MODES,
        default=EACH,
        help="[notifications] timer_alerts of the service",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        help="then this many seconds with nothing sent: the cores each process uses meanwhile",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    if arguments.data.name != "data" or not (arguments.data / "metadata").is_dir():
        # the service opens <parent>/data: any other path would measure an empty engine
        parser.error(f"--data {arguments.data}: expected a loaded engine directory named 'data'")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    home = arguments.data.resolve().parent
    config = home / "deadline-bench.toml"
    grouped = arguments.timer_alerts == GROUPED
    entities = [ENTITY.format(number + 1) for number in range(arguments.rounds)]
    config.write_text(
        firm_config_toml()
        + "".join(ROUND_THE_CLOCK.format(entity=entity) for entity in entities)
        # only when grouped: the code before the setting refuses the key
        + (f'\n[notifications]\ntimer_alerts = "{GROUPED}"\n' if grouped else ""),
        encoding="utf-8",
    )
    alertmanager, url = start_alertmanager(home, None)
    service: Service | None = None
    try:
        started = datetime.now(UTC)
        service = start_service(
            home,
            env={
                "SYNCSIGHT_CONFIG": str(config),
                "SYNCSIGHT_ALERTMANAGER_URL": url,
                "SYNCSIGHT_SLA_INTERVAL": str(arguments.sla_interval),
            },
            timeout=600,
        )
        wait_until_current(service.base_url, started, 1800)
        print(f"service current after {(datetime.now(UTC) - started).total_seconds():.0f} s")
        time.sleep(arguments.settle)  # the first pushes: every firing alert, a slice a tick
        pids = {"service": service.process.pid, "alertmanager": alertmanager.pid}
        before, began = {k: cpu_seconds(p) for k, p in pids.items()}, time.monotonic()
        rounds = []
        for number, entity in enumerate(entities):
            found = one_round(
                service, url, arguments.lead, arguments.timeout, entity=entity, grouped=grouped
            )
            rounds.append(found)
            print(
                f"round {number}: in Alertmanager {found['alertmanager_s']} s after the deadline",
                flush=True,
            )
        cores = _cores(pids, before, began)
        if arguments.idle > 0:  # nobody asks, nothing arrives: what the evaluator alone costs
            before, began = {k: cpu_seconds(p) for k, p in pids.items()}, time.monotonic()
            time.sleep(arguments.idle)
            cores |= {f"idle_{k}": v for k, v in _cores(pids, before, began).items()}
        seen = [r["alertmanager_s"] for r in rounds if r["alertmanager_s"] is not None]
        figures = {
            **cores,
            "timer_alerts": arguments.timer_alerts,
            "alertmanager_holds": len(_active(url)),
            "rounds": rounds,
            "sla_interval": arguments.sla_interval,
            "lead": arguments.lead,
            "missed": len(rounds) - len(seen),
            "alertmanager_median_s": statistics.median(seen) if seen else None,
            "alertmanager_max_s": max(seen) if seen else None,
        }
        print(json.dumps({k: v for k, v in figures.items() if k != "rounds"}))
        if arguments.json:
            arguments.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    finally:
        if service is not None:
            stop_service(service)
        alertmanager.terminate()
        alertmanager.wait(timeout=30)


if __name__ == "__main__":
    main()
