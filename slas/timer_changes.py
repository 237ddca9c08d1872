"""SLA timer states as signed rows (``sla_timer_changes``): each stored version of a timer split into
the pieces of time in which its state (and whether it has stopped) stays the same, a +1 row where a
piece begins and a -1 row where it ends; the version that supersedes it takes its rows back (the
same rows negated, stamped with the new version's ``KnownAt``). The timers in a state at ``as_of``
as known at ``known_at`` are then the rows with ``Instant <= as_of AND KnownAt <= known_at``
summed: no sort of every version, and timer lists that read in the table's order.

``record`` keeps the rows up to the keeper's watermark, from the versions stored since its own
watermark (one ``INSERT … SELECT``); recorded from scratch, the versions give the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import accumulate

from clickhouse_connect.driver.client import Client

from domain.instants import EPOCH, utc
from slas.timer_rows import WRONG_PERIOD
from slas.timers import AT_RISK, BREACHED, MET, ON_TRACK, STATES
from warehouse.key_ranges import in_range_sql, key_ranges, range_parameters, sample_sql
from warehouse.schema import (
    BUCKET_SUMS,
    SLA_TIMER_CHANGES,
    SLA_TIMER_ELAPSED,
    SLA_TIMER_SUMS,
    SLA_TIMERS,
    STATE_SUMS,
    elapsed_bucket_sql,
)
from warehouse.schema_state import read_state, write_state

CHANGES_WATERMARK_KEY = "sla_timer_changes_watermark"

URGENCY = (3, 0, 1, 2)
"""Urgency of each state code (``slas.timers``): breached first, then at risk, on track, met."""

_NEVER = "toDateTime64('2299-12-31 00:00:00', 6, 'UTC')"


def timer_state_sql(at: str) -> tuple[str, str, str]:
    """SQL of a timer version's (has stopped, breach reason, state code) at the instant ``at``,
    over ``sla_timers``' columns: stopped by then; its stop's reason, else 'missing' past the
    deadline; met, breached, at risk past the first warning instant, else on track."""
    stopped = f"(StoppedAt IS NOT NULL AND StoppedAt <= {at})"
    reason = f"multiIf({stopped}, StopReason, Deadline < {at}, 'missing', '')"
    state = (
        f"multiIf({stopped}, if(StopReason = '', {MET}, {BREACHED}), Deadline < {at}, {BREACHED}, "
        f"length(WarningAt) > 0 AND WarningAt[1] <= {at}, {AT_RISK}, {ON_TRACK})"
    )
    return stopped, reason, state


_CARRIED = (
    "StartedAt",
    "StoppedAt",
    "StopReason",
    "StopEventId",
    "ElapsedSeconds",
    "TargetSeconds",
    "LegalEntity",
    "Amount",
    "Currency",
)
"""The columns of ``sla_timers`` every row of a version carries as they are."""
_CONTENT = ("Deleted", "Deadline", "WarningAt", *_CARRIED)
"""What of a version its rows carry (``Deleted`` first)."""

_PIECE_STOPPED, _, _PIECE_STATE = timer_state_sql("p")
_POINTS = """arraySort(arrayDistinct(arrayFilter(p -> p >= StartedAt, [
    StartedAt, if(empty(WarningAt), StartedAt, WarningAt[1]), addMicroseconds(Deadline, 1),
    ifNull(StoppedAt, StartedAt)])))"""
"""The instants at which a version's state can change: its start, its first warning, just past its
deadline ('missing' counts from the first instant after it) and its stop; none before its start."""

_KEYS = f"arrayMap(p -> toUInt8(2 * ({_PIECE_STATE}) + ifNull({_PIECE_STOPPED}, 0)), points)"
"""Each point's piece: its state code and whether the timer has stopped, as 2 * state + stopped."""

_CHANGES = """arrayFilter(c -> c.4, arrayFlatten(arrayMap(i -> [
    (toInt8(1), keys[i], points[i], i = 1 OR keys[i] != keys[i - 1]),
    (toInt8(-1), keys[if(i = 1, 1, i - 1)], points[i], i > 1 AND keys[i] != keys[i - 1])],
    arrayEnumerate(points))))"""
"""(sign, piece, instant, kept) where a piece begins (+1) or ends (-1)."""

