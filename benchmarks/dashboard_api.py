"""Page responsiveness: the REST calls behind each dashboard page, timed against a running service.

Every call is made the way the dashboard makes it (``rest_client``, uncached), repeated, and
reported with p50 / p95 / max in milliseconds; the target is p95 <= 300 ms per call. Calls to
endpoints the service does not serve yet are listed as such. The sidebar reads nothing. Lineage
calls use items the blocked-invoices answer names (billing events both ways, invoice numbers
upstream).

Run: ``.venv/bin/python benchmarks/dashboard_api.py --base-url http://127.0.0.1:4318
[--as-of 2026-10-30T17:00:00Z] [--repeat 20] [--lineage-samples 5] [--token T] [--json FILE]``;
without ``--as-of`` the calls carry no ``as_of`` (the service's current evaluation; the dashboard's
live mode sends the current minute).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard.filters import period_of
from rest_client.client import Answer, ApiClient, ApiError, Params, fetch_json, iso

TARGET_P95_MS = 300.0
TREND_WEEKS = 6  # dashboard/views/overview.py reads the attainment trend at 6 weekly points


@dataclass
class CallTiming:
    page: str
    call: str
    samples_ms: list[float] = field(default_factory=list)
    outcome: str = "ok"

    def percentile(self, share: float) -> float:
        if not self.samples_ms:
            return float("nan")
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]

    def summary(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "call": self.call,
            "outcome": self.outcome,
            "n": len(self.samples_ms),
            "p50_ms": round(statistics.median(self.samples_ms), 1) if self.samples_ms else None,
            "p95_ms": round(self.percentile(0.95), 1) if self.samples_ms else None,
            "max_ms": round(max(self.samples_ms), 1) if self.samples_ms else None,
        }


def timed_client(base_url: str, token: str, record: list[float]) -> ApiClient:
    """An uncached client that appends the duration of every HTTP call to ``record``."""

    def fetch(url: str, bearer: str, timeout: float, path: str, params: Params) -> Answer[Any]:
        started = time.perf_counter()
        try:
            return fetch_json(url, bearer, timeout, path, params)
        finally:
            record.append((time.perf_counter() - started) * 1000)

    return ApiClient(base_url=base_url, token=token, fetch=fetch)


MOST_BLOCKED_SHOWN = 10_000
"""The blocked items a dashboard page asks for (``dashboard.api_session.MOST_BLOCKED_SHOWN``: a
benchmark imports nothing of the dashboard, which talks HTTP only)."""


def page_calls(
    client: ApiClient, as_of: datetime | None, lineage_samples: int
) -> Iterator[tuple[str, str, Callable[[], Any]]]:
    """(page, call label, call) for every read the pages make, in page order; ``as_of`` None is
    the dashboard's default live mode (the service's current evaluation)."""
    period = period_of(as_of or datetime.now(UTC))
    shown = partial(client.blocked_invoices, as_of=as_of, limit=MOST_BLOCKED_SHOWN)
    yield "overview", "blocked-invoices (the largest)", shown
    yield "overview", "slas", lambda: client.slas(as_of=as_of)
    yield (
        "overview",
        f"slas trend ({TREND_WEEKS} weeks)",
        lambda: client.sla_trend(as_of=as_of, weeks=TREND_WEEKS),
    )
    yield (
        "overview",
        f"close-risk period={period}",
        lambda: client.close_risk(as_of=as_of, period=period),
    )
    yield "blocked_invoices", "blocked-invoices (the largest)", shown
    yield (
        "blocked_invoices",
        f"blocked-invoices period={period}",
        partial(shown, period=period),
    )
    yield "close_risk", "close-risk (all periods)", lambda: client.close_risk(as_of=as_of)
    yield "slas", "slas", lambda: client.slas(as_of=as_of)
    try:
        names = [sla.name for sla in client.slas(as_of=as_of).body]
    except ApiError:
        names = []
    for name in names:
        yield "slas", f"timers {name}", partial(client.sla_timers, name, as_of=as_of)
    for target in lineage_targets(client, lineage_samples):
        label = f"{target[0]} {target[2]}"
        yield "lineage_explorer", f"lineage {label}", partial(client.lineage, *target)
        yield "lineage_explorer", f"evidence {label}", partial(client.evidence, *target)
        yield "lineage_explorer", f"ocel {label}", partial(client.ocel, *target)
    yield "alerts", "alerts summary", client.alert_summary
    yield "alerts", "alerts", partial(client.alerts, limit=500)


def lineage_targets(client: ApiClient, samples: int) -> list[tuple[str, str, str]]:
    """Blocked billing events (both directions) and their invoice numbers (upstream)."""
    items = client.blocked_invoices().body.items
    targets = [("billing_event", i.object.id, "both") for i in items[:samples]]
    targets += [
        ("invoice", i.invoice, "upstream")
        for i in items
        if i.invoice and i.stage == "invoice.posted"
    ][:samples]
    return targets


def measure(
    base_url: str, token: str, as_of: datetime | None, repeat: int, samples: int
) -> list[CallTiming]:
    record: list[float] = []
    client = timed_client(base_url, token, record)
    timings: dict[tuple[str, str], CallTiming] = {}
    calls = list(page_calls(client, as_of, samples))
    for _round in range(repeat):
        for page, label, call in calls:
            timing = timings.setdefault((page, label), CallTiming(page, label))
            record.clear()
            try:
                call()
            except ApiError as error:
                timing.outcome = "not served" if error.route_missing else f"error: {error}"[:80]
                continue
            timing.samples_ms.extend(record)
    return list(timings.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True, help="the running service, http://host:port")
    parser.add_argument("--token", default="", help="API bearer token (auditor for evidence)")
    parser.add_argument(
        "--as-of",
        help="a pinned as_of for the calls, RFC 3339 (default: live, as the dashboard opens)",
    )
    parser.add_argument("--repeat", type=int, default=20, help="rounds over every call")
    parser.add_argument("--lineage-samples", type=int, default=5, help="objects per lineage kind")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    as_of = (
        datetime.fromisoformat(arguments.as_of.replace("Z", "+00:00")).astimezone(UTC)
        if arguments.as_of
        else None
    )
    timings = measure(
        arguments.base_url, arguments.token, as_of, arguments.repeat, arguments.lineage_samples
    )
    rows = [t.summary() for t in timings]
    moment = iso(as_of) if as_of else "live"
    print(f"as_of {moment} · {arguments.repeat} rounds · target p95 <= {TARGET_P95_MS:.0f} ms")
    print(f"{'page':<17} {'call':<42} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8}  outcome")
    for row in rows:
        flag = "  SLOW" if (row["p95_ms"] or 0) > TARGET_P95_MS else ""
        print(
            f"{row['page']:<17} {row['call'][:42]:<42} {row['n']:>4} "
            f"{_ms(row['p50_ms'])} {_ms(row['p95_ms'])} {_ms(row['max_ms'])}  {row['outcome']}{flag}"
        )
    served = [t for t in timings if t.samples_ms]
    slow = [t for t in served if t.percentile(0.95) > TARGET_P95_MS]
    print(f"{len(served)} calls measured, {len(slow)} above the p95 target")
    pages = {
        page: sum(statistics.median(t.samples_ms) for t in served if t.page == page)
        for page in dict.fromkeys(t.page for t in timings)
    }
    print(
        "page load, sum of the p50s of its uncached calls (lineage: one object): "
        + ", ".join(f"{page} {_page_ms(page, total, timings)}" for page, total in pages.items())
    )
    if arguments.json:
        arguments.json.write_text(
            json.dumps(
                {
                    "base_url": arguments.base_url,
                    "as_of": moment,
                    "repeat": arguments.repeat,
                    "target_p95_ms": TARGET_P95_MS,
                    "calls": rows,
                    "samples": [asdict(t) for t in timings],
                },
                indent=2,
            ),
            encoding="utf-8",
        )


def _page_ms(page: str, total: float, timings: list[CallTiming]) -> str:
    if page != "lineage_explorer":
        return f"{total:.0f} ms"
    kinds = {t.call.split(" ", 1)[1] for t in timings if t.page == page} or {""}
    return f"{total / len(kinds):.0f} ms"


def _ms(value: float | None) -> str:
    return f"{value:>8.1f}" if value is not None else f"{'—':>8}"


if __name__ == "__main__":
    main()
