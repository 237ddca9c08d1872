"""Missing telemetry: each stream of business events (a source → target pair of systems, and each
emitting ``service.name``) has a usual cadence, learnt from the gaps between its stored events in
business time; silence longer than that cadence, or than the bound configured for the stream, is
missing evidence and fires ``TelemetryMissing``. A connector that dies quietly then shows up
instead of looking like "no failures".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import numpy as np
from clickhouse_connect.driver.client import Client

from domain.instants import utc
from lineage.owners import OwnerRouting
from slas.alerts import Alert
from slas.business_time import clock_for_span, epoch_seconds
from slas.calendars import EntityCalendar
from slas.definitions import BusinessDuration
from warehouse.schema import BIZ_EVENTS

TELEMETRY_MISSING: Final = "TelemetryMissing"
PAIR: Final = "source_pair"
SERVICE: Final = "service"
DEFAULT_BOUND: Final = "default"

LEARNING_WINDOW: Final = timedelta(days=28)
"""How far back the cadence is learnt from; a stream silent for longer is forgotten."""
RELEARN_EVERY: Final = timedelta(hours=1)
CADENCE_QUANTILE: Final = 0.99
CADENCE_MARGIN: Final = 2.0
"""The learnt limit: twice the 99th percentile of the stream's gaps (one in a hundred gaps is
longer than the quantile by definition; twice that is unusual)."""
MIN_GAPS: Final = 20
"""Gaps a stream needs before its cadence is learnt (until then only its bound applies)."""
MIN_LEARNT_SECONDS: Final = 600.0
"""A learnt limit is never below ten business minutes: busy streams pause for minutes."""

_STREAMS = f"""ARRAY JOIN [
    ('{PAIR}', if(SourceSystem != '' AND TargetSystem != '',
                  concat(SourceSystem, '->', TargetSystem), '')),
    ('{SERVICE}', toString(ServiceName))
] AS stream"""
"""Each business event row once per stream it belongs to: its source pair and its service."""

CADENCE = f"""
SELECT kind, name, groupArray(minute), max(last), max(ingested)
FROM (
    SELECT stream.1 AS kind, stream.2 AS name, toStartOfMinute(EventTime) AS minute,
           max(EventTime) AS last, max(IngestedAt) AS ingested
    FROM {BIZ_EVENTS} {_STREAMS}
    WHERE EventTime >= {{since:DateTime64(3, 'UTC')}} AND EventTime <= {{until:DateTime64(3, 'UTC')}}
    GROUP BY kind, name, minute
)
WHERE name != ''
GROUP BY kind, name
"""
"""Per stream, the minutes of the window with at least one event (at most 40,320 each), its last
event and the latest knowledge time read."""

LATEST = f"""
SELECT stream.1 AS kind, stream.2 AS name, max(EventTime), max(IngestedAt)
FROM {BIZ_EVENTS} {_STREAMS}
WHERE IngestedAt > {{after:DateTime64(3, 'UTC')}}
  AND EventTime >= {{since:DateTime64(3, 'UTC')}} AND EventTime <= {{until:DateTime64(3, 'UTC')}}
GROUP BY kind, name
HAVING name != ''
"""
"""The last event of each stream among rows stored since ``after`` (the knowledge-time index
reads only the recent granules); events older than the learning window start no stream, as in
``CADENCE``."""


@dataclass(frozen=True)
class SilenceBounds:
    """The longest silence tolerated per stream, in business time: ``default`` for every stream,
    ``by_stream`` for a source pair ('psa->erp') or a service name."""

    default: BusinessDuration = field(default_factory=lambda: BusinessDuration(hours=2))
    by_stream: Mapping[str, BusinessDuration] = field(default_factory=dict)

    def bound(self, name: str) -> BusinessDuration:
        return self.by_stream.get(name, self.default)


@dataclass(frozen=True)
class StreamSilence:
    """One stream's silence at an instant; ``learnt_seconds`` is None until it has enough gaps."""

    kind: str
    name: str
    last_seen: datetime
    silence_seconds: float
    bound_seconds: float
    learnt_seconds: float | None

    @property
    def limit_seconds(self) -> float:
        """The silence tolerated: the learnt cadence or the bound, whichever is shorter."""
        if self.learnt_seconds is None:
            return self.bound_seconds
        return min(self.bound_seconds, self.learnt_seconds)

    @property
    def missing(self) -> bool:
        return self.silence_seconds > self.limit_seconds


def learnt_limit(minutes: Sequence[datetime], calendar: EntityCalendar) -> float | None:
    """The silence a stream with events in these minutes usually stays within, in business
    seconds (None with fewer than ``MIN_GAPS`` gaps)."""
    if len(minutes) <= MIN_GAPS:
        return None
    instants = np.array(sorted(epoch_seconds(utc(m)) for m in minutes), dtype=np.float64)
    clock = clock_for_span(calendar, float(instants[0]), float(instants[-1]))
    gaps = clock.elapsed(instants[:-1], instants[1:])
    quantile = float(np.quantile(gaps, CADENCE_QUANTILE, method="higher"))
    return max(CADENCE_MARGIN * quantile, MIN_LEARNT_SECONDS)