CHANGE_COLUMNS = (
    "Sla",
    "Urgency",
    "Deadline",
    "KeyId",
    "StartEventId",
    "KeyType",
    "Version",
    "Stopped",
    "Instant",
    "KnownAt",
    "Delta",
    "State",
    "CountsFrom",
    *_CARRIED,
    "VersionKnownAt",
)

_STATE_OF_CHANGE = "intDiv(change.2, 2)"
_VERSION_COLUMNS = ", ".join(
    f"body.{index} AS {name}" for index, name in enumerate(_CONTENT, start=1) if index > 1
)
_SAME_WINDOW = "timer_versions"

_IN_SLICE = in_range_sql("KeyType", "KeyId")
_IN_WINDOW = (
    "KnownAt > {since:DateTime64(3, 'UTC')} AND KnownAt <= {until:DateTime64(3, 'UTC')} "
    f"AND {_IN_SLICE}"
)
"""A version stored in the window, of a timer whose key lies in the slice."""


def _record(versions: str) -> str:
    """The ``INSERT … SELECT`` of the rows of the signed versions ``versions`` selects (one row a
    version to add, +1, or to take back, -1: a timer's identity, ``Stamp``, ``Sign``,
    ``VersionKnownAt``, ``Version``, the ``_CONTENT`` columns but ``Deleted``, and ``_VERSIONED``:
    its points and their pieces)."""
    return f"""
INSERT INTO {SLA_TIMER_CHANGES} ({", ".join(CHANGE_COLUMNS)})
SELECT Sla, arrayElement({list(URGENCY)}, {_STATE_OF_CHANGE} + 1), Deadline, KeyId,
    StartEventId, KeyType, Version, change.2 % 2, change.3, Stamp, Sign * change.1,
    {_STATE_OF_CHANGE},
    multiIf({_STATE_OF_CHANGE} = {MET}, assumeNotNull(StoppedAt),
            {_STATE_OF_CHANGE} = {BREACHED} AND change.2 % 2 = 1
                AND StopReason = '{WRONG_PERIOD}', assumeNotNull(StoppedAt),
            {_STATE_OF_CHANGE} = {BREACHED}, addMicroseconds(Deadline, 1), {_NEVER}),
    {", ".join(_CARRIED)}, VersionKnownAt
FROM ({versions}
)
ARRAY JOIN {_CHANGES} AS change
"""


_VERSIONED = f"{_POINTS} AS points, {_KEYS} AS keys"


_SIGNED = f"""
    SELECT Sla, KeyType, KeyId, StartEventId, Stamp, Sign, VersionKnownAt,
        cityHash64(body) AS Version,
        {_VERSION_COLUMNS}, {_VERSIONED}
    FROM (
        SELECT Sla, KeyType, KeyId, StartEventId, Stamp, version.1 AS Sign, version.2 AS body,
            version.3 AS VersionKnownAt
        FROM (
            SELECT Sla, KeyType, KeyId, StartEventId, KnownAt AS Stamp,
                arrayJoin(arrayFilter(v -> v.1 != 0 AND tupleElement(v.2, 1) = 0,
                    [(toInt8(1), content, KnownAt),
                     (toInt8(if(has_previous, -1, 0)), previous, previous_known_at)])) AS version
            FROM (
                SELECT Sla, KeyType, KeyId, StartEventId, KnownAt,
                    tuple({", ".join(_CONTENT)}) AS content,
                    lagInFrame(content) OVER {_SAME_WINDOW} AS previous,
                    lagInFrame(KnownAt) OVER {_SAME_WINDOW} AS previous_known_at,
                    lagInFrame(toUInt8(1)) OVER {_SAME_WINDOW} AS has_previous
                FROM {SLA_TIMERS}
                PREWHERE cityHash64(KeyType, KeyId) IN (
                    SELECT cityHash64(KeyType, KeyId) FROM {SLA_TIMERS} WHERE {_IN_WINDOW})
                WHERE KnownAt <= {{until:DateTime64(3, 'UTC')}} AND {_IN_SLICE}
                  AND (KeyType, KeyId) IN (SELECT KeyType, KeyId FROM {SLA_TIMERS} WHERE {_IN_WINDOW})
                WINDOW {_SAME_WINDOW} AS (
                    PARTITION BY KeyType, KeyId, Sla, StartEventId ORDER BY KnownAt
                    ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
            )
            WHERE KnownAt > {{since:DateTime64(3, 'UTC')}}
        )
    )"""
