"""Close risk from ``close_items``: the items due in the asked periods, in their state at ``as_of``
as known at ``known_at`` (one SQL read, bounded by the periods asked), assessed by
``slas.close_risk`` like a full evaluation. The projection of open items runs in Python over those
items only, against the business time completed invoice stages took (stored per item, and per
version as signed rows in ``close_stage_durations``: migration 29).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from domain import semconv as sc
from domain.instants import utc
from domain.money import units_of
from domain.periods import period_number
from slas import close_item_pieces, item_versions
from slas.business_state import BusinessState
from slas.business_time import epoch_microseconds, epoch_seconds
from slas.calendars import CalendarBook
from slas.close_item_pieces import VersionKey
from slas.close_items import INVOICE_ITEM, REVENUE_ITEM, CloseItems
from slas.close_risk import CONTRIBUTORS, assess, due_periods, render_report
from slas.close_sums import ITEM_COLUMNS, ROWS_OF, Key, assess_group, assessed_pairs, item_state_sql
from slas.error_attempts import ErrorAttempts, latest_error, read_attempts
from slas.item_rows import INVOICE
from slas.kept_facts import KeptFacts
from slas.snapshot import NO_TIME, F64Array
from warehouse.counted_attempt import LATEST_ERROR
from warehouse.first_stored import NAMED_EVENTS_KNOWN_AT
from warehouse.pool import ReadsBeside
from warehouse.schema import BLOCKER_FACT_COLUMNS, CLOSE_ITEMS, CLOSE_STAGE_DURATIONS

logger = logging.getLogger(__name__)

_AS_OF = "{as_of:DateTime64(6, 'UTC')}"


def _latest(candidates: str) -> str:
    """Every item's latest version known at ``known_at`` among the items some version of which
    matches ``candidates`` (a condition on ``close_items``' columns): the table's order read
    backwards within an item, first row kept (cheaper by far than a tuple ``argMax``). When the
    latest version matches the caller's condition, so does a version: the candidates are exact."""
    return f"""
SELECT {ITEM_COLUMNS}, Deleted, StageSeconds
FROM {CLOSE_ITEMS}
WHERE KnownAt <= {{known_at:DateTime64(3, 'UTC')}}
  AND ItemId IN (SELECT ItemId FROM {CLOSE_ITEMS} WHERE {candidates})
ORDER BY ItemType, ItemId, KnownAt DESC
LIMIT 1 BY ItemType, ItemId
"""


_DUE = "(empty({periods:Array(String)}) OR DuePeriod IN {periods:Array(String)})"


def _items_at(candidates: str) -> str:
    return f"""
SELECT {ITEM_COLUMNS}
FROM ({_latest(candidates)})
WHERE Deleted = 0 AND {candidates}
"""


_BEGUN = f"StageFirstAt <= {_AS_OF} AND {_DUE}"
ITEMS_AT = _items_at(_BEGUN)
"""Every item that existed at ``as_of`` (its stage was attempted) due in one of ``periods``
(every period when empty), its latest version known at ``known_at``; the amount is the exact
``Decimal`` (None without one), the last two columns the invoice number and the customer."""


OPEN_INVOICE_ITEMS_AT = _items_at(
    f"StageFirstAt <= {_AS_OF} AND {_DUE} AND Kind = '{INVOICE}'"
    f" AND NOT ifNull(PostingEffectiveAt <= {_AS_OF}, 0)"
    " AND (empty({legal_entity:String}) OR LegalEntity = {legal_entity:String})"
)
"""``ITEMS_AT``'s invoice-level items of ``legal_entity`` (every one when empty) not posted at
``as_of``: the only ones ``blocking_step`` can find held (a posted item never is)."""

_HELD_AT = item_state_sql(_AS_OF, invoices_only=True)
_AFTER = (
    "ifNull(Amount, 0) < {after_amount:Decimal(18, 4)}"
    " OR (ifNull(Amount, 0) = {after_amount:Decimal(18, 4)}"
    " AND (ItemType, ItemId) > ({after_type:String}, {after_id:String}))"
)
"""An item after the cursor's (``lineage.impact.blocked_order``: the largest amount first, then
type and id): its place in the answer's order is past the last page's."""
BLOCKED_INVOICE_ITEMS_AT = f"""
SELECT * FROM (
    SELECT {ITEM_COLUMNS}, {", ".join(name for name, _ in BLOCKER_FACT_COLUMNS)},
        count() OVER in_currency, countIf(Amount IS NOT NULL) OVER in_currency,
        sum(ifNull(Amount, 0)) OVER in_currency,
        row_number() OVER (ORDER BY ifNull(Amount, 0) DESC, ItemType, ItemId)
            - countIf(NOT ({_AFTER})) OVER () AS place,
        row_number() OVER in_currency AS place_in_currency,
        {_HELD_AT.stage_held}, {_HELD_AT.posting_held}, {_HELD_AT.upstream_held}
    FROM {CLOSE_ITEMS}
    WHERE HeldUntil > {_AS_OF} AND {item_versions.IN_EFFECT}
      AND Deleted = 0 AND StageFirstAt <= {_AS_OF} AND {_DUE} AND Kind = '{INVOICE}'
      AND {_HELD_AT.blocked}
      AND (empty({{legal_entity:String}}) OR LegalEntity = {{legal_entity:String}})
    WINDOW in_currency AS (PARTITION BY Currency)
)
WHERE place BETWEEN 1 AND {{limit:UInt64}} OR place_in_currency = 1
ORDER BY place
"""
"""``OPEN_INVOICE_ITEMS_AT``'s items that a failure holds at ``as_of`` (``item_state_sql``,
``blocking_step`` in SQL), from the versions in effect at ``known_at`` (``slas.item_versions``),
with the facts of the failures that hold them (``BLOCKER_FACT_COLUMNS``), then per row its
currency's items, items with an amount and their exact sum, its place in the page (the answer's
order, ``lineage.impact.blocked_order``, counted from the first item after the cursor's
``after_amount``, ``after_type``, ``after_id``: zero or less before it) and which of its steps
hold it (stage, posting, the failure upstream). Only the page's ``limit`` first rows come back, in
that order, and one row of each currency (for its sums). Only versions that can be held at
``as_of`` are read (``HeldUntil``: one range of ``close_items``' ``held`` projection): nothing read
of the items that never failed or settled before ``as_of``."""

BLOCKING_STEPS_AT = f"""
SELECT step.1, max(step.2), groupUniqArrayIf(Customer, step.4)
FROM (
    SELECT Customer, arrayJoin(arrayFilter(s -> s.3, [
        (StageEventId, ifNull(StageErrorSince <= {_AS_OF}, 0), {_HELD_AT.stage_held}, 0),
        (PostingEventId, ifNull(PostingErrorSince <= {_AS_OF}, 0), {_HELD_AT.posting_held}, 1),
        (UpstreamEventId, ifNull(UpstreamErrorSince <= {_AS_OF}, 0), {_HELD_AT.upstream_held}, 0)
    ])) AS step
    FROM {CLOSE_ITEMS}
    WHERE HeldUntil > {_AS_OF} AND {item_versions.IN_EFFECT}
      AND Deleted = 0 AND StageFirstAt <= {_AS_OF} AND {_DUE} AND Kind = '{INVOICE}'
      AND {_HELD_AT.blocked}
)
GROUP BY step.1
"""
"""``BLOCKED_INVOICE_ITEMS_AT``'s items reduced to the steps that hold them, once each: the step's
event id, whether some item's row stores its failure facts by ``as_of`` (``BlockedInvoiceAnswers``'
stored facts), and the customers of the items whose posting it is. As many rows as failures hold
items, however many items they hold: no item row leaves the engine, and no window sorts them."""

_COMPLETED_STAGES = (
    f"Kind = '{INVOICE}' AND StageSeconds >= 0"
    " AND PostingEffectiveAt >= {since:DateTime64(6, 'UTC')}"
    f" AND PostingEffectiveAt <= {_AS_OF}"
)
STAGE_DURATIONS = f"""
SELECT LegalEntity, groupArray(StageSeconds)
FROM ({_latest(_COMPLETED_STAGES)})
WHERE Deleted = 0 AND {_COMPLETED_STAGES}
GROUP BY LegalEntity
"""
"""Business seconds of the invoice stages completed in the window before ``as_of``, by entity."""
STAGE_DURATIONS_RECORDED = f"""
SELECT LegalEntity, groupArrayIf(StageSeconds, Delta > 0), groupArrayIf(StageSeconds, Delta < 0)
FROM {CLOSE_STAGE_DURATIONS}
WHERE PostedAt >= {{since:DateTime64(6, 'UTC')}} AND PostedAt <= {_AS_OF}
  AND KnownAt <= {{known_at:DateTime64(3, 'UTC')}}
GROUP BY LegalEntity
"""
"""``STAGE_DURATIONS`` from the completed stages' signed rows (``close_stage_durations``: one
range of its order), by entity: the stages added and those taken back by a later version known
at ``known_at`` (``net_durations`` takes the second from the first)."""

ERRORS = f"""
SELECT EventId, {LATEST_ERROR}
FROM {NAMED_EVENTS_KNOWN_AT}
WHERE EventTime <= {{as_of:DateTime64(6, 'UTC')}}
GROUP BY EventId
"""
"""Each named event's error of its latest attempt by ``as_of``, from the first stored version of
every attempt known at ``known_at`` (a re-sent span with another error is a conflicting
version, not the error)."""

KEPT_VERSIONS = 4096
"""Item versions whose rows ``CloseRiskAnswers`` keeps at most (``KeptFacts``; a row about a
kilobyte): a late answer lists some 90, mostly those of the answers before it. A version's row
never changes (a new version of an item is a new ``KnownAt``; no reset, rebuild or re-record
rewrites one stored), so they are kept across the state's readings."""
_EVERY_READING = "every reading"

DURATION_HISTORY = timedelta(days=180)
"""How far back completed invoice stages inform the projection of open ones."""


def stage_window(as_of: datetime, known: datetime) -> dict[str, Any]:
    """The parameters of ``STAGE_DURATIONS`` and ``STAGE_DURATIONS_RECORDED``: the window of
    ``DURATION_HISTORY`` before ``as_of``, as known at ``known``."""
    return {"as_of": as_of, "known_at": known, "since": as_of - DURATION_HISTORY, "periods": []}


@dataclass(frozen=True)
class _Rows:
    items: CloseItems
    names: list[tuple[str, str]]
    blocking: list[str]
    legal_entities: tuple[str, ...]
    currencies: tuple[str, ...]


def reached(value: Any, as_of: datetime) -> bool:
    """Whether an instant of an item's step (None: never) lies at or before ``as_of``."""
    return value is not None and utc(value) <= as_of


def _micros(value: Any) -> int:
    return round(utc(value).timestamp() * 1_000_000)


Step = tuple[str, str, Any, Any]
"""An item's step: event id, event type, first attempted at, took effect at."""


def blocking_step(
    as_of: datetime, *, stage: Step, posting: Step | None, upstream: tuple[str, str, Any]
) -> tuple[str, str]:
    """The failed event that holds an unposted item at ``as_of`` ('', '' when none): its stage
    event attempted and not yet in effect, else its posting, else the failure upstream of it
    (``slas.blocking``). The one rule of blocked-invoice impact and close risk alike."""
    if (posting is not None and reached(posting[3], as_of)) or (
        posting is None and reached(stage[3], as_of)
    ):
        return "", ""
    for event_id, event_type, first, effective in (stage, *([posting] if posting else [])):
        if event_id and reached(first, as_of) and not reached(effective, as_of):
            return event_id, event_type
    event_id, event_type, first = upstream
    if event_id and reached(first, as_of):
        return event_id, event_type
    return "", ""


def item_blocking_step(
    as_of: datetime, *, invoice: bool, stage: Step, posting: Step, upstream: tuple[str, str, Any]
) -> tuple[str, str]:
    """``blocking_step`` of a close item: an invoice-level item waits for its billing.ready and
    then its posting; a revenue item's stage is its posting (``stage``'s type is ignored)."""
    stage_event, _, stage_first, stage_effective = stage
    return blocking_step(
        as_of,
        stage=(
            stage_event,
            sc.BILLING_READY if invoice else posting[1],
            stage_first,
            stage_effective,
        ),
        posting=posting if invoice else None,
        upstream=upstream,
    )


def row_blocking_step(row: Sequence[Any], as_of: datetime) -> tuple[str, str]:
    """``item_blocking_step`` of an item's row (``ASSESSED_COLUMNS`` first)."""
    kind, stage_event, stage_first, stage_effective, posting_event, posting_type, posting_first, \
        posting_effective, _, upstream_event, upstream_type, upstream_first = (
            row[2], *row[7:18])  # fmt: skip
    return item_blocking_step(
        as_of,
        invoice=kind == INVOICE,
        stage=(stage_event, posting_type, stage_first, stage_effective),
        posting=(posting_event, posting_type, posting_first, posting_effective),
        upstream=(upstream_event, upstream_type, upstream_first),
    )


def items_at(rows: Sequence[Sequence[Any]], as_of: datetime) -> _Rows:
    """The items of ``ITEMS_AT`` rows as ``slas.close_items`` arrays, in their state at ``as_of``:
    posted when the posting took effect by then, blocked when a stage event had been attempted and
    had not taken effect (the stage's failure first, then the posting's)."""
    entities = tuple(sorted({str(r[3]) for r in rows if r[3]}))
    currencies = tuple(sorted({str(r[4]) for r in rows if r[4]}))
    columns: dict[str, list[Any]] = {name: [] for name in CloseItems.__dataclass_fields__}
    names, blocking = [], []
    for row in rows:
        item_type, item_id, kind, entity, currency, amount, due, _, _, stage_effective, _, _, \
            _, posting_effective, posted_period = row[:15]  # fmt: skip
        posted = reached(posting_effective, as_of)
        invoice = kind == INVOICE
        blocker, blocker_type = row_blocking_step(row, as_of)
        names.append((str(item_type), str(item_id)))
        blocking.append(str(blocker))
        columns["kind"].append(INVOICE_ITEM if invoice else REVENUE_ITEM)
        columns["item"].append(len(names))
        columns["legal_entity"].append(entities.index(entity) + 1 if entity else 0)
        columns["currency"].append(currencies.index(currency) + 1 if currency else 0)
        # the float only weighs the projection; every sum adds the exact units
        columns["amount"].append(np.nan if amount is None else float(amount))
        columns["amount_units"].append(0 if amount is None else units_of(amount))
        columns["due_period"].append(period_number(str(due)))
        columns["posted_us"].append(_micros(posting_effective) if posted else NO_TIME)
        columns["posted_period"].append(period_number(str(posted_period)) if posted else 0)
        columns["blocking_event"].append(len(names) if blocker else 0)
        columns["blocking_type"].append(
            sc.EVENT_TYPES.index(blocker_type) + 1 if blocker_type in sc.EVENT_TYPES else 0
        )
        columns["stage_started_us"].append(
            _micros(stage_effective) if invoice and reached(stage_effective, as_of) else NO_TIME
        )
    dtypes = {
        "kind": np.uint8, "item": np.uint64, "legal_entity": np.uint16, "currency": np.uint16,
        "amount": np.float64, "amount_units": np.int64, "due_period": np.uint32, "posted_us": np.int64,
        "posted_period": np.uint32, "blocking_event": np.uint64, "blocking_type": np.uint8,
        "stage_started_us": np.int64,
    }  # fmt: skip
    items = CloseItems(**{name: np.array(columns[name], dtype=dtypes[name]) for name in dtypes})
    return _Rows(items, names, blocking, entities, currencies)


def net_durations(added: Sequence[float], taken_back: Sequence[float]) -> F64Array:
    """The stages ``added`` without those ``taken_back`` (each one of them, a multiset within
    ``added``), in no particular order (``slas.close_risk.remaining_after`` sorts them)."""
    if not taken_back:
        return np.array(added, dtype=np.float64)
    kept = np.sort(np.array(added, dtype=np.float64))
    taken = np.sort(np.array(taken_back, dtype=np.float64))
    # equal values taken back remove as many equal stages: the n-th of a run the n-th of them
    rank = np.arange(len(taken)) - np.searchsorted(taken, taken, side="left")
    netted: F64Array = np.delete(kept, np.searchsorted(kept, taken, side="left") + rank)
    return netted


def _errors(
    client: Client, event_ids: list[str], as_of: datetime, known: datetime
) -> dict[str, tuple[str, str]]:
    """Each blocking event's error category and code at ``as_of``."""
    if not event_ids:
        return {}
    rows = client.query(
        ERRORS, parameters={"event_ids": event_ids, "as_of": as_of, "known_at": known}
    ).result_rows
    return {str(e): (str(c), str(k)) for e, c, k in rows}


LATE_PAIRS_KEPT = 32
"""Realised (entity, period) pairs whose pieces that can be at risk past the deadline
``CloseRiskAnswers`` keeps at most, per knowledge time (a pair's are the items not posted by its
deadline: some hundreds to a few thousand pieces at 10M, about a megabyte)."""
KNOWN_ATS_SEEN = 64
"""Knowledge times whose items at risk ``CloseRiskAnswers`` remembers having read (per
facts reading): a realised pair's pieces are read and kept only for one asked again (reading them
costs more than one answer's read at ``as_of``: a dashboard asking one knowledge time over and
over gains, a single answer at a past one pays nothing more)."""

PAIRS_SEEN = 4096
"""The most (entity, period) pairs an every-period answer reads at risk beside its sums."""


class CloseRiskAnswers:
    """``GET /api/v1/close-risk`` from ``close_items``."""

    def __init__(
        self,
        client: Callable[[], Client],
        calendars: CalendarBook,
        state: BusinessState,
        *,
        from_sums: bool = True,
    ) -> None:
        self._client = client
        self.calendars = calendars
        self._state = state
        self._from_sums = from_sums
        self._beside = ReadsBeside(client)
        self._attempts = ErrorAttempts()
        self._rows: KeptFacts[VersionKey, tuple[Any, ...]] = KeptFacts(KEPT_VERSIONS)
        self._late: KeptFacts[
            tuple[datetime, str, str, datetime], list[close_item_pieces.LatePiece]
        ] = KeptFacts(LATE_PAIRS_KEPT)
        self._known_ats: KeptFacts[datetime, bool] = KeptFacts(KNOWN_ATS_SEEN)
        self._pairs_seen: frozenset[Key] = frozenset()
        """The (entity, period) pairs every-period answers have found, each read beside the sums
        of the next (``PAIRS_SEEN`` at most: more starts it again from the last answer's)."""

    def report(
        self, period: str | None, as_of: datetime, known_at: datetime | None
    ) -> tuple[datetime, list[dict[str, Any]]]:
        """The known_at the answer describes, and the report (``slas.close_risk``'s shape):
        summed in ClickHouse (``slas.close_sums``) once ``slas.item_versions`` has recorded every
        version known then, else (and with ``from_sums=False``: the oracle) assessed over every
        item row in Python."""
        client = self._client()
        known, recorded = self._state.items_known_at(known_at)
        if self._from_sums and recorded:
            return known, self._summed(client, period, as_of, known)
        as_of = utc(as_of)
        periods = [period] if period else []
        parameters = {"as_of": as_of, "known_at": known, "periods": periods}
        found = items_at(client.query(ITEMS_AT, parameters=parameters).result_rows, as_of)
        durations = self._durations(client, as_of, known, found.legal_entities)
        due = [period] if period else due_periods(found.items)
        risks = [
            risk
            for each in due
            for risk in assess(
                found.items,
                found.legal_entities,
                found.currencies,
                self.calendars,
                each,
                as_of,
                stage_durations=durations,
            )
        ]
        rows = [row for risk in risks for row, _, _ in risk.contributors]
        blocking = sorted({found.blocking[row] for row in rows if found.blocking[row]})
        errors = _errors(client, blocking, as_of, known)
        report = render_report(
            risks,
            found.items,
            found.currencies,
            names={row: found.names[row] for row in rows},
            errors={row: errors.get(found.blocking[row], ("", "")) for row in rows},
        )
        return known, report

    def _summed(
        self, client: Client, period: str | None, as_of: datetime, known: datetime
    ) -> list[dict[str, Any]]:
        """The answer from the state sums. Reads that need not wait run beside the answer's own
        (``ReadsBeside``, when the factory gives a reader thread a client of its own): the
        completed stages while the items at risk are read, the errors of every blocking event
        among their rows while the answer is assessed. The same answer as read in turn."""
        as_of = utc(as_of)
        periods = [period] if period else []
        parameters: dict[str, Any] = {"as_of": as_of, "known_at": known, "periods": periods}
        statement = close_item_pieces.SUMS_AT if period else close_item_pieces.SUMS_AT_EVERY_PERIOD
        # every period's answer reads its items at risk beside the sums, for the pairs earlier
        # answers found (``_pairs_seen``): kept when the sums find no other pair
        guess = self._pairs_seen if period is None and self._beside.apart(client) else frozenset()
        again = self._asked_again(known)
        with self._beside.ahead(
            client,
            lambda c: c.query(statement, parameters=parameters).result_rows,
            start=bool(guess),
        ) as read_sums:
            guessed = (
                self._guessed_at_risk(client, parameters, guess, as_of, again) if guess else None
            )
            sums = read_sums()
        pairs = {(str(e), str(p)) for e, p, _, _, count, _ in sums if count}
        chosen = assessed_pairs(dict.fromkeys(pairs), period)
        deadlines = self._deadlines(chosen)
        # whether the projection will need the completed stages, as the sums tell it (their
        # waiting items are the at-risk read's): read beside that read; asked here if not
        waiting = {
            (str(e), str(p))
            for e, p, _, state, count, _ in sums
            if state == close_item_pieces.WAITING_STATE and count
        }
        may_project = any(key in waiting and as_of < deadlines[key] for key in chosen)
        with self._beside.ahead(
            client, lambda c: self._durations_by_entity(c, as_of, known), start=may_project
        ) as stage_durations:
            risky: Sequence[Sequence[Any]]
            if guessed is not None and guess.issuperset(chosen):
                # a pair's rows depend on that pair alone: the others' are dropped
                asked = set(chosen)
                risky = [row for row in guessed if (str(row[0]), str(row[1])) in asked]
            else:
                risky = self._at_risk(client, parameters, deadlines, as_of, again)
                if period is None:
                    seen = self._pairs_seen | set(chosen)
                    self._pairs_seen = seen if len(seen) <= PAIRS_SEEN else frozenset(chosen)
            groups = close_item_pieces.groups_at(
                sums, risky, lambda e, p: as_of >= deadlines.get((e, p), as_of)
            )
            chosen = [key for key in chosen if key in groups]
            # each pair's largest items at risk (those shown are among them, but the waiting
            # items projected late, which no failure holds): the rows of their versions, kept from
            # one answer to the next (``KEPT_VERSIONS``: only those not seen are read), read
            # while the completed stages are; and the blocking events' errors, read beside the
            # assessment
            reading = self._state.facts_reading()
            largest = {
                item: groups[key].versions[item]
                for key in chosen
                for _, _, item in sorted(groups[key].risky, key=lambda r: (r[1], r[2]))[
                    :CONTRIBUTORS
                ]
            }
            rows = self._version_rows(client, largest)
            now = epoch_seconds(as_of)
            projecting = any(
                groups[key].waiting and now < epoch_seconds(deadlines[key]) for key in chosen
            )
            durations = stage_durations() if projecting else {}
        apart = self._beside.apart(client)
        ahead = sorted(
            {
                b
                for item in (largest if apart else ())
                # a version whose rows the retention dropped meanwhile: read with the shown below
                if item in rows and (b := row_blocking_step(rows[item], as_of)[0])
            }
        )
        # the attempts of the events already seen at ``known`` are kept (``ErrorAttempts``):
        # only the others are read
        kept, ahead = self._attempts.known(reading, known, ahead)
        with self._beside.ahead(
            client, lambda c: read_attempts(c, ahead, known), start=apart and bool(ahead)
        ) as attempts_ahead:
            assessed = [
                assess_group(groups[(e, p)], e, p, self.calendars, as_of, durations)
                for e, p in chosen
            ]
            shown = [key for _, contributors in assessed for key, _, _ in contributors]
            # the waiting items projected late: their rows through the primary key
            unread = [key for key in shown if key not in rows]
            if unread:
                rows |= {
                    (str(r[0]), str(r[1])): r
                    for r in client.query(
                        ROWS_OF,
                        parameters={
                            "known_at": known,
                            "types": sorted({t for t, _ in unread}),
                            "ids": sorted({i for _, i in unread}),
                        },
                    ).result_rows
                }
            found = items_at([rows[key] for key in shown], as_of)
            risks, position = [], 0
            for risk, contributors in assessed:
                listed = [
                    (position + i, reason, at) for i, (_, reason, at) in enumerate(contributors)
                ]
                position += len(contributors)
                risks.append(replace(risk, contributors=listed))
            blocking = {b for b in found.blocking if b}
            read = attempts_ahead() if apart and ahead else {}
            more, unseen = self._attempts.known(reading, known, blocking - set(kept) - set(read))
            read |= read_attempts(client, unseen, known)
        self._attempts.keep(reading, known, read)
        attempts = kept | more | read
        errors = {b: latest_error(attempts[b], as_of) or ("", "") for b in blocking}
        report = render_report(
            risks,
            found.items,
            found.currencies,
            names=dict(enumerate(found.names)),
            errors={row: errors.get(b, ("", "")) for row, b in enumerate(found.blocking)},
        )
        return report

    def _deadlines(self, pairs: Iterable[Key]) -> dict[Key, datetime]:
        """The close deadline of each (entity, period) of ``pairs``."""
        return {(e, p): self.calendars.for_entity(e).close_deadline(p) for e, p in pairs}

    def _asked_again(self, known: datetime) -> bool:
        """Whether an earlier answer (of this facts reading) asked knowledge time ``known``;
        remembered from now on (``KNOWN_ATS_SEEN``). Asked once per answer: its reads ahead and
        its own read go by the same answer."""
        reading = self._state.facts_reading()
        _, first = self._known_ats.known(reading, [known])
        if first:
            self._known_ats.keep(reading, {known: True})
        return not first

    def _guessed_at_risk(
        self,
        client: Client,
        parameters: dict[str, Any],
        guess: frozenset[Key],
        as_of: datetime,
        again: bool,
    ) -> Sequence[Sequence[Any]] | None:
        """The items at risk of the pairs earlier answers found, read before the sums say which
        pairs this answer has; None if the engine refused the read (a limit on the wider read):
        the answer then reads its own pairs, and the pairs found start again from them."""
        try:
            return self._at_risk(client, parameters, self._deadlines(sorted(guess)), as_of, again)
        except DatabaseError as error:
            self._pairs_seen = frozenset()
            logger.warning(
                "close risk: the read ahead of %d pairs' items at risk failed; reading the "
                "answer's own pairs instead (%s)",
                len(guess),
                str(error).splitlines()[0] if str(error) else type(error).__name__,
            )
            return None

    def _at_risk(
        self,
        client: Client,
        parameters: dict[str, Any],
        pairs: dict[Key, datetime],
        as_of: datetime,
        again: bool,
    ) -> Sequence[Sequence[Any]]:
        """``AT_RISK_ITEMS``' rows for the (entity, period) ``pairs`` (each with its close
        deadline, from ``_deadlines``). A knowledge time asked ``again``: the pairs whose deadline
        ``as_of`` is before read at ``as_of`` (``at_risk_items_sql``, no realised pair in it),
        each of the others, realised, from its pieces that can be at risk past its deadline
        (``_late_pieces``: read once per knowledge time, dearer than one answer's, and kept). A
        pair's rows depend on that pair alone: those of other pairs in the periods read are
        dropped. A knowledge time asked first (its realised pairs not kept): every pair read at
        ``as_of`` in one statement (``_read_at_risk``)."""
        if not pairs:
            return []
        realised = {key: deadline for key, deadline in pairs.items() if as_of >= deadline}
        late = self._late_pieces(client, parameters["known_at"], realised, again)
        if not realised or late is None:
            return self._read_at_risk(client, parameters, pairs, realised)
        ahead = {key for key in pairs if key not in realised}
        rows: list[Sequence[Any]] = []
        if ahead:
            read = client.query(
                close_item_pieces.at_risk_items_sql(0),
                parameters={**parameters, "periods": sorted({p for _, p in ahead})},
            ).result_rows
            rows = [row for row in read if (str(row[0]), str(row[1])) in ahead]
        return rows + close_item_pieces.late_at_risk(late, epoch_microseconds(as_of))

    def _late_pieces(
        self, client: Client, known: datetime, realised: dict[Key, datetime], again: bool
    ) -> dict[Key, list[close_item_pieces.LatePiece]] | None:
        """The pieces of each realised pair that can be at risk past its deadline, as known at
        ``known`` (``close_item_pieces.late_pieces``): those kept (``LATE_PAIRS_KEPT``, per
        facts reading: a tick, a reset or a rebuild drops them), the others read and kept once
        ``known`` is asked ``again`` (``_asked_again``); None the first time, unless all are kept,
        and when more pairs are asked than are kept (they would be read again every time)."""
        if not realised or len(realised) > LATE_PAIRS_KEPT:
            return None
        reading = self._state.facts_reading()
        kept, unseen = self._late.known(
            reading, [(known, e, p, deadline) for (e, p), deadline in realised.items()]
        )
        if unseen:
            if not again:
                return None
            read = close_item_pieces.late_pieces(
                client, known, {(e, p): deadline for _, e, p, deadline in unseen}
            )
            fresh = {(known, e, p, realised[(e, p)]): pieces for (e, p), pieces in read.items()}
            self._late.keep(reading, fresh)
            kept |= fresh
        return {(e, p): pieces for (_, e, p, _), pieces in kept.items()}

    @staticmethod
    def _read_at_risk(
        client: Client,
        parameters: dict[str, Any],
        pairs: dict[Key, datetime],
        realised: dict[Key, datetime],
    ) -> Sequence[Sequence[Any]]:
        """``AT_RISK_ITEMS``' rows for the (entity, period) ``pairs`` at ``as_of``, in one
        statement: of their periods, the ``realised`` ones (deadline at or before ``as_of``) read
        as such."""
        return client.query(
            close_item_pieces.at_risk_items_sql(len(realised)),
            parameters={
                **parameters,
                **close_item_pieces.late_pair_parameters(realised),
                "periods": sorted({p for _, p in pairs}),
            },
        ).result_rows

    def _version_rows(
        self, client: Client, versions: dict[Key, datetime]
    ) -> dict[Key, Sequence[Any]]:
        """The row of each item's version in ``versions``: those kept, and the others read
        (``close_item_pieces.version_rows``) and kept."""
        kept, unseen = self._rows.known(
            _EVERY_READING, [(t, i, v) for (t, i), v in versions.items()]
        )
        if unseen:
            read = close_item_pieces.version_rows(client, unseen)
            self._rows.keep(_EVERY_READING, read)
            kept |= read
        return {(t, i): row for (t, i, _), row in kept.items()}

    def _durations_by_entity(
        self, client: Client, as_of: datetime, known: datetime
    ) -> dict[str, F64Array]:
        """Business seconds of the invoice stages completed in the window before ``as_of``, by
        legal entity name."""
        window = stage_window(as_of, known)
        rows = client.query(STAGE_DURATIONS_RECORDED, parameters=window).result_rows
        durations = {str(entity): net_durations(added, back) for entity, added, back in rows}
        return {entity: seconds for entity, seconds in durations.items() if len(seconds)}

    def _durations(
        self, client: Client, as_of: datetime, known: datetime, entities: tuple[str, ...]
    ) -> dict[int, F64Array]:
        rows = client.query(STAGE_DURATIONS, parameters=stage_window(as_of, known)).result_rows
        durations: dict[int, F64Array] = {}
        others = len(entities) + 1
        for entity, seconds in rows:
            # entities without items due still count in the firm-wide (pooled) distribution
            if entity in entities:
                code = entities.index(str(entity)) + 1
            elif not entity:
                code = 0
            else:
                code, others = others, others + 1
            durations[code] = np.array(seconds, dtype=np.float64)
        return durations