def stream_owner(stream: StreamSilence, owners: OwnerRouting) -> str:
    """Who owns a silent stream: the team of its target system, else of its source system
    (``[owners] erp = "…"``), else the default team; a service stream the default team."""
    if stream.kind != PAIR:
        return owners.default
    source, _, target = stream.name.partition("->")
    return owners.owner_of_systems(target, source)


def silence_alerts(
    streams: Sequence[StreamSilence],
    *,
    now: datetime,
    public_url: str,
    owners: OwnerRouting | None = None,
) -> list[Alert]:
    """A ``TelemetryMissing`` alert per stream silent beyond its limit, labelled with its owner."""
    owners = owners or OwnerRouting()
    alerts = []
    for stream in streams:
        if not stream.missing:
            continue
        hours, limit = stream.silence_seconds / 3600, stream.limit_seconds / 3600
        alerts.append(
            Alert(
                labels={
                    "alertname": TELEMETRY_MISSING,
                    "stream_kind": stream.kind,
                    "stream": stream.name,
                    "severity": "warning",
                    "owner": stream_owner(stream, owners),
                },
                annotations={
                    "summary": f"no business events from {stream.name} for {hours:.1f} business hours",
                    "description": (
                        f"{stream.kind.replace('_', ' ')} {stream.name} last sent a business event "
                        f"at {stream.last_seen.isoformat()}; silence is tolerated up to "
                        f"{limit:.2f} business hours. Until it sends again its failures are "
                        "missing evidence, not absent."
                    ),
                    "last_seen": stream.last_seen.isoformat(),
                    "silence_business_hours": f"{hours:.2f}",
                    "limit_business_hours": f"{limit:.2f}",
                },
                starts_at=now,
                crossed_at=now,
                generator_url=f"{public_url}/api/v1/telemetry/silence",
            )
        )
    return alerts


@dataclass
class _Learnt:
    at: datetime
    limits: dict[tuple[str, str], float | None]
    last_seen: dict[tuple[str, str], datetime]
    read_until: datetime


class TelemetrySilence:
    """Silence of every stream seen in the learning window, and the ``TelemetryMissing`` alerts.

    The cadence is relearnt every ``RELEARN_EVERY``; between, each call reads only the rows stored
    since the previous one. Thread-safe (the API and the evaluator may share one).
    """

    def __init__(
        self,
        client: Callable[[], Client],
        calendar: EntityCalendar,
        bounds: SilenceBounds,
        *,
        public_url: str = "",
        owners: OwnerRouting | None = None,
    ) -> None:
        self._client = client
        self.calendar = calendar
        self.bounds = bounds
        self._public_url = public_url
        self._owners = owners or OwnerRouting()
        self._learnt: _Learnt | None = None
        self._lock = threading.Lock()

    def streams(self, now: datetime) -> list[StreamSilence]:
        """Every stream's silence at ``now``, the longest first."""
        with self._lock:
            learnt = self._refresh(utc(now))
        now_s = epoch_seconds(utc(now))
        found = []
        for key, last in learnt.last_seen.items():
            last_s = min(epoch_seconds(last), now_s)
            clock = clock_for_span(self.calendar, last_s, now_s)
            silence = float(clock.elapsed(np.array([last_s]), np.array([now_s]))[0])
            found.append(
                StreamSilence(
                    kind=key[0],
                    name=key[1],
                    last_seen=last,
                    silence_seconds=silence,
                    bound_seconds=self.bounds.bound(key[1]).seconds(self.calendar),
                    learnt_seconds=learnt.limits.get(key),
                )
            )
        return sorted(found, key=lambda s: (-s.silence_seconds, s.kind, s.name))

    def alerts(self, now: datetime) -> list[Alert]:
        return silence_alerts(
            self.streams(now), now=now, public_url=self._public_url, owners=self._owners
        )

    def _refresh(self, now: datetime) -> _Learnt:
        client = self._client()
        if self._learnt is None or now - self._learnt.at >= RELEARN_EVERY:
            rows = client.query(
                CADENCE, parameters={"since": now - LEARNING_WINDOW, "until": now}
            ).result_rows
            epoch = now - LEARNING_WINDOW
            self._learnt = _Learnt(
                at=now,
                limits={(str(k), str(n)): learnt_limit(m, self.calendar) for k, n, m, _, _ in rows},
                last_seen={(str(k), str(n)): utc(last) for k, n, _, last, _ in rows},
                read_until=max((utc(i) for *_, i in rows), default=epoch),
            )
            return self._learnt
        learnt = self._learnt
        rows = client.query(
            LATEST,
            parameters={"after": learnt.read_until, "since": now - LEARNING_WINDOW, "until": now},
        ).result_rows
        for kind, name, last, ingested in rows:
            key = (str(kind), str(name))
            before = learnt.last_seen.get(key)
            learnt.last_seen[key] = utc(last) if before is None else max(before, utc(last))
            learnt.read_until = max(learnt.read_until, utc(ingested))
        return learnt