"""Every version stored in ``(since, until]`` of the timers whose key lies in a range
(``warehouse.key_ranges``), +1, and its predecessor, -1, both stamped with its ``KnownAt``; a
deleted version only takes its predecessor back. The versions are read by the window's keys
(type and id: a key's other timers have no version in the window, and the version level keeps
the window's only), their hashes first: a set of hashes costs a row a quarter of what the four
strings of a timer's identity cost, and the keys' own set narrows the read by the table's order
where the window's keys lie together. ``VersionKnownAt`` is the ``KnownAt`` of the version
whose pieces a row adds or takes back: the retention expires a version's rows with the version
(``warehouse/retention.py``)."""

_FIRST = f"""
    SELECT Sla, KeyType, KeyId, StartEventId, KnownAt AS Stamp, toInt8(1) AS Sign,
        KnownAt AS VersionKnownAt, cityHash64(tuple({", ".join(_CONTENT)})) AS Version,
        {", ".join(_CONTENT[1:])}, {_VERSIONED}
    FROM {SLA_TIMERS}
    WHERE {_IN_WINDOW} AND Deleted = 0"""
"""``_SIGNED`` when every version of the window's timers is in the window (each its timer's
first): the window's versions not deleted, +1, as they are; nothing to take back. No window
function, no tuple of every version's columns for the engine to analyse and carry."""

RECORD = _record(_SIGNED)
"""The rows of every version stored in ``(since, until]`` of the timers whose key lies in a range
(``warehouse.key_ranges``): its pieces (+), and its predecessor's taken back (-), both stamped
with its ``KnownAt`` (``_SIGNED``)."""
RECORD_FIRST = _record(_FIRST)
"""``RECORD`` when every version of the window's timers is in the window: the window's rows alone,
no read of their keys' earlier versions (there are none), the rows the same."""

RECORD_SLICE_VERSIONS = 200_000
"""Versions one ``RECORD`` statement takes at most (about): the engine sorts every version of
their timers at once. A derivation from scratch stamps every timer's version with one
``KnownAt`` (2.2 million at 10M spans), so the window is split by key, not by time."""

WINDOW_KEYS = sample_sql(SLA_TIMERS, "KeyType", "KeyId")
"""Keys of the timers with versions in a window, drawn evenly: where ``RECORD``'s slices split."""

PENDING = f"""
SELECT
    (SELECT count() FROM {SLA_TIMER_CHANGES} WHERE KnownAt > {{since:DateTime64(3, 'UTC')}}),
    count(), countIf(KnownAt < {{until:DateTime64(3, 'UTC')}})
FROM {SLA_TIMERS}
WHERE KnownAt > {{since:DateTime64(3, 'UTC')}} AND KnownAt <= {{until:DateTime64(3, 'UTC')}}
"""
"""Rows past the watermark (a record that died wrote them), versions to record, and those of them
stored before ``until`` (not by the keeper's tick, which stamps its versions ``until``)."""
TAKE_BACK_STRAY = f"""
INSERT INTO {SLA_TIMER_CHANGES} ({", ".join(CHANGE_COLUMNS)})
SELECT {", ".join("-Delta" if c == "Delta" else c for c in CHANGE_COLUMNS)}
FROM {SLA_TIMER_CHANGES}
WHERE KnownAt > {{since:DateTime64(3, 'UTC')}}
"""
"""Rows a record that died wrote past the watermark, taken back (the daily sums follow inserts
only: a delete would leave them counted)."""

_AS_OF_ = "{as_of:DateTime64(6, 'UTC')}"
_KNOWN_AT = "{known_at:DateTime64(3, 'UTC')}"
_SLAS = "{slas:Array(String)}"
_KNOWN = f"Instant <= {_AS_OF_} AND KnownAt <= {_KNOWN_AT}"
"""The rows of the pieces begun (or ended) by ``as_of`` in versions known at ``known_at``."""

_DAY_OF_AS_OF = f"Instant >= toStartOfDay({_AS_OF_}) AND {_KNOWN}"
"""The rows of ``as_of``'s own day up to it: what the daily sums leave out."""


