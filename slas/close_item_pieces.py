"""Close items' states as pieces of event time (``close_item_pieces``, migration 18): each stored
version of an item split where its state changes (open, waiting, blocked, posted into another
period, posted), +1 per piece, and the version that replaces it takes its pieces back (the same
rows negated, stamped with the new version's ``KnownAt``), as ``slas.timer_changes`` keeps timers.
The money due and at risk per legal entity, due period, currency and state at ``as_of`` as known at
``known_at`` is then a sum: whole days from ``close_item_piece_days`` / ``_ticks``, ``as_of``'s own
day change by change (``close_item_piece_changes``). The items an answer lists (the largest at
risk, the waiting ones it projects) are read as the pieces in effect at ``as_of`` of the states
that put them at risk. A version's last
piece carries what its completed stage took: a view keeps those as ``close_stage_durations``, the
history the projection reads (``slas.close_state.STAGE_DURATIONS_RECORDED``).

``record_window`` writes the rows of the versions stored in a window (``slas.item_versions``
calls it with its own, under one watermark); recorded from scratch, the versions give the same
rows. The state of an item at an instant is ``slas.close_sums.item_state_sql``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, Final

from clickhouse_connect.driver.client import Client

from domain.money import units_of
from slas.close_risk import BLOCKED, CONTRIBUTORS, NOT_POSTED, OTHER_PERIOD, POSTED_LATE
from slas.close_sums import (
    ASSESSED_COLUMNS,
    ITEM_COLUMNS,
    WAITING,
    Group,
    item_state_sql,
)
from warehouse.key_ranges import WHOLE, KeyRange, in_range_sql, range_parameters
from warehouse.schema import (
    CLOSE_ITEM_PIECE_CHANGES,
    CLOSE_ITEM_PIECE_DAYS,
    CLOSE_ITEM_PIECE_TICKS,
    CLOSE_ITEM_PIECES,
    CLOSE_ITEM_ROWS,
    CLOSE_ITEMS,
    CLOSE_STAGE_DURATIONS,
    PIECE_NEVER,
)

OPEN: Final = 0
"""Begun (its stage attempted), not posted, not held, not waiting for its posting."""
WAITING_STATE: Final = 1
"""An invoice-level item whose stage took effect, waiting for its posting (``item_state_sql``)."""
BLOCKED_STATE: Final = 2
POSTED_ELSEWHERE: Final = 3
"""Posted into another period than its due period."""
POSTED: Final = 4
"""Posted into its due period."""

TABLES: Final = (
    CLOSE_ITEM_PIECES,
    CLOSE_ITEM_PIECE_DAYS,
    CLOSE_ITEM_PIECE_TICKS,
    CLOSE_STAGE_DURATIONS,
    CLOSE_ITEM_PIECE_CHANGES,
)
"""What the pieces fill: themselves, their daily sums, the completed stages and their changes by
instant (views)."""

_CARRIED = (*(column.strip() for column in ITEM_COLUMNS.split(",")[2:]), "StageSeconds")
"""The columns of ``close_items`` a piece carries as they are (``ITEM_COLUMNS`` but the key, and
what a completed stage took: ``close_stage_durations``' view reads it)."""
_CONTENT = ("Deleted", *_CARRIED)
"""What of a version its pieces depend on or carry (``Deleted`` first)."""

_AT_POINT = item_state_sql("p")
_STATE_AT_POINT = (
    f"multiIf({_AT_POINT.other_period}, {POSTED_ELSEWHERE}, {_AT_POINT.posted}, {POSTED},"
    f" {_AT_POINT.blocked}, {BLOCKED_STATE}, {_AT_POINT.waiting}, {WAITING_STATE}, {OPEN})"
)
_POINTS = """arraySort(arrayDistinct(arrayMap(p -> assumeNotNull(p), arrayFilter(
    p -> ifNull(p >= StageFirstAt, 0),
    [StageFirstAt, StageEffectiveAt, PostingFirstAt, PostingEffectiveAt, UpstreamFirstAt]))))"""
"""The instants at which a version's state can change, from the first attempt of its stage (when
the item begins to exist for close risk) on; none when it was never attempted."""
_PIECES = f"""arrayMap(j -> (states[starts[j]], points[starts[j]],
    if(j < length(starts), points[starts[j + 1]], {PIECE_NEVER})), arrayEnumerate(starts))"""
"""(state, begins, ends) of each piece: the points where the state differs from the point
before."""

_VERSION_COLUMNS = ", ".join(
    f"body.{index} AS {name}" for index, name in enumerate(_CONTENT, start=1) if index > 1
)


_IN_SLICE = in_range_sql("ItemType", "ItemId")


def versions_with_previous(columns: str = "") -> str:
    """Every version of the items whose key lies in a range (``warehouse.key_ranges``'
    parameters) that have one stored in ``(since, until]``, up to ``until``, each with ``previous_known_at`` and ``has_previous`` of the version before it (the window
    ``same_item``), and ``columns`` (more expressions over the row and ``same_item``): what
    recording a window's replaced versions (``slas.item_versions``) and its pieces reads."""
    more = f", {columns}" if columns else ""
    return f"""SELECT ItemType, ItemId, KnownAt{more},
        lagInFrame(KnownAt) OVER same_item AS previous_known_at,
        lagInFrame(toUInt8(1)) OVER same_item AS has_previous
    FROM {CLOSE_ITEMS}
    WHERE KnownAt <= {{until:DateTime64(3, 'UTC')}} AND {_IN_SLICE}
      AND (ItemType, ItemId) IN (
        SELECT ItemType, ItemId FROM {CLOSE_ITEMS}
        WHERE KnownAt > {{since:DateTime64(3, 'UTC')}} AND KnownAt <= {{until:DateTime64(3, 'UTC')}}
          AND {_IN_SLICE})
    WINDOW same_item AS (
        PARTITION BY ItemType, ItemId ORDER BY KnownAt ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"""


def _record(versions: str) -> str:
    """The ``INSERT … SELECT`` of the pieces of the signed versions ``versions`` selects (one row
    a version to add, +1, or to take back, -1: the item, ``Stamp``, ``Sign``, ``VersionKnownAt``,
    the ``_CARRIED`` columns and the version's ``points``)."""
    return f"""
INSERT INTO {CLOSE_ITEM_PIECES} (State, Ends, Begins, ItemType, ItemId, KnownAt, Delta,
    VersionKnownAt, {", ".join(_CARRIED)})
SELECT piece.1, piece.3, piece.2, ItemType, ItemId, Stamp, Sign, VersionKnownAt,
    {", ".join(_CARRIED)}
FROM (
  SELECT *, arrayFilter(i -> i = 1 OR states[i] != states[i - 1], arrayEnumerate(points)) AS starts
  FROM (
   SELECT *, arrayMap(p -> {_STATE_AT_POINT}, points) AS states
   FROM ({versions})
  )
)
ARRAY JOIN {_PIECES} AS piece
"""


_SIGNED = f"""
    SELECT ItemType, ItemId, Stamp, Sign, VersionKnownAt, {_VERSION_COLUMNS}, {_POINTS} AS points
    FROM (
        SELECT ItemType, ItemId, KnownAt AS Stamp, version.1 AS Sign, version.2 AS body,
            version.3 AS VersionKnownAt
        FROM (
            SELECT ItemType, ItemId, KnownAt,
                arrayJoin(arrayFilter(v -> v.1 != 0 AND tupleElement(v.2, 1) = 0,
                    [(toInt8(1), content, KnownAt),
                     (toInt8(if(has_previous, -1, 0)), previous, previous_known_at)])) AS version
            FROM ({
    versions_with_previous(
        f"tuple({', '.join(_CONTENT)}) AS content, lagInFrame(content) OVER same_item AS previous"
    )
})
            WHERE KnownAt > {{since:DateTime64(3, 'UTC')}}
        )
    )"""
"""Every version stored in ``(since, until]`` (+1) and its predecessor (-1), both stamped with
its ``KnownAt``; a deleted version only takes its predecessor back. ``VersionKnownAt`` is the
``KnownAt`` of the version whose piece a row adds or takes back."""

_FIRST = f"""
    SELECT ItemType, ItemId, KnownAt AS Stamp, toInt8(1) AS Sign, KnownAt AS VersionKnownAt,
        {", ".join(_CARRIED)}, {_POINTS} AS points
    FROM {CLOSE_ITEMS}
    WHERE KnownAt > {{since:DateTime64(3, 'UTC')}} AND KnownAt <= {{until:DateTime64(3, 'UTC')}}
      AND {_IN_SLICE} AND Deleted = 0"""
"""``_SIGNED`` when every version of the window's items is in the window (each its item's first):
the window's versions not deleted, +1, as they are; nothing to take back. No window function, no
tuple of every version's columns for the engine to analyse and carry."""

RECORD = _record(_SIGNED)
"""The pieces of every version stored in ``(since, until]`` (+1), and its predecessor's taken back
(-1), both stamped with its ``KnownAt`` (``_SIGNED``).
The points, their states and where pieces start are each a subquery's column, not an alias of
the same select: the engine's analyser spells an alias out wherever it is used, and ``starts``
(five uses) over ``states`` (two uses each) analysed the state at a point eleven times."""
RECORD_FIRST = _record(_FIRST)
"""``RECORD`` when every version of the window's items is in the window: the window's rows alone,
no read of their items' earlier versions (there are none), the rows the same."""

STRAY = f"SELECT count() FROM {CLOSE_ITEM_PIECES} WHERE KnownAt > {{since:DateTime64(3, 'UTC')}}"
TAKE_BACK_STRAY = f"""
INSERT INTO {CLOSE_ITEM_PIECES}
SELECT * REPLACE (-Delta AS Delta)
FROM {CLOSE_ITEM_PIECES}
WHERE KnownAt > {{since:DateTime64(3, 'UTC')}}
"""
"""Rows a record that died wrote past the watermark, taken back (the daily sums follow inserts
only: a delete would leave them counted)."""


def record_window(
    client: Client,
    since: datetime,
    until: datetime,
    slices: Sequence[KeyRange] = (WHOLE,),
    *,
    stray: int,
    first: bool = False,
) -> None:
    """Write the rows of the versions stored in ``(since, until]`` (the caller has found some),
    ``since`` being the watermark, one statement per slice of the items' keys (``slices``
    together cover every key); rows a record that died wrote past it are taken back first, so
    recording again counts each row once (``stray``: how many there are, as ``STRAY`` counts
    them; the caller asks it with its own count, in one round trip). ``first``: every version of
    the window's items is in the window (``RECORD_FIRST``)."""
    parameters = {"since": since, "until": until}
    if stray:
        client.command(TAKE_BACK_STRAY, parameters=parameters)
    statement = RECORD_FIRST if first else RECORD
    for key_range in slices:
        client.command(statement, parameters={**parameters, **range_parameters(key_range)})


_AS_OF = "{as_of:DateTime64(6, 'UTC')}"
_KNOWN_AT = "{known_at:DateTime64(3, 'UTC')}"
_SUMMED = "LegalEntity, DuePeriod, Currency, State, Items, Money"

_OWN_DAY = f"toStartOfDay({_AS_OF}) AND {_AS_OF}"


def _sums_at(due: str) -> str:
    return f"""
SELECT LegalEntity, DuePeriod, Currency, State, sum(Items), sum(Money)
FROM (
    SELECT {_SUMMED} FROM {CLOSE_ITEM_PIECE_DAYS}
    WHERE {due}KnownDay < toDate32({_KNOWN_AT}) AND Day < toDate32({_AS_OF})
    UNION ALL
    SELECT {_SUMMED} FROM {CLOSE_ITEM_PIECE_TICKS}
    WHERE {due}KnownDay = toDate32({_KNOWN_AT}) AND KnownAt <= {_KNOWN_AT}
      AND Day < toDate32({_AS_OF})
    UNION ALL
    SELECT {_SUMMED} FROM {CLOSE_ITEM_PIECE_CHANGES}
    WHERE {due}KnownAt <= {_KNOWN_AT} AND Instant BETWEEN {_OWN_DAY}
)
GROUP BY LegalEntity, DuePeriod, Currency, State
"""


SUMS_AT = _sums_at("DuePeriod IN {periods:Array(String)} AND ")
"""Per legal entity, due period (one of ``periods``), currency and state: the items in that
state at ``as_of`` and their exact money (an item without an amount counts 0), in the versions
known at ``known_at``: the days before ``as_of``'s from the sums (days known before
``known_at``'s day, then that day's ticks up to it), ``as_of``'s own day change by change (one
range of ``close_item_piece_changes``, migration 32: the pieces' rows as the changes they make,
``piece_changes_select``)."""
SUMS_AT_EVERY_PERIOD = _sums_at("")
"""``SUMS_AT`` of every due period: no condition on the period for the engine to analyse (it
takes ``periods`` and ignores it)."""

_HELD_OR_ELSEWHERE = f"({WAITING_STATE}, {BLOCKED_STATE}, {POSTED_ELSEWHERE})"


def _late_pair(i: int) -> str:
    """The ``i``-th pair whose close deadline ``as_of`` is at or past (``late_period_<i>``,
    ``late_entity_<i>``)."""
    return f"(DuePeriod = {{late_period_{i}:String}} AND LegalEntity = {{late_entity_{i}:String}})"


PAST_CLOSE_REASONS: Final = {
    POSTED: POSTED_LATE,
    POSTED_ELSEWHERE: OTHER_PERIOD,
    BLOCKED_STATE: BLOCKED,
    OPEN: NOT_POSTED,
    WAITING_STATE: NOT_POSTED,
}
"""The one definition of why a piece in effect at an instant at or past its pair's close deadline
puts its item at risk, by the piece's state: every item not posted into the period by then is (a
waiting item is not posted by the close). Before the deadline the same, except that a waiting
piece is left to the projection (``WAITING``). ``at_risk_items_sql`` spells it in SQL,
``late_at_risk`` applies it to a realised pair's kept pieces."""


def _reason_sql(past_close: str) -> str:
    """``PAST_CLOSE_REASONS`` as a piece's ``reason`` in SQL, where ``past_close`` tells whether
    the piece's pair is past its close deadline (else a waiting piece is ``WAITING``)."""
    states = "".join(
        f"State = {state}, '{reason}', "
        for state, reason in PAST_CLOSE_REASONS.items()
        if state != WAITING_STATE
    )
    return f"multiIf({states}{past_close}, '{PAST_CLOSE_REASONS[WAITING_STATE]}', '{WAITING}')"


def late_pair_parameters(pairs: dict[tuple[str, str], datetime]) -> dict[str, Any]:
    """The query parameters that name realised (entity, period) ``pairs`` and their close
    deadlines, in order (``late_period_<i>``, ``late_entity_<i>``, ``late_deadline_<i>``): those
    ``at_risk_items_sql`` and ``late_pieces_sql`` read."""
    parameters: dict[str, Any] = {}
    for i, ((entity, period), deadline) in enumerate(pairs.items()):
        parameters |= {
            f"late_period_{i}": period,
            f"late_entity_{i}": entity,
            f"late_deadline_{i}": deadline,
        }
    return parameters


@cache
def at_risk_items_sql(realised: int) -> str:
    """Per legal entity, due period (of ``periods``, never empty), currency and reason, the items
    at ``as_of`` (as known at ``known_at``) that the reason puts at risk, or that only the
    projection can tell about (``WAITING``, before the close deadline): how many, their exact
    money, the ``CONTRIBUTORS`` largest as (minus the amount, item type, item id, the
    ``KnownAt`` of the version whose piece it is: its row is read apart, ``VERSION_ROWS``), and
    the waiting ones as (item type, item id, stage took effect in epoch microseconds, amount: no
    instant made a Python ``datetime`` and back for each of them).
    A piece is netted by its item and version (a version's pieces and their take-backs carry its
    ``KnownAt``, and one version's columns are one row): no row of columns carried through the
    netting, which cost a quarter of the read.
    Read: the pieces in effect at ``as_of`` of the states waiting, blocked and posted into another
    period, and for each of the ``realised`` pairs whose close deadline ``as_of`` is at or past
    (``late_period_<i>``, ``late_entity_<i>``, ``late_deadline_<i>``) its open pieces in effect
    and its pieces posted into the period after the deadline (they begin after it, and their
    posting took effect after it: one range of the table's order per pair). An open or waiting
    item of such a pair is not posted by the close; a waiting item of another pair is left to
    the projection. No deadline is looked up row by row: only the realised pairs have one."""
    late = "".join(
        f"""
           OR ({_late_pair(i)}
               AND ((State = {OPEN} AND Ends > {_AS_OF})
                    OR (State = {POSTED} AND Ends = {PIECE_NEVER}
                        AND Begins > {{late_deadline_{i}:DateTime64(6, 'UTC')}}
                        AND PostingEffectiveAt > {{late_deadline_{i}:DateTime64(6, 'UTC')}})))"""
        for i in range(realised)
    )
    past_close = " OR ".join(_late_pair(i) for i in range(realised)) or "0"
    return f"""
SELECT LegalEntity, DuePeriod, Currency, reason, count(), sum(ifNull(Amount, 0)),
    groupArraySortedIf({CONTRIBUTORS})(
        (-toFloat64(ifNull(Amount, 0)), ItemType, ItemId, VersionKnownAt), reason != '{WAITING}'),
    groupArrayIf((ItemType, ItemId, toUnixTimestamp64Micro(StageEffectiveAt), Amount),
                 reason = '{WAITING}')
FROM (
    SELECT LegalEntity, DuePeriod, Currency, ItemType, ItemId, Amount, StageEffectiveAt,
        VersionKnownAt,
        {_reason_sql(past_close)} AS reason
    FROM {CLOSE_ITEM_PIECES}
    WHERE KnownAt <= {_KNOWN_AT} AND Begins <= {_AS_OF}
      AND ((State IN {_HELD_OR_ELSEWHERE} AND Ends > {_AS_OF}
           AND DuePeriod IN {{periods:Array(String)}}){late})
    GROUP BY State, Begins, Ends, ItemType, ItemId, VersionKnownAt,
        LegalEntity, DuePeriod, Currency, Amount, StageEffectiveAt
    HAVING sum(Delta) > 0
)
GROUP BY LegalEntity, DuePeriod, Currency, reason
"""


def _late_pair_pieces(i: int) -> str:
    """The ``i``-th realised pair's pieces that can put an item at risk at an instant at or past
    its close deadline (``late_deadline_<i>``): those of the states before posting (open,
    waiting, blocked, posted into another period) that end after the deadline, and those posted
    into the period after it (they begin after it, and their posting took effect after it)."""
    deadline = f"{{late_deadline_{i}:DateTime64(6, 'UTC')}}"
    return f"""({_late_pair(i)}
           AND ((State < {POSTED} AND Ends > {deadline})
                OR (State = {POSTED} AND Ends = {PIECE_NEVER}
                    AND Begins > {deadline} AND PostingEffectiveAt > {deadline})))"""


@cache
def late_pieces_sql(pairs: int) -> str:
    """The pieces of ``pairs`` realised pairs (``late_period_<i>``, ``late_entity_<i>``,
    ``late_deadline_<i>``) in effect as known at ``known_at`` (netted by item and version, as
    ``at_risk_items_sql``'s) that can be at risk at some instant at or past the pair's deadline
    (``_late_pair_pieces``): whatever ``as_of`` is, so they are read once per knowledge time and
    pair (``late_at_risk`` keeps those in effect at ``as_of``). Per piece: its entity, period,
    state, begin and end in epoch microseconds, currency, minus the amount as a float (the
    largest items' order), the exact amount (0 without one), item type, item id and the
    ``KnownAt`` of its version."""
    branches = " OR ".join(_late_pair_pieces(i) for i in range(pairs))
    return f"""
SELECT LegalEntity, DuePeriod, State, toUnixTimestamp64Micro(Begins), toUnixTimestamp64Micro(Ends),
    Currency, -toFloat64(ifNull(Amount, 0)), ifNull(Amount, 0), ItemType, ItemId, VersionKnownAt
FROM {CLOSE_ITEM_PIECES}
WHERE KnownAt <= {_KNOWN_AT} AND ({branches})
GROUP BY State, Begins, Ends, ItemType, ItemId, VersionKnownAt,
    LegalEntity, DuePeriod, Currency, Amount
HAVING sum(Delta) > 0
"""


LatePiece = tuple[int, int, int, str, float, Decimal, str, str, datetime]
"""A realised pair's piece (``late_pieces_sql``): state, begins and ends (epoch microseconds),
currency, minus the amount as a float, the exact amount, item type, item id, version."""


def late_pieces(
    client: Client, known_at: datetime, pairs: dict[tuple[str, str], datetime]
) -> dict[tuple[str, str], list[LatePiece]]:
    """``late_pieces_sql``'s pieces of each realised (entity, period) of ``pairs`` (each with its
    close deadline), as known at ``known_at``, in the order of the largest items
    (``at_risk_items_sql``'s ``CONTRIBUTORS``: minus the amount, type, id, version)."""
    parameters = {"known_at": known_at, **late_pair_parameters(pairs)}
    found: dict[tuple[str, str], list[LatePiece]] = {key: [] for key in pairs}
    rows = client.query(late_pieces_sql(len(pairs)), parameters=parameters).result_rows
    for entity, period, *piece in rows:
        of_pair = found.get((str(entity), str(period)))
        if of_pair is not None:
            state, begins, ends, currency, minus, amount, item_type, item_id, version = piece
            of_pair.append(
                (int(state), int(begins), int(ends), str(currency), float(minus), amount,
                 str(item_type), str(item_id), version)
            )  # fmt: skip
    for of_pair in found.values():
        of_pair.sort(key=lambda p: (p[4], p[6], p[7], p[8]))
    return found


def late_at_risk(
    pieces: Mapping[tuple[str, str], Sequence[LatePiece]], as_of_us: int
) -> list[tuple[Any, ...]]:
    """``at_risk_items_sql``'s rows of realised pairs at ``as_of_us`` (epoch microseconds, at or
    past each pair's deadline) from their ``late_pieces``: the pieces in effect then
    (``Begins <= as_of < Ends``) per entity, period, currency and reason, how many, their exact
    money, the ``CONTRIBUTORS`` largest (the pieces come in that order) and no waiting ones."""
    found: dict[tuple[str, str, str, str], list[Any]] = {}
    for (entity, period), of_pair in pieces.items():
        for state, begins, ends, currency, minus, amount, item_type, item_id, version in of_pair:
            if begins <= as_of_us < ends:
                key = (entity, period, currency, PAST_CLOSE_REASONS[state])
                row = found.get(key)
                if row is None:
                    found[key] = row = [0, Decimal(0), []]
                row[0] += 1
                row[1] += amount
                if len(row[2]) < CONTRIBUTORS:
                    row[2].append((minus, item_type, item_id, version))
    return [(*key, count, money, largest, []) for key, (count, money, largest) in found.items()]


def _versions_asked(version: str) -> str:
    return (
        "ItemType IN {types:Array(String)} AND ItemId IN {ids:Array(String)}"
        f" AND {version} IN {{versions:Array(DateTime64(3, 'UTC'))}}"
    )


def _version_rows(table: str) -> str:
    return f"""
SELECT {ASSESSED_COLUMNS}, KnownAt
FROM {table}
WHERE {_versions_asked("KnownAt")}
"""


VERSION_ROWS = _version_rows(CLOSE_ITEM_ROWS)
"""The rows (``ASSESSED_COLUMNS``, then ``KnownAt``) of the items of ``types`` and ``ids`` stored
at one of ``versions``: the versions asked among them, through the primary key of
``close_item_rows`` (migration 33: ``close_items``' rows laid out for point reads)."""
VERSION_ROWS_OF_ITEMS = _version_rows(CLOSE_ITEMS)
"""``VERSION_ROWS`` from ``close_items`` itself: for a version whose point-read row is gone while
its item's row is not (both expire by the facts retention, each table merge by merge)."""
VERSION_ROWS_OF_PIECES = f"""
SELECT {ASSESSED_COLUMNS}, VersionKnownAt
FROM {CLOSE_ITEM_PIECES}
WHERE {_versions_asked("VersionKnownAt")}
LIMIT 1 BY ItemType, ItemId, VersionKnownAt
"""
"""``VERSION_ROWS`` from the pieces, which carry their version's columns: for a version whose
``close_items`` row is gone while its pieces are not (the facts retention expires both, merge by
merge). Not ordered by item: a read of the whole table, never expected."""

VersionKey = tuple[str, str, datetime]
"""An item version: the item's type and id, and its ``KnownAt``."""


def version_rows(
    client: Client, versions: Sequence[VersionKey]
) -> dict[VersionKey, tuple[Any, ...]]:
    """The row (``ASSESSED_COLUMNS``) of each of ``versions``: from ``close_item_rows``, else
    from ``close_items``, else from the pieces (each read only for the versions the ones before
    did not find)."""
    wanted = set(versions)
    found: dict[VersionKey, tuple[Any, ...]] = {}
    for statement in (VERSION_ROWS, VERSION_ROWS_OF_ITEMS, VERSION_ROWS_OF_PIECES):
        missing = sorted(wanted - found.keys())
        if not missing:
            break
        parameters = {
            "types": sorted({t for t, _, _ in missing}),
            "ids": sorted({i for _, i, _ in missing}),
            "versions": sorted({v for _, _, v in missing}),
        }
        for row in client.query(statement, parameters=parameters).result_rows:
            key = (str(row[0]), str(row[1]), row[-1])
            if key in wanted:
                found[key] = tuple(row[:-1])
    return found


def groups_at(
    sums: Iterable[Sequence[Any]],
    at_risk: Iterable[Sequence[Any]],
    realised: Callable[[str, str], bool],
) -> dict[tuple[str, str], Group]:
    """Each (legal entity, due period)'s items, as ``slas.close_sums.assess_group`` weighs them,
    from ``SUMS_AT``'s rows and ``AT_RISK_ITEMS``'; ``realised(entity, period)``: whether
    ``as_of`` is at or past the pair's close deadline. Before it, the money at risk is the
    blocked items' and those posted into another period (the projection adds the waiting ones
    it finds late); from it on, everything due but what posted into the period by the deadline.
    Only currencies with items in them are keyed (an item without an amount counts 0)."""
    items: dict[tuple[str, str], dict[str, dict[int, tuple[int, int]]]] = {}
    for entity, due, money_currency, state, state_items, money in sums:
        of_state = items.setdefault((str(entity), str(due)), {}).setdefault(str(money_currency), {})
        before, before_units = of_state.get(int(state), (0, 0))
        of_state[int(state)] = (before + int(state_items), before_units + units_of(Decimal(money)))
    listed: dict[tuple[str, str], list[Sequence[Any]]] = {}
    for row in at_risk:
        listed.setdefault((str(row[0]), str(row[1])), []).append(row)
    groups = {}
    for key, by_currency in items.items():
        after = realised(*key)
        late = {
            str(row[2]): (int(row[4]), units_of(Decimal(row[5])))
            for row in listed.get(key, [])
            if row[3] == POSTED_LATE
        }
        group = Group({}, {}, None, [], [])
        for currency, states in by_currency.items():
            count = sum(c for c, _ in states.values())
            if count <= 0:
                continue
            group.due[currency] = sum(u for _, u in states.values())
            if after:
                posted, posted_units = states.get(POSTED, (0, 0))
                late_count, late_units = late.get(currency, (0, 0))
                risky = count - posted + late_count
                units = group.due[currency] - posted_units + late_units
            else:
                blocked, blocked_units = states.get(BLOCKED_STATE, (0, 0))
                elsewhere, elsewhere_units = states.get(POSTED_ELSEWHERE, (0, 0))
                risky, units = blocked + elsewhere, blocked_units + elsewhere_units
            if risky > 0:
                group.at_risk[currency] = units
        for _, _, currency, reason, _, _, largest, waiting in listed.get(key, []):
            if reason != WAITING:
                for minus, item_type, item_id, version in largest:
                    group.risky.append((str(reason), float(minus), (str(item_type), str(item_id))))
                    group.versions[(str(item_type), str(item_id))] = version
            group.waiting.extend(
                ((str(t), str(i)), str(currency), started, value)
                for t, i, started, value in waiting
            )
        if group.waiting:
            group.earliest_started = min(s for _, _, s, _ in group.waiting) / 1e6
        if group.due:
            groups[key] = group
    return groups
