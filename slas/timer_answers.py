"""SLA answers from the timer state: summaries, the attainment trend, timer lists and the alerting
timers, at any ``as_of`` (event time) and ``known_at`` (knowledge time). Summaries, trend and lists
sum the signed state pieces of ``sla_timer_changes`` (``slas.timer_changes``); the alerting (and,
until the changes have caught up after a migration, every answer) reads the timers' latest
versions known by then from ``sla_timers``. Only the business time of the rows a caller shows is
worked out in Python.

``known_at`` is capped at the keeper's watermark: up to it the versions are complete, so an answer
for a past ``known_at`` never changes; the answer says which ``known_at`` it describes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client

from domain.instants import utc
from slas import timer_changes
from slas.business_state import BusinessState
from slas.business_time import clock_for_span, epoch_seconds
from slas.calendars import CalendarBook
from slas.definitions import SlaDefinition
from slas.timer_changes import timer_state_sql
from slas.timer_rows import WRONG_PERIOD
from slas.timers import BREACHED, MET, STATES, AttainmentPoint, SlaSummary
from warehouse.schema import SLA_TIMERS, TIMER_INSTANTS, TIMER_LAST_INSTANT

_AS_OF = "{as_of:DateTime64(6, 'UTC')}"
_HAS_STOPPED, _REASON, _STATE = timer_state_sql(_AS_OF)


def _latest_versions(among: str) -> str:
    return f"""
SELECT Sla, KeyType, KeyId, StartEventId, Deleted, StartedAt, Deadline, WarningAt, WarningShares,
    StoppedAt, StopReason, ElapsedSeconds, TargetSeconds, LegalEntity, Amount, Currency,
    StopEventId
FROM {SLA_TIMERS}
WHERE KnownAt <= {{known_at:DateTime64(3, 'UTC')}} AND Sla IN {{slas:Array(String)}}
  AND (NOT {{open_only:UInt8}} OR (KeyType, KeyId, Sla, StartEventId) IN (
        SELECT KeyType, KeyId, Sla, StartEventId FROM {SLA_TIMERS}
        WHERE Deleted = 0 AND (StoppedAt IS NULL OR StoppedAt > {{as_of:DateTime64(6, 'UTC')}})))
  AND {among}