def _sums_before(kinds: tuple[int, int], columns: str) -> str:
    """The rows of a pair of kinds of ``sla_timer_sums`` (per day: the days known before
    ``known_at``'s, then per tick: that day's up to it) that count the rows of the days before
    ``as_of``'s."""
    days, ticks = kinds
    return f"""
    SELECT {columns} FROM {SLA_TIMER_SUMS}
    WHERE Kind = {days} AND KnownDay < toDate32({_KNOWN_AT}) AND Sla IN {_SLAS}
      AND Day < toDate32({_AS_OF_})
    UNION ALL
    SELECT {columns} FROM {SLA_TIMER_SUMS}
    WHERE Kind = {ticks} AND KnownDay = toDate32({_KNOWN_AT}) AND Sla IN {_SLAS}
      AND KnownAt <= {_KNOWN_AT} AND Day < toDate32({_AS_OF_})"""


_DAYS_BEFORE = _sums_before(STATE_SUMS, "Sla, State, CountsDay, Delta")
"""The sums of every row of the days before ``as_of``'s known at ``known_at``."""

PERCENTILES = (0.5, 0.95)
"""The levels of the exact percentiles of a summary (``quantilesExactInclusive``'s)."""

_ELAPSED = elapsed_bucket_sql("ElapsedSeconds")

_SUMMED = f"""
    SELECT Sla, State, toUInt8(0) AS Stopped, toUInt32(0) AS Bucket, Delta
    FROM ({_sums_before(STATE_SUMS, "Sla, State, Delta")})
    UNION ALL
    SELECT Sla, toUInt8(255), toUInt8(1), Bucket, Delta
    FROM ({_sums_before(BUCKET_SUMS, "Sla, Bucket, Delta")})
    UNION ALL
    SELECT Sla, State, Stopped, {_ELAPSED}, toInt64(Delta) FROM {SLA_TIMER_CHANGES}
    WHERE Sla IN {_SLAS} AND {_DAY_OF_AS_OF}"""
"""Every row a summary adds, by state and, for the stopped pieces, elapsed bucket: the days before
``as_of``'s from the state sums (no bucket) and the bucket sums (no state), ``as_of``'s own day
row by row (both: one read)."""

SUMMARY = f"""
SELECT Sla, sum(met), sum(breached), sum(at_risk), sum(on_track),
    arraySort(groupArrayIf((Bucket, counted), counted != 0))
FROM (
    SELECT Sla, Bucket, sumIf(Delta, State = {MET}) AS met,
        sumIf(Delta, State = {BREACHED}) AS breached,
        sumIf(Delta, State = {AT_RISK}) AS at_risk,
        sumIf(Delta, State = {ON_TRACK}) AS on_track, sumIf(Delta, Stopped = 1) AS counted
    FROM ({_SUMMED})
    GROUP BY Sla, Bucket
)
GROUP BY Sla
"""
"""Per SLA: how many timers are in each state at ``as_of``, and how many stopped timers lie in
each elapsed bucket (sorted by bucket, the empty ones left out): where the ranks of the exact
percentiles of their business hours lie is ``rank_buckets``'."""


_RANKS = "{ranks:Array(Tuple(String, UInt32, Array(UInt64)))}"

RANKED_ELAPSED = f"""
SELECT Sla, Bucket, arrayMap(rank -> values[arrayFirstIndex(c -> c >= rank, cumulative)],
    arrayFirst(wanted -> wanted.1 = Sla AND wanted.2 = Bucket, {_RANKS}).3)
FROM (
    SELECT Sla, Bucket, arraySort(groupArray((ElapsedSeconds, timers))) AS pairs,
        arrayMap(p -> p.1, pairs) AS values, arrayCumSum(arrayMap(p -> p.2, pairs)) AS cumulative
    FROM (
        SELECT Sla, Bucket, ElapsedSeconds, sum(Delta) AS timers
        FROM {SLA_TIMER_ELAPSED}
        WHERE (Sla, Bucket) IN {{buckets:Array(Tuple(String, UInt32))}} AND {_KNOWN}
        GROUP BY Sla, Bucket, ElapsedSeconds
        HAVING timers != 0
    )
    GROUP BY Sla, Bucket
)
"""
"""The elapsed seconds at given ranks (``ranks``: SLA, bucket and the ranks within it) of the
stopped timers in each of ``buckets`` (SLA, bucket), read from those buckets' pieces only and
summed per value: the values some version took back count only as often as they are still in
effect."""


def percentile_ranks(count: int) -> list[int]:
    """The ranks (from 1) of ``count`` values that ``quantileExactInclusive`` reads for each of
    ``PERCENTILES``, the lower and the next, as ``rank_buckets`` locates them (none of no values)."""
    ranks = []
    for level in PERCENTILES if count else ():
        rank = int(level * (count - 1) + 1)
        ranks += [rank, min(rank + 1, count)]
    return ranks


def rank_buckets(by_bucket: Sequence[tuple[int, int]]) -> tuple[int, list[int], list[int]]:
    """From the stopped timers per elapsed bucket (``SUMMARY``'s, sorted by bucket): how many
    stopped, and for each of ``percentile_ranks``' ranks the bucket holding it and how many
    stopped timers lie in the buckets before that one."""
    cumulative = list(accumulate(timers for _, timers in by_bucket))
    stopped = cumulative[-1] if cumulative else 0
    buckets, before = [], []
    for rank in percentile_ranks(stopped):
        at = next(i for i, timers in enumerate(cumulative) if timers >= rank)
        buckets.append(by_bucket[at][0])
        before.append(cumulative[at] - by_bucket[at][1])
    return stopped, buckets, before


def exact_percentile(level: float, count: int, at_rank: Callable[[int], float]) -> float:
    """``quantileExactInclusive(level)`` of ``count`` values, ``at_rank(r)`` the r-th smallest
    (from 1): interpolated between the values at the ranks ``rank_buckets`` locates."""
    position = level * (count - 1) + 1
    rank = int(position)
    low = at_rank(rank)
    if rank >= count:
        return low
    return low + (position - rank) * (at_rank(rank + 1) - low)


_INSTANTS = "{instants:Array(DateTime64(6, 'UTC'))}"
_TODAY = f"Instant >= toStartOfDay({_AS_OF_}) AND Instant <= {_AS_OF_}"
"""A row of ``as_of``'s own day up to it (the trend reads it whole, ``by_instant``)."""


def _instants_counted(counted: str) -> str:
    return f"arrayMap(i -> if({counted}, toInt64(Delta), 0), {_INSTANTS})"


TREND = f"""
SELECT Sla, State, sumForEach(counted)
FROM (
    SELECT Sla, State, {_instants_counted("CountsDay < toDate32(i)")} AS counted
    FROM ({_DAYS_BEFORE})
    WHERE State IN ({MET}, {BREACHED})
    UNION ALL
    SELECT Sla, State, {_instants_counted("CountsFrom <= i")}
    FROM {SLA_TIMER_CHANGES}
    WHERE Sla IN {_SLAS} AND State IN ({MET}, {BREACHED}) AND KnownAt <= {_KNOWN_AT} AND {_TODAY}
    UNION ALL
    SELECT Sla, State, {_instants_counted("CountsFrom >= toStartOfDay(i) AND CountsFrom <= i")}
    FROM {SLA_TIMER_CHANGES}
    WHERE Sla IN {_SLAS} AND State IN ({MET}, {BREACHED}) AND KnownAt <= {_KNOWN_AT}
      AND Instant < toStartOfDay({_AS_OF_}) AND toDate32(CountsFrom) IN {{instant_days:Array(Date32)}})
GROUP BY Sla, State
"""
"""Per SLA and state (met, breached), the timers in it at ``as_of`` whose decision counts by each
trend instant (``instants``; ``instant_days``: their days): a stop (met, or breached in the wrong
period) by then, a deadline before it. Whole days from the daily sums, which count a row from the
day after its ``CountsFrom``; row by row only ``as_of``'s own day (the ``by_instant`` order) and
the rows of the days before it decided on an instant's day (the ``by_decision`` order), which
count from ``CountsFrom`` to that day's end. Each ``arrayMap`` is one expression for every
instant: spelt once per instant, as before, the text cost more to plan than to read."""


_PIECE = "Sla, Urgency, Deadline, KeyId, StartEventId, KeyType, Version, Stopped"
"""A piece of one version: its rows lie together in the table's order."""

_LISTED = f"""
    SELECT * FROM {SLA_TIMER_CHANGES}
    WHERE Sla = {{sla:String}} AND {_KNOWN}
      AND (empty({{state:String}}) OR State = indexOf({list(STATES)}, {{state:String}}) - 1)
      AND (empty({{legal_entity:String}}) OR LegalEntity = {{legal_entity:String}})
      AND (Urgency NOT IN ({URGENCY[AT_RISK]}, {URGENCY[ON_TRACK]})
           OR Deadline >= {{as_of:DateTime64(6, 'UTC')}})"""