ORDER BY KeyType, KeyId, Sla, StartEventId, KnownAt DESC
LIMIT 1 BY KeyType, KeyId, Sla, StartEventId
"""


LATEST_VERSIONS = _latest_versions("1")
"""Every timer's latest version known at ``known_at`` (its history stays in the table): the
table's order read backwards within a timer, first row kept (a tuple ``argMax`` over these
columns costs about eight times as much). With ``open_only`` only timers some version of which
was open at ``as_of`` are read: a superset of the timers open then, read without every timer's
history (the alerting's read)."""

_KNOWN_TIMERS = f"""
SELECT DISTINCT KeyType, KeyId, Sla, StartEventId
FROM {SLA_TIMERS}
WHERE KnownAt <= {{known_at:DateTime64(3, 'UTC')}} AND Sla IN {{slas:Array(String)}}"""

CHANGED = f"""{_KNOWN_TIMERS}
  AND KnownAt > {{known_since:DateTime64(3, 'UTC')}}
UNION DISTINCT{_KNOWN_TIMERS}
  AND {TIMER_LAST_INSTANT} > {{at_since:DateTime64(6, 'UTC')}}
  AND arrayExists(t -> t > {{at_since:DateTime64(6, 'UTC')}} AND t <= {_AS_OF}, {TIMER_INSTANTS})
"""
"""The timers whose alerting can differ at ``as_of`` from what it was at ``at_since`` as known at
``known_since``: a version stored since, or an instant of theirs (start, warning share, deadline,
stop) passed since (``NEXT_CHANGE``'s instants). A superset: an earlier version's instants count
too. Two reads, each skipping granules by its own index (``KnownAt``'s, the last instant's:
migration 31); as one condition joined by ``OR`` neither index could skip anything, and the
read was every version stored, at every tick that wrote versions."""


def _timers_at(among: str) -> str:
    return f"""
SELECT Sla, KeyType, KeyId, StartEventId,
    StartedAt AS started, Deadline AS deadline, WarningAt AS warning_at, WarningShares AS shares,
    StoppedAt AS stopped, ElapsedSeconds AS elapsed, TargetSeconds AS target,
    LegalEntity AS legal_entity, Amount AS amount, Currency AS currency, StopEventId AS stop_event,
    {_HAS_STOPPED} AS has_stopped, {_REASON} AS reason, {_STATE} AS state,
    if(state = {BREACHED} AND reason != '{WRONG_PERIOD}', deadline, stopped) AS decided_at
FROM ({_latest_versions(among)})
WHERE Deleted = 0 AND started <= {_AS_OF}
"""


TIMERS_AT = _timers_at("1")
"""Every timer that had started by ``as_of``, in its state then (codes of ``slas.timers``), and for
a met or breached one the instant it was decided: a breach at its deadline (the trend's rule), one
in the wrong period and a met timer when it stopped."""

SUMMARY = f"""
SELECT Sla, countIf(state = 0), countIf(state = 1), countIf(state = 2), countIf(state = 3),
    quantileExactInclusiveIf(0.5)(elapsed / 3600, has_stopped),
    quantileExactInclusiveIf(0.95)(elapsed / 3600, has_stopped), countIf(has_stopped)
FROM ({TIMERS_AT})
GROUP BY Sla
"""

TREND = f"""
SELECT Sla, instant,
    countIf(state = {MET} AND stopped <= instant),
    countIf(state = {BREACHED} AND reason = '{WRONG_PERIOD}' AND stopped <= instant)
        + countIf(state = {BREACHED} AND reason != '{WRONG_PERIOD}' AND deadline < instant)
FROM ({TIMERS_AT})
ARRAY JOIN {{instants:Array(DateTime64(6, 'UTC'))}} AS instant
GROUP BY Sla, instant
"""
"""What evaluations at each instant would count as met and breached, from the state at
``as_of`` (``slas.timers.attainment_history``'s rule, in SQL)."""

TIMER_LIST = f"""
SELECT KeyType, KeyId, state, reason, started, stopped, deadline, elapsed, target,
       legal_entity, amount, currency, StartEventId, stop_event
FROM ({TIMERS_AT})
WHERE (empty({{state:String}}) OR state = indexOf({list(STATES)}, {{state:String}}) - 1)
  AND (empty({{legal_entity:String}}) OR legal_entity = {{legal_entity:String}})
ORDER BY arrayElement([3, 0, 1, 2], state + 1), deadline, KeyId, StartEventId
LIMIT {{limit:UInt32}}
"""
"""One SLA's timers, the most urgent first: breached, at risk, on track, met."""


def _alerting(among: str) -> str:
    return f"""
SELECT Sla, KeyType, KeyId, StartEventId, state, started, deadline, warning_at, shares,
       legal_entity, amount, currency, target
FROM ({_timers_at(among)})
WHERE NOT has_stopped AND state IN ({BREACHED}, 2)
"""


ALERTING = _alerting("1")
"""Open timers at risk or breached at ``as_of``: the ones that alert."""

ALERTING_CHANGED = _alerting(f"(KeyType, KeyId, Sla, StartEventId) IN ({CHANGED})")
"""``ALERTING`` among the ``CHANGED`` timers only. (Their keys passed back as an array parameter
instead cost 0.4 s for 2,000 timers and 90 s for 8,000 in the engine, and a tick of steady ingest
changes ~40,000: the subquery is worked out again instead.)"""

BREACHED_OPEN = f"""
SELECT count(), groupArrayIf((Sla, KeyType, KeyId, StartEventId),
    StartEventId IN {{events:Array(String)}})
FROM ({TIMERS_AT})
WHERE NOT has_stopped AND state = {BREACHED}
"""
"""How many open timers are breached at ``as_of``, and the keys of those among ``events`` (start
event ids): the work queue's count, which folds the history of those only."""

TIMERS_AHEAD = f"""
SELECT KeyType, KeyId, Sla, StartEventId FROM {SLA_TIMERS}
WHERE {TIMER_LAST_INSTANT} > {_AS_OF} AND KnownAt <= {{known_at:DateTime64(3, 'UTC')}}
  AND Sla IN {{slas:Array(String)}}"""
"""Timers some version of which has an instant after ``as_of`` (read through the last instant's
index, ``idx_last_instant``: the versions whose instants all passed are skipped by the granule).
A superset of the timers whose latest version has its deadline after ``as_of``: the deadline is
one of a version's instants."""

NEXT_CHANGE = f"""
SELECT minOrNull(arrayMin(arrayFilter(t -> t > {_AS_OF}, {TIMER_INSTANTS})))
FROM ({_latest_versions(f"(KeyType, KeyId, Sla, StartEventId) IN ({TIMERS_AHEAD})")})
WHERE Deleted = 0 AND (StoppedAt IS NULL OR StoppedAt > {_AS_OF}) AND Deadline > {_AS_OF}
"""
"""The first instant after ``as_of`` at which a timer open then starts, passes a warning share,
its deadline, or stops (NULL when none will): until then, and while no version is written, the
alerting timers stay the same ones. Only the latest versions of the timers ``TIMERS_AHEAD`` names are
read: a timer whose every version's instants passed has its latest deadline passed too, and
counts for nothing here (under ``open_only``'s read, every timer still open, breached ones
included, was read: at 10M seconds a tick that wrote nothing)."""


@dataclass(frozen=True)
class Summaries:
    """Every SLA's summary, and the instants the answer describes."""

    as_of: datetime
    known_at: datetime
    summaries: list[SlaSummary]


@dataclass(frozen=True)
class TimerListing:
    """One timer as the API lists it."""

    key_type: str
    key_id: str
    state: str
    breach_reason: str
    started_at: datetime
    stopped_at: datetime | None
    deadline: datetime
    business_elapsed_hours: float
    percent_elapsed: float
    legal_entity: str
    amount: Decimal | None
    currency: str
    start_event_id: str
    stop_event_id: str


@dataclass(frozen=True, slots=True)
class AlertingTimer:
    """An open timer past a warning share or its deadline."""

    sla: str
    key_type: str
    key_id: str
    start_event_id: str
    breached: bool
    started_at: datetime
    deadline: datetime
    threshold: float
    crossed_at: datetime
    elapsed_seconds: float
    target_seconds: float
    legal_entity: str
    amount: Decimal | None
    currency: str

    @property
    def key(self) -> TimerKey:
        return self.sla, self.key_type, self.key_id, self.start_event_id


TimerKey = tuple[str, str, str, str]
"""A timer's identity: (SLA, key type, key id, start event id)."""


@dataclass(frozen=True)
class AlertingRead:
    """The alerting timers at ``as_of`` as known at ``known_at``. ``changed`` is None for a read
    of every timer; for a read of what changed since an earlier one, the timers it looked at
    (``timers`` holds those of them that alert now; the others alert as they did then)."""

    as_of: datetime
    known_at: datetime
    timers: list[AlertingTimer]
    changed: frozenset[TimerKey] | None = None


HEAD_ROWS = 8
"""Rows read per listed timer before a list reads every row (a timer's piece has two rows, four
when a later version took it back)."""


class TimerAnswers:
    """Reads ``sla_timers`` for the API and the alerting; ``state`` says how far it is known."""

    def __init__(
        self,
        client: Callable[[], Client],
        definitions: Sequence[SlaDefinition],
        calendars: CalendarBook,
        state: BusinessState,
        *,
        from_changes: bool = True,
    ) -> None:
        self._client = client
        self.definitions = tuple(definitions)
        self.calendars = calendars
        self._state = state
        self._from_changes = from_changes

    def known_at(self, requested: datetime | None) -> datetime:
        return self._state.known_at(requested)

    def _known(self, requested: datetime | None) -> tuple[datetime, bool]:
        """The ``known_at`` an answer describes (``BusinessState.known_at``), and whether
        ``sla_timer_changes`` holds every version known then (it lags the versions only between
        a migration and the next tick): else the answer sorts the versions themselves."""
        if not self._from_changes:
            return self.known_at(requested), False
        return self._state.known_at_recorded(requested, timer_changes.CHANGES_WATERMARK_KEY)

    def _parameters(self, as_of: datetime, known_at: datetime, **more: Any) -> dict[str, Any]:
        return {
            "as_of": utc(as_of),
            "known_at": known_at,
            "slas": [d.name for d in self.definitions],
            "open_only": 0,
            **more,
        }

    def summaries(self, as_of: datetime, known_at: datetime | None) -> Summaries:
        known, from_changes = self._known(known_at)
        parameters = self._parameters(as_of, known)
        client = self._client()
        if from_changes:
            rows = self._percentiles_from_buckets(
                client, parameters, client.query(timer_changes.SUMMARY, parameters=parameters)
            )
        else:
            rows = list(client.query(SUMMARY, parameters=parameters).result_rows)
        by_name = {str(row[0]): row for row in rows}
        summaries = []
        for definition in self.definitions:
            row = by_name.get(definition.name)
            counts = dict.fromkeys(STATES, 0)
            p50 = p95 = None
            if row is not None:
                counts = dict(zip(STATES, (int(n) for n in row[1:5]), strict=True))
                if int(row[7]):
                    p50, p95 = round(float(row[5]), 2), round(float(row[6]), 2)
            decided = counts["met"] + counts["breached"]
            summaries.append(
                SlaSummary(
                    name=definition.name,
                    target=str(definition.target),
                    counts=counts,
                    attainment=round(counts["met"] / decided, 4) if decided else None,
                    p50_business_hours=p50,
                    p95_business_hours=p95,
                )
            )
        return Summaries(utc(as_of), known, summaries)

    @staticmethod
    def _percentiles_from_buckets(
        client: Client, parameters: dict[str, Any], counted: Any
    ) -> list[Sequence[Any]]:
        """``SUMMARY``'s rows from ``timer_changes.SUMMARY``'s: each SLA's exact percentiles from
        the stopped timers at the ranks it located, read from their buckets only."""
        located = [
            (
                str(sla),
                counts,
                *timer_changes.rank_buckets([(int(b), int(n)) for b, n in by_bucket]),
            )
            for sla, *counts, by_bucket in counted.result_rows
        ]
        wanted: dict[tuple[str, int], set[int]] = {}
        for sla, _, stopped, buckets, before in located:
            for rank, bucket, earlier in zip(
                timer_changes.percentile_ranks(stopped), buckets, before, strict=True
            ):
                wanted.setdefault((sla, bucket), set()).add(rank - earlier)
        reads = sorted(wanted)
        values: dict[tuple[str, int, int], float] = {}
        if reads:
            parameters = parameters | {
                "buckets": reads,
                "ranks": [(sla, bucket, sorted(wanted[(sla, bucket)])) for sla, bucket in reads],
            }
            for sla, bucket, found in client.query(
                timer_changes.RANKED_ELAPSED, parameters=parameters
            ).result_rows:
                in_bucket = sorted(wanted[(str(sla), int(bucket))])
                values |= {
                    (str(sla), int(bucket), rank): float(value)
                    for rank, value in zip(in_bucket, found, strict=True)
                }
        rows: list[Sequence[Any]] = []
        for sla, counts, stopped, buckets, before in located:
            hours = {
                rank: values[(sla, bucket, rank - earlier)] / 3600
                for rank, bucket, earlier in zip(
                    timer_changes.percentile_ranks(stopped), buckets, before, strict=True
                )
            }
            p50, p95 = (
                timer_changes.exact_percentile(level, stopped, hours.__getitem__)
                if stopped
                else None
                for level in timer_changes.PERCENTILES
            )
            rows.append((sla, *counts, p50, p95, stopped))
        return rows

    def trend(
        self, as_of: datetime, known_at: datetime | None, instants: Sequence[datetime]
    ) -> tuple[datetime, dict[str, list[AttainmentPoint]]]:
        """Per SLA, met and breached at each of ``instants`` (from the state at ``as_of``)."""
        known, from_changes = self._known(known_at)
        parameters = self._parameters(
            as_of,
            known,
            instants=[utc(i) for i in instants],
            instant_days=sorted({utc(i).date() for i in instants}),
        )
        client = self._client()
        if from_changes and not instants:
            counted = {}
        elif from_changes:
            seconds = [epoch_seconds(utc(i)) for i in instants]
            by_state: dict[tuple[str, int], list[int]] = {}
            for sla, state, sums in client.query(
                timer_changes.TREND, parameters=parameters
            ).result_rows:
                by_state[(str(sla), int(state))] = [int(n) for n in sums]
            nothing = [0] * len(instants)
            counted = {
                (sla, at): (met, breached)
                for sla in {sla for sla, _ in by_state}
                for at, met, breached in zip(
                    seconds,
                    by_state.get((sla, MET), nothing),
                    by_state.get((sla, BREACHED), nothing),
                    strict=True,
                )
            }
        else:
            rows = client.query(TREND, parameters=parameters).result_rows
            counted = {(str(r[0]), epoch_seconds(utc(r[1]))): (int(r[2]), int(r[3])) for r in rows}
        points = {
            d.name: [
                AttainmentPoint(
                    epoch_seconds(i), *counted.get((d.name, epoch_seconds(utc(i))), (0, 0))
                )
                for i in instants
            ]
            for d in self.definitions
        }
        return known, points

    def timers(
        self,
        definition: SlaDefinition,
        as_of: datetime,
        known_at: datetime | None,
        *,
        state: str | None = None,
        legal_entity: str | None = None,
        limit: int = 1000,
    ) -> tuple[datetime, list[TimerListing]]:
        known, from_changes = self._known(known_at)
        parameters = {
            **self._parameters(as_of, known, limit=limit),
            "slas": [definition.name],
            "sla": definition.name,
            "state": state or "",
            "legal_entity": legal_entity or "",
        }
        client = self._client()
        if from_changes:
            # the first rows in the table's order usually hold the list: more pieces in effect
            # than it needs make it exact, else every row is read
            head = client.query(
                timer_changes.TIMER_LIST_HEAD,
                parameters={**parameters, "limit": limit + 1, "rows": HEAD_ROWS * (limit + 1)},
            ).result_rows
            rows = (
                head[:limit]
                if len(head) > limit
                else client.query(timer_changes.TIMER_LIST, parameters=parameters).result_rows
            )
        else:
            rows = client.query(TIMER_LIST, parameters=parameters).result_rows
        now = epoch_seconds(utc(as_of))
        open_elapsed = self._open_elapsed(
            [
                (str(r[9]), epoch_seconds(utc(r[4])))
                for r in rows
                if r[5] is None or utc(r[5]) > utc(as_of)
            ],
            now,
        )
        listings = []
        for row in rows:
            (key_type, key_id, code, reason, started, stopped, deadline, elapsed, target) = row[:9]
            entity, amount, currency, start_event, stop_event = row[9:]
            stopped_by = stopped is not None and utc(stopped) <= utc(as_of)
            seconds = (
                float(elapsed)
                if stopped_by
                else open_elapsed.get((str(entity), epoch_seconds(utc(started))), 0.0)
            )
            listings.append(
                TimerListing(
                    key_type=str(key_type),
                    key_id=str(key_id),
                    state=STATES[int(code)],
                    breach_reason=str(reason) if int(code) == BREACHED else "",
                    started_at=utc(started),
                    stopped_at=utc(stopped) if stopped_by else None,
                    deadline=utc(deadline),
                    business_elapsed_hours=round(seconds / 3600, 4),
                    percent_elapsed=round(100 * seconds / float(target), 1) if target else 0.0,
                    legal_entity=str(entity),
                    amount=amount,
                    currency=str(currency),
                    start_event_id=str(start_event),
                    stop_event_id=str(stop_event) if stopped_by else "",
                )
            )
        return known, listings

    def alerting(self, now: datetime) -> list[AlertingTimer]:
        """Open timers at risk or breached at ``now``, as known at the watermark."""
        return self.alerting_read(now).timers

    def alerting_read(self, now: datetime) -> AlertingRead:
        """``alerting``, with the ``known_at`` it describes."""
        known = self.known_at(None)
        parameters = self._parameters(now, known, open_only=1)
        rows = self._client().query(ALERTING, parameters=parameters).result_rows
        return AlertingRead(utc(now), known, self._alerting_timers(rows, now))

    def alerting_changes(self, now: datetime, since: AlertingRead) -> AlertingRead:
        """What ``alerting_read`` would give at ``now`` for the timers whose alerting can have
        changed since ``since`` (``CHANGED``): a tick's cost follows what it changed, not the
        open timers."""
        known = self.known_at(None)
        parameters = self._parameters(
            now, known, open_only=1, known_since=since.known_at, at_since=since.as_of
        )
        client = self._client()
        found = [
            tuple(map(str, row)) for row in client.query(CHANGED, parameters=parameters).result_rows
        ]
        changed = frozenset(
            (sla, key_type, key_id, start) for key_type, key_id, sla, start in found
        )
        if not changed:
            return AlertingRead(utc(now), known, [], changed)
        # CHANGED names the timers: no need for open_only's read of every open timer
        among = {**parameters, "open_only": 0}
        rows = client.query(ALERTING_CHANGED, parameters=among).result_rows
        return AlertingRead(utc(now), known, self._alerting_timers(rows, now), changed)

    def _alerting_timers(self, rows: Sequence[Sequence[Any]], now: datetime) -> list[AlertingTimer]:
        at = epoch_seconds(utc(now))
        elapsed = self._open_elapsed([(str(r[9]), epoch_seconds(utc(r[5]))) for r in rows], at)
        alerting = []
        for (
            sla,
            key_type,
            key_id,
            start_event,
            code,
            started,
            deadline,
            warn,
            shares,
            entity,
            amount,
            currency,
            target,
        ) in rows:
            passed = [
                (float(share), utc(instant))
                for share, instant in zip(shares, warn, strict=True)
                if utc(instant) <= utc(now)
            ]
            breached = int(code) == BREACHED
            threshold, crossed_at = passed[-1] if passed else (0.0, utc(deadline))
            alerting.append(
                AlertingTimer(
                    sla=str(sla),
                    key_type=str(key_type),
                    key_id=str(key_id),
                    start_event_id=str(start_event),
                    breached=breached,
                    started_at=utc(started),
                    deadline=utc(deadline),
                    threshold=threshold,
                    crossed_at=utc(deadline) if breached else crossed_at,
                    elapsed_seconds=elapsed.get((str(entity), epoch_seconds(utc(started))), 0.0),
                    target_seconds=float(target),
                    legal_entity=str(entity),
                    amount=amount,
                    currency=str(currency),
                )
            )
        return alerting

    def breached_open(
        self, now: datetime, start_events: Sequence[str]
    ) -> tuple[int, list[tuple[str, str, str, str]]]:
        """How many open timers are breached at ``now`` (as ``alerting`` lists them), and the
        (SLA, key type, key id, start event) of those that start at one of ``start_events``."""
        # every timer's latest version, read in the table's order, rather than open_only's set of
        # every timer open at ``now`` first (the same count): the set grows with the timers that
        # never stop (+400 MiB for 1.34 M on 2.1 M soak-shaped spans, 120 MiB without it)
        parameters = self._parameters(
            now, self.known_at(None), open_only=0, events=sorted(set(start_events))
        )
        ((count, keys),) = self._client().query(BREACHED_OPEN, parameters=parameters).result_rows
        return int(count), [(str(a), str(b), str(c), str(d)) for a, b, c, d in keys]

    def next_change(self, after: datetime) -> datetime | None:
        """The first instant after ``after`` at which the alerting timers can differ without a
        new version (``NEXT_CHANGE``), None if none will."""
        parameters = self._parameters(after, self.known_at(None))
        rows = self._client().query(NEXT_CHANGE, parameters=parameters).result_rows
        return utc(rows[0][0]) if rows and rows[0][0] is not None else None

    def _open_elapsed(
        self, starts: list[tuple[str, float]], now: float
    ) -> dict[tuple[str, float], float]:
        """Business seconds from each (legal entity, start) to ``now``: the projection of open
        timers, done in Python over the rows shown only."""
        elapsed: dict[tuple[str, float], float] = {}
        by_entity: dict[str, list[float]] = {}
        for entity, started in starts:
            by_entity.setdefault(entity, []).append(started)
        for entity, instants in by_entity.items():
            calendar = self.calendars.for_entity(entity)
            values = np.array(instants)
            clock = clock_for_span(calendar, float(values.min()), max(now, float(values.max())))
            seconds = clock.elapsed(values, np.maximum(values, now))
            elapsed.update(
                {(entity, s): float(e) for s, e in zip(instants, seconds.tolist(), strict=True)}
            )
        return elapsed