"""The rows a list of one SLA's timers at ``as_of`` reads: a piece at risk or on track at
``as_of`` has its deadline at or after it, so those are read from ``as_of``'s deadline on."""


def _timer_list(rows: str) -> str:
    return f"""
SELECT KeyType, KeyId, any(State) AS state,
    if(Stopped = 1, any(StopReason), if(state = {BREACHED}, 'missing', '')) AS reason,
    any(StartedAt), any(StoppedAt), Deadline, any(ElapsedSeconds), any(TargetSeconds),
    any(LegalEntity), any(Amount), any(Currency), StartEventId, any(StopEventId)
FROM ({rows})
GROUP BY {_PIECE}
HAVING sum(Delta) > 0
ORDER BY {_PIECE}
LIMIT {{limit:UInt32}}
SETTINGS optimize_aggregation_in_order = 1
"""


TIMER_LIST = _timer_list(_LISTED)
"""One SLA's timers at ``as_of``, the most urgent first (breached, at risk, on track, met; then by
deadline, key and start event), in ``slas.timer_answers.TIMER_LIST``'s columns: the rows of each
piece summed, the pieces in effect kept."""

TIMER_LIST_HEAD = _timer_list(f"{_LISTED}\n    ORDER BY {_PIECE} LIMIT {{rows:UInt32}}")
"""``TIMER_LIST`` over the first ``rows`` rows in the table's order only (a read that stops
there). Only the last piece read can be cut short, so when more pieces than the list needs are in
effect, the list's are exact."""


def changes_watermark(client: Client) -> datetime:
    """The knowledge time up to which ``sla_timer_changes`` holds every version's rows."""
    state = read_state(client, CHANGES_WATERMARK_KEY)
    return _parse(state[CHANGES_WATERMARK_KEY][0]) if CHANGES_WATERMARK_KEY in state else EPOCH


def record(client: Client, until: datetime, *, at: datetime) -> None:
    """Write the rows of the versions stored since the changes' watermark up to ``until`` (the
    keeper's new watermark), then move the watermark."""
    since = changes_watermark(client)
    if until <= since:
        return
    record_window(client, since, until)
    write_state(client, CHANGES_WATERMARK_KEY, utc(until).isoformat(), at=at)


def record_window(
    client: Client,
    since: datetime,
    until: datetime,
    *,
    most: int = RECORD_SLICE_VERSIONS,
    first: bool = False,
) -> None:
    """Write the rows of the versions stored in ``(since, until]``, ``since`` being the changes'
    watermark (the caller moves it to ``until`` afterwards: the keeper's tick, with its own), in
    statements of about ``most`` versions each (slices of the timers' keys). Rows a record that
    died wrote past the watermark are taken back first, so recording again counts each row
    once.

    ``first``: every version the keeper's tick stamped ``until`` is its timer's first (the tick
    read no stored version because none could exist: ``BusinessState._rederive_around``'s
    ``new``). When, besides, no version of the window was stored before ``until`` (a tick that
    died after writing leaves some), the window's versions are every version of their timers,
    and their rows are recorded from the window alone (``RECORD_FIRST``)."""
    parameters = {"since": since, "until": until}
    stray, versions, earlier = client.query(PENDING, parameters=parameters).result_rows[0]
    if stray:
        client.command(TAKE_BACK_STRAY, parameters=parameters)
    if not versions:
        return
    statement = RECORD_FIRST if first and earlier == 0 else RECORD
    for key_range in key_ranges(
        client, WINDOW_KEYS, since, until, versions=int(versions), most=most
    ):
        client.command(statement, parameters={**parameters, **range_parameters(key_range)})


def _parse(text: str) -> datetime:
    return utc(datetime.fromisoformat(text))


def reset(client: Client, *, at: datetime) -> None:
    """Forget every row: the next ``record`` writes them again from every stored version (after
    ``sla_timers`` was rebuilt, or to check that recording from scratch gives the same rows)."""
    for table in (SLA_TIMER_CHANGES, SLA_TIMER_SUMS, SLA_TIMER_ELAPSED):
        client.command(f"TRUNCATE TABLE {table}")
    write_state(client, CHANGES_WATERMARK_KEY, EPOCH.isoformat(), at=at)
