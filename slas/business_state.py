"""Keeps the business state current, incrementally: ``sla_timers`` and ``close_items``. Each tick
reads only the business rows stored since its watermark, keeps the events whose facts as a
derivation reads them those rows changed (``slas.state_queries.CHANGED_EVENTS``: a derivation is
a function of those facts, so an event whose facts are the same at the window's end as at its
start changes nothing), finds the graph components they touch, re-derives every timer
(``slas.timer_rows``) and item (``slas.item_rows``) of those components and appends a version for
each one that changed or disappeared.

A component (events connected through non-dimension object references) is the unit: correlation
and dimension inheritance follow references, so nothing outside a component can change its timers,
and a re-derivation of a component gives exactly what a full evaluation gives for it. Events whose
window changed only how their attempts stand (a failure after a success, a success after a
failure) have a narrower one: the root causes of the items downstream of them
(``slas.cause_refresh``), which is what re-deriving their components would change. The
watermark trails the clock by ``settle`` seconds so that inserts in flight are visible when their
knowledge time is read; versions are stamped with the watermark (``KnownAt``), so an answer for a
``known_at`` up to the watermark never changes afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from clickhouse_connect.driver.client import Client

from domain.instants import EPOCH, utc
from lineage import evidence_spans
from lineage.rules import LineageRules
from slas import item_versions, timer_changes
from slas.calendars import CalendarBook
from slas.cause_refresh import refresh_causes
from slas.definitions import SlaDefinition
from slas.digests import U64Array, row_digests, sorted_members
from slas.event_dimensions import (
    StoredDimensions,
    append_dimensions,
    changed_dimensions,
    latest_dimensions,
)
from slas.item_rows import DIGEST_SPELLING, DerivedItems, derive_items
from slas.snapshot import EventSnapshot
from slas.state_columns import insert_columns
from slas.state_config import (
    CALENDARS_KEY,
    CONFIG_KEY,
    ENTITIES_WITH_STATE,
    calendars_record,
    config_fingerprint,
    moved_entities,
)
from slas.state_queries import (
    ITEM_COLUMNS,
    ITEM_IDS,
    TIMER_COLUMNS,
    TIMER_IDS,
    ChangedEvent,
    ObjectColumns,
    StoredVersions,
    WindowChanges,
    changed_events,
    clear_staging,
    component,
    event_rows,
    graph_chunks,
    latest_digests,
    latest_item_digests,
    load_component,
    object_columns,
    touched_objects_by_new_spans,
    unresolved_events,
    versions_stored,
    window_rows,
)
from slas.timer_rows import DerivedTimers, SnapshotNames, derive_timers
from warehouse.pool import READERS, reads_apart
from warehouse.queries import window_cut
from warehouse.rebuild import REBUILD_STALE, holds_tables
from warehouse.schema import CLOSE_ITEMS, SLA_TIMERS
from warehouse.schema_state import REBUILD_KEY, read_state, write_state, write_states, writes

logger = logging.getLogger(__name__)

WATERMARK_KEY = "sla_timers_watermark"
REBUILT_KEY = "sla_timers_rebuild_derived"
"""The ``done`` instant of the last rebuild of the business tables (``warehouse.rebuild``) after
which the keeper re-derived every timer. A rebuild keeps each fact's knowledge time, so its rows
fall behind the watermark and no window shows them: a ``done`` record the keeper has not derived
after starts the next tick's window at the epoch."""

RECORDED: dict[str, Callable[[Client, datetime, datetime], datetime | None]] = {
    timer_changes.CHANGES_WATERMARK_KEY: timer_changes.record_window,
    item_versions.WATERMARK_KEY: item_versions.record_window,
    evidence_spans.WATERMARK_KEY: evidence_spans.record_window,
}
"""What each tick records from the versions it wrote, by the key of its watermark (read with the
keeper's own and moved with it): the timers' state pieces, the items' replaced versions, the
evidence packs' raw spans. A recorder that returns an instant recorded only up to there (the raw
spans, a bounded window a tick): its watermark moves there, and the next tick goes on."""

RECORDED_FIRST: dict[str, Callable[[Client, datetime, datetime], datetime | None]] = {
    timer_changes.CHANGES_WATERMARK_KEY: partial(timer_changes.record_window, first=True),
    item_versions.WATERMARK_KEY: partial(item_versions.record_window, first=True),
}
"""The recorders of ``RECORDED`` that a tick whose versions are all their objects' first (new work
alone) runs instead: they read no replaced version (there are none)."""

RECORDED_AT_INGEST: dict[str, str] = {evidence_spans.WATERMARK_KEY: evidence_spans.AT_INGEST_KEY}
"""The recorders of ``RECORDED`` whose rows the insert that stores a business row writes too, from
the instant under the given key (migration 30): a window that starts there or later, with no
rebuild re-storing rows since, needs nothing from them, and their watermark moves with the
keeper's."""

ITEM_STORAGE = (ITEM_COLUMNS, DIGEST_SPELLING)
"""What an item row holds and how its digest is spelled: part of the fingerprint too, so that a
column added to ``close_items`` (the failure facts of migration 20) is filled, or a digest spelled
anew (``slas.item_rows.item_digests``) is written, by re-deriving everything once (every item
then gets one new version; the versions before keep a new column empty, and answers read those
facts elsewhere: ``slas.impact_answers``)."""

MAX_CHUNK_EVENTS = 125_000
"""Events of whole components derived at once when everything is (a rebuild, a first derivation).
A chunk is read on another thread while the one before is derived, so two are in memory: at
250,000 the 10M quarter's derivation into empty tables peaked at 1,940 MiB, at 125,000 at 1,538
MiB, and took less time, not more (benchmarks/history/rebuild.md, "After both were merged")."""

MAX_EXPANSION_EVENTS = 250_000
"""Events a tick closes by index reads (a window's components) before it takes the whole-graph read
instead. Not the chunk size: the graph read costs what the graph holds, so a budget halved with the
chunks sent the soak's steady ticks, whose components hold 125,000-250,000 events, to a read of the
whole graph every tick, and the evaluator fell behind by a further 27 s every minute (Soak, eleventh
pass)."""

LATE_HORIZON = timedelta(minutes=2)
"""How long after a window was read rows that become visible in it late are still found."""

MIN_EXPANSION_EVENTS = 20_000
"""Components this size are closed by index reads however small the graph is."""

MAX_WINDOW_EVENTS = 100_000
"""Event rows one tick reads at most (a window holding more is cut there, and the next tick
follows at once): what a tick holds in memory stays bounded however far behind it is."""

MAX_EXPANSION_ROUNDS = 64
"""Reads to close a component; deeper than any chain of the default graph (about 8)."""


ANSWER_WATERMARKS_SECONDS = 1.0
"""How long answers may take the watermarks another answer of this process read (``known_at``,
``known_at_recorded``). The read is a statement's own cost, some 4.5 ms CPU of a 60-110 ms answer
at 10M (6 % of the service's blocked-invoices page), and a dashboard page asks a dozen answers at
once. A write of the schema state by this process (a tick's, a reset's, a migration's) drops
what was read; another process's tick is seen at most this much later. An answer says which
known_at it describes, so an earlier one is as exact. (A recorder reset by another process, a
migration applied while this one serves, which the upgrade notes rule out, would be seen as late:
before, only as late as the read of its watermark beside the read of its table.)"""


class DerivationStopped(Exception):
    """A derivation in chunks stopped between two chunks because the process is stopping
    (``BusinessState.stop_deriving``). The chunks written stay (each is its components' latest
    versions); the watermark did not move, so the next tick derives the same window again and
    the chunks already written move nothing."""

    def __init__(self, done: int, count: int) -> None:
        super().__init__(f"stopped after {done} of {count} chunks of a derivation")
        self.done = done
        self.count = count


@dataclass(frozen=True)
class TickReport:
    """What one tick did: the window it read, the objects it touched, the versions it wrote."""

    since: datetime
    until: datetime
    touched: int
    events: int
    versions: int
    skipped: str = ""
    unresolved: int = 0
    """Events stored in the window that reference no object but dimensions."""
    unresolved_sample: tuple[str, ...] = ()
    late_rows: int = 0
    """Rows that became visible after the window holding their knowledge time was read (an insert
    slower than the settle time, a replica behind): the tick read from that window again."""
    path: str = ""
    """How the touched components were closed: ``index`` (index reads around the objects the
    window touched) or ``graph`` (one read of the whole graph); empty when nothing was touched."""
    refreshed: int = 0
    """Events whose window changed only how their attempts stand: the root causes of the items
    downstream of them refreshed (``slas.cause_refresh``) rather than their components re-derived,
    unless they lie in components re-derived anyway or the refresh sent them to theirs."""
    capped: bool = False
    """The window held more than ``max_window_events`` event rows and was cut after them: the
    watermark is behind ``now - settle`` and the next tick should follow at once."""
    recorders_behind: tuple[str, ...] = ()
    """The recorders (watermark keys of ``RECORDED``) that stopped short of the window: the
    evidence spans copying a bounded window a tick (after an upgrade, or behind a large backfill)."""


class BusinessState:
    """``tick`` brings ``sla_timers`` up to ``now - settle``; ``watermark`` says how far it is."""

    def __init__(
        self,
        client: Callable[[], Client],
        definitions: Sequence[SlaDefinition],
        calendars: CalendarBook,
        *,
        rules: LineageRules | None = None,
        settle: timedelta = timedelta(seconds=5),
        max_events_per_chunk: int = MAX_CHUNK_EVENTS,
        max_expansion_events: int = MAX_EXPANSION_EVENTS,
        max_window_events: int = MAX_WINDOW_EVENTS,
        refresh_outcomes: bool = True,
        answer_watermarks_seconds: float = ANSWER_WATERMARKS_SECONDS,
    ) -> None:
        self._client = client
        self.definitions = tuple(definitions)
        self.calendars = calendars
        self.rules = rules or LineageRules.default()
        self._settle = settle
        self._max_events = max_events_per_chunk
        self._max_expansion = max_expansion_events
        self._max_window_events = max_window_events
        self._refresh_outcomes = refresh_outcomes
        """Off: every changed event's component is re-derived (the reference the narrow unit is
        compared with)."""
        self._fingerprint = config_fingerprint(
            self.definitions, calendars, self.rules, item_storage=ITEM_STORAGE
        )
        self._calendars_record = calendars_record(
            self.definitions, calendars, self.rules, item_storage=ITEM_STORAGE
        )
        self._read: list[tuple[datetime, datetime, int]] = []
        """Windows this process read lately, oldest first: (since, until, rows visible then)."""
        self._stopping = threading.Event()
        self._answer_watermarks_seconds = answer_watermarks_seconds
        self._answered: tuple[float, int, dict[str, tuple[str, datetime]]] | None = None
        """When answers last read the watermarks (``time.monotonic``, the process's schema-state
        writes then: ``warehouse.schema_state.writes``), and what they read."""
        self._answer_keys = {WATERMARK_KEY}
        """The watermarks answers read: the keeper's and every recorder's asked so far."""

    def stop_deriving(self) -> None:
        """Ask a derivation in chunks under way (or the next) to stop after the chunk it is
        writing: a service stopping during a derivation from scratch, which takes minutes at
        millions of spans, then exits in seconds instead of being killed."""
        self._stopping.set()

    def watermark(self) -> datetime:
        """The knowledge time up to which ``sla_timers`` is complete (epoch before any tick)."""
        state = read_state(self._client(), WATERMARK_KEY)
        return _parse(state[WATERMARK_KEY][0]) if WATERMARK_KEY in state else EPOCH

    def known_at(self, requested: datetime | None) -> datetime:
        """``requested`` capped at the watermark (the watermark when None): up to it the state
        is complete, so an answer for it never changes. The watermark as an answer of the last
        ``ANSWER_WATERMARKS_SECONDS`` read it, if one did."""
        return capped(requested, parse_watermark(self._answer_watermarks(), WATERMARK_KEY))

    def known_at_recorded(self, requested: datetime | None, key: str) -> tuple[datetime, bool]:
        """``known_at(requested)``, and whether what records the versions under the watermark
        ``key`` has recorded every version known then: both watermarks from one reading."""
        state = self._answer_watermarks(key)
        known = capped(requested, parse_watermark(state, WATERMARK_KEY))
        return known, parse_watermark(state, key) >= known

    def _answer_watermarks(self, key: str = WATERMARK_KEY) -> dict[str, tuple[str, datetime]]:
        """The watermarks answers read (``key`` among them), as read in the last
        ``ANSWER_WATERMARKS_SECONDS``, else read now."""
        answered = self._answered
        if (
            answered is not None
            and key in self._answer_keys
            and answered[1] == writes()
            and time.monotonic() - answered[0] < self._answer_watermarks_seconds
        ):
            return answered[2]
        self._answer_keys = {*self._answer_keys, key}
        read_at, written = time.monotonic(), writes()
        state = read_state(self._client(), *sorted(self._answer_keys))
        self._answered = (read_at, written, state)
        return state

    def facts_reading(self) -> tuple[int, tuple[str, datetime] | None, tuple[str, datetime] | None]:
        """What facts an answer keeps per knowledge time (``slas.error_attempts``) are tagged
        with: this process's schema-state writes, the keeper's watermark and the rebuild record,
        as the answers' shared reading has them. It changes at once with a tick, a reset or a
        rebuild of this process, and within ``ANSWER_WATERMARKS_SECONDS`` with another's (a
        rebuild stores the facts it derives differently, under changed rules, with a new
        knowledge time: what was kept for an earlier one may no longer hold)."""
        state = self._answer_watermarks(REBUILD_KEY)
        return writes(), state.get(WATERMARK_KEY), state.get(REBUILD_KEY)

    def rebuild_record(self) -> tuple[str, datetime] | None:
        """The business tables' rebuild record (``warehouse.rebuild``: running or done, and when),
        as the answers' shared reading has it: it changes with every rebuild, by any process."""
        return self.facts_reading()[2]

    def items_known_at(self, requested: datetime | None) -> tuple[datetime, bool]:
        """``known_at_recorded`` for ``slas.item_versions`` (its answers may filter by the
        replaced versions)."""
        return self.known_at_recorded(requested, item_versions.WATERMARK_KEY)

    def reset(self, now: datetime) -> None:
        """Re-derive every timer at the next tick (versions are written only where one moved).

        The state tables are not emptied: the versions stored stay, so an answer for a past
        ``known_at`` stays what it was. A derivation reads the latest stored versions only when
        some are stored (``versions_stored``); into empty tables (a first derivation) it writes
        everything without a read."""
        write_state(self._client(), WATERMARK_KEY, EPOCH.isoformat(), at=_millis(now))

    def tick(self, now: datetime) -> TickReport:
        """Re-derive what rows stored since the watermark touch; advance the watermark."""
        client = self._client()
        state = read_state(
            client,
            WATERMARK_KEY,
            CONFIG_KEY,
            CALENDARS_KEY,
            REBUILD_KEY,
            REBUILT_KEY,
            *RECORDED,
            *RECORDED_AT_INGEST.values(),
        )
        since = _parse(state[WATERMARK_KEY][0]) if WATERMARK_KEY in state else EPOCH
        until = _millis(now - self._settle)
        rebuild = state.get(REBUILD_KEY)
        if rebuild is not None and holds_tables(rebuild, now):
            return TickReport(since, since, 0, 0, 0, skipped=_rebuild_running(*rebuild))
        stored_config = state.get(CONFIG_KEY, ("",))[0]
        if stored_config != self._fingerprint and since != EPOCH:
            record = state.get(CALENDARS_KEY)
            entities = moved_entities(record and record[0], stored_config, self._calendars_record)
            since = self._configuration_changed(client, entities, since)
        if _rebuilt_since(state, rebuild, since):
            logger.info("business tables rebuilt: re-deriving every timer")
            since = EPOCH
        if until <= since:
            return TickReport(since, since, 0, 0, 0)
        since, late, visible = self._reopen(client, since, until, now)
        capped = False
        # a derivation from scratch reads in chunks of whole components; a window holding fewer
        # rows (event and object rows) than the budget's event rows needs no look for its end
        if since != EPOCH and visible > self._max_window_events:
            until, capped = self._bounded(client, since, until)
            if capped:
                visible = window_rows(client, since, [until])[0]
        setup_types = sorted({t for types in self.rules.prerequisites.values() for t in types})
        unresolved, sample, stored_before = unresolved_events(client, since, until, setup_types)
        events = versions = touched = refreshed = 0
        path = ""
        done: tuple[int, int, Collection[str]] | None = None
        # every version this tick writes is its object's first (``_rederive_around``'s ``new``)
        first_versions = False
        # the stored versions reflect the window's start unless rows became visible behind it:
        # then every new span touches its objects, else only events the window changed do
        changed_only = late == 0
        if since != EPOCH and visible:
            # index reads cost what the components hold, the graph read what the graph holds:
            # past a quarter of the graph (scattered arrivals touching most contracts) the read
            # wins; one read counts the objects the window touches and names them when fewer
            budget = min(self._max_expansion, max(event_rows(client) // 4, MIN_EXPANSION_EVENTS))
            outcomes: list[ChangedEvent] = []
            objects: ObjectColumns | None
            seeds: WindowChanges | None = None
            if changed_only:
                touched, objects, outcomes, seeds = self._changes(
                    client, since, until, limit=budget, stored_before=stored_before
                )
            else:
                touched, pairs = touched_objects_by_new_spans(client, since, until, limit=budget)
                objects = object_columns(pairs) if pairs else None
            if objects is not None:
                around = self._rederive_around(
                    client,
                    until,
                    objects,
                    max_events=budget,
                    seeds=seeds,
                    ids=bool(outcomes),
                    new=not stored_before and (rebuild is None or rebuild[1] < since),
                )
                if around is not None:
                    done, first_versions = around[:3], around[3] and not outcomes
                path = "index"
            if outcomes and (done is not None or not touched):
                refreshed = len(outcomes)
                done = self._refresh(client, until, outcomes, done or (0, 0, ()), budget)
                if done is None:  # the graph read re-derives every changed event's component
                    touched = max(touched, 1)
        if done is not None:
            events, versions, _ = done
        elif since == EPOCH or touched:
            # a large window (start-up on loaded data, a reset, a rebuild, a backfill) or
            # components too large to close by index reads: whole components from one read of
            # the graph, in chunks, staged by one pass over the events (each chunk's reads a
            # range of the staging)
            path = "graph"
            count, touched = graph_chunks(
                client,
                since,
                until,
                max_events=self._max_events,
                everything=since == EPOCH,
                changed_only=changed_only,
            )
            # versions stored: a chunk compares with the latest of its own; none (a first
            # derivation, or the tables emptied): nothing to compare with, nothing read
            stored = versions_stored(client)
            events, versions = self._rederive_chunks(client, until, count, stored=stored)
            clear_staging(client)
            path = path if touched else ""
        stamp = max(_millis(now), until)
        moved = {
            WATERMARK_KEY: until.isoformat(),
            CONFIG_KEY: self._fingerprint,
            CALENDARS_KEY: self._calendars_record,
        }
        # written once a rebuild, not every tick
        rebuilt = rebuild[1].isoformat() if rebuild is not None and rebuild[0] == "done" else None
        if rebuilt is not None and state.get(REBUILT_KEY, ("",))[0] != rebuilt:
            moved[REBUILT_KEY] = rebuilt
        behind: list[str] = []
        for key, record_window in RECORDED.items():
            recorded = parse_watermark(state, key)
            if until <= recorded:
                continue
            # rows stored after this instant were written by the insert that stored them
            bound = min(until, _written_at_ingest_after(state, key, recorded, rebuild) or until)
            if bound <= recorded:
                moved[key] = until.isoformat()
                continue
            recorder = record_window
            if recorded == since and first_versions:
                # the window is this tick's alone, and it replaced no version
                recorder = RECORDED_FIRST.get(key, record_window)
            reached = recorder(client, recorded, bound) or bound
            moved[key] = (until if reached >= bound else reached).isoformat()
            if reached < bound:
                behind.append(key)
        # the recorded tables' watermarks move with the keeper's, in one write: a tick that dies
        # before it leaves every one behind, and the next records that window again
        write_states(client, moved, at=stamp)
        self._read = [w for w in self._read if w[1] > now - LATE_HORIZON]
        if since != EPOCH:
            self._read.append((since, until, visible))
        return TickReport(
            since,
            until,
            touched,
            events,
            versions,
            unresolved=unresolved,
            unresolved_sample=tuple(sample),
            late_rows=late,
            path=path,
            refreshed=refreshed,
            capped=capped,
            recorders_behind=tuple(behind),
        )

    def _configuration_changed(
        self, client: Client, moved: set[str] | None, since: datetime
    ) -> datetime:
        """Where the window starts after the configuration changed: at ``since`` when only the
        calendars of legal entities (``moved``) changed and no state row belongs to them (a new
        entity's, before its traffic), else at the epoch (every timer re-derived)."""
        if moved is not None:
            held = client.query(ENTITIES_WITH_STATE, parameters={"entities": sorted(moved)})
            if not held.result_rows:
                logger.info(
                    "calendars changed for %s, which no timer or item belongs to yet: "
                    "nothing to re-derive",
                    ", ".join(sorted(moved)),
                )
                return since
        logger.info("SLA definitions or calendars changed: re-deriving every timer")
        return EPOCH

    def _bounded(self, client: Client, since: datetime, until: datetime) -> tuple[datetime, bool]:
        """Where the window from ``since`` ends: ``until``, or just before the event row after
        the first ``max_window_events`` (rows stored in the same millisecond stay together), and
        whether it was cut."""
        end = window_cut(client, since, until, self._max_window_events)
        return (until, False) if end is None else (end, True)

    def _changes(
        self, client: Client, since: datetime, until: datetime, *, limit: int, stored_before: bool
    ) -> tuple[int, ObjectColumns | None, list[ChangedEvent], WindowChanges | None]:
        """How many objects the events the window changed touch, and which (none when more than
        ``limit``); the events whose window changed only how their attempts stand, which touch
        no component (``slas.cause_refresh``) unless ``refresh_outcomes`` is off; and the changes
        themselves, whose other events that reference an object are the components' seeds
        (``component``). ``stored_before``: whether any event of the window has rows stored
        before it (when none does, only new events are looked for)."""
        changed = changed_events(
            client,
            since,
            until,
            outcomes_apart=self._refresh_outcomes,
            stored_before=stored_before,
        )
        objects = (changed.object_types, changed.object_ids)
        if not 0 < len(changed) <= limit:
            return len(changed), None, changed.outcomes, None
        return len(changed), objects, changed.outcomes, changed

    def _refresh(
        self,
        client: Client,
        until: datetime,
        outcomes: list[ChangedEvent],
        done: tuple[int, int, Collection[str]],
        budget: int,
    ) -> tuple[int, int, Collection[str]] | None:
        """Refresh the root causes the outcome-only events move, but for those in components
        re-derived already (``done``: events read, versions written, the components' events);
        their components when the refresh cannot be trusted (None: the graph read then)."""
        events, versions, derived = done
        remaining = [e for e in outcomes if e.event_id not in derived]
        if not remaining:
            return done
        refreshed = refresh_causes(client, self.rules, remaining, until, max_events=budget)
        if refreshed is None:
            objects = object_columns({ref for e in remaining for ref in e.references})
            again = self._rederive_around(client, until, objects, max_events=budget)
            if again is None:
                return None
            return events + again[0], versions + again[1], {*derived, *again[2]}
        append_items(client, refreshed.columns, [], known_at=until)
        return events + refreshed.events, versions + refreshed.moved, derived

    def _reopen(
        self, client: Client, since: datetime, until: datetime, now: datetime
    ) -> tuple[datetime, int, int]:
        """Where this tick starts reading: ``since``, or the start of the earliest window read
        lately in which rows have become visible since it was read (those rows' knowledge time
        is behind the watermark, so no later window holds them); how many rows did; and the rows
        visible now in the window this tick reads. One count of the recent windows and this one
        serves all three, unless a window grew (then the reopened window is counted again)."""
        if since == EPOCH:
            # a derivation from scratch reads everything: nothing can become visible behind it
            self._read = []
            return since, 0, 0
        read = [w for w in self._read if w[1] <= since and w[1] > now - LATE_HORIZON]
        start = read[0][0] if read else since
        ends = [end for _, end, _ in read]
        if ends and ends[-1] != since:  # another process read in between: count from since apart
            ends.append(since)
        counts = window_rows(client, start, [*ends, until])
        grown = [(w, c) for w, c in zip(read, counts, strict=False) if c > w[2]]
        if not grown:
            return since, 0, counts[-1]
        reopened = grown[0][0][0]
        late = sum(count - window[2] for window, count in grown)
        logger.info(
            "%d business row(s) became visible after their window was read: reading again from %s",
            late,
            reopened.isoformat(),
        )
        self._read = [w for w in self._read if w[1] <= reopened]
        return reopened, late, window_rows(client, reopened, [until])[0]

    def _rederive_around(
        self,
        client: Client,
        until: datetime,
        objects: ObjectColumns,
        *,
        max_events: int,
        seeds: WindowChanges | None = None,
        ids: bool = True,
        new: bool = False,
    ) -> tuple[int, int, Collection[str], bool] | None:
        """Re-derive the components of ``objects`` (around the seeds of ``seeds``, events whose
        every reference is among them: ``component``), closed in the engine; None when they hold
        more than ``max_events`` events (the graph read serves those better). Events read,
        versions written, the components' event ids (only when ``ids``: only the refresh of
        outcome-only events reads them), and whether no stored version was read because none
        can exist (below: every version written is its key's first). A closure that stops at its
        seeds takes their references from ``seeds`` rather than reading them again.

        ``new``: no event of the window has rows stored before its start, and no rebuild re-stored
        the business rows since then (a rebuild's ``done`` record is older than the window). A
        closure that stops at such seeds reads no stored version: every event naming one of its
        objects is a seed, so no row naming one was stored by the window's start, when every
        version stored so far was derived (a version is keyed by the objects and events of the
        rows it was derived from, and business rows are kept: a rebuild re-stores them, and may
        give a row new references, hence the second condition). Under steady ingest of new work
        this is every tick, and the three reads of the latest versions (timers, items, dimensions)
        found nothing. (Rows the facts retention expired, by event time, can leave versions of
        their objects behind, kept by knowledge time: such a version is then not marked deleted
        by a window of new events naming its object, as it is not by any tick that never reads
        that object again.)"""
        found = component(
            client,
            objects,
            until,
            max_rounds=MAX_EXPANSION_ROUNDS,
            max_events=max_events,
            seeds=None if seeds is None else seeds.event_ids,
            event_ids=ids,
        )
        if found is None:
            return None
        known = seeds.seed_references if seeds is not None and found.at_seeds else None
        stored = not (new and known is not None)
        return (
            *self._rederive(client, until, references=known, stored=stored),
            found.event_ids,
            not stored,
        )

    def _rederive_chunks(
        self, client: Client, until: datetime, count: int, *, stored: bool
    ) -> tuple[int, int]:
        """Re-derive the ``count`` chunks ``graph_chunks`` staged, in order; the next chunk is read
        on a ``READERS`` thread (with that thread's client) while this one derives and writes the
        chunk before, so that the engine's read and the derivation use both cores. Events read,
        versions written. Raises ``DerivationStopped`` between two chunks once asked to stop."""
        events = versions = 0
        with closing(self._chunk_reads(client, until, count, stored=stored)) as reads:
            for done, read in enumerate(reads, start=1):
                derived, written = self._write(client, until, read)
                del read  # held: this chunk while it is derived, and the next one being read
                events += derived
                versions += written
                if done < count and self._stopping.is_set():
                    raise DerivationStopped(done, count)
        return events, versions

    def _chunk_reads(
        self, client: Client, until: datetime, count: int, *, stored: bool
    ) -> Generator[ComponentRead, None, None]:
        """``_load`` of each chunk, one chunk ahead on a ``READERS`` thread. A read that fails
        there raises here; closing early waits for the read under way, so that none runs behind
        a tick that ended. When the factory gives that thread this thread's client (one client
        shared by every thread), everything is read here, in turn."""

        def read(chunk: int) -> ComponentRead:
            return self._load(self._client(), until, chunk=chunk, stored=stored)

        ahead = count > 1 and reads_apart(self._client, client)
        if not ahead:
            for chunk in range(count):
                yield self._load(client, until, chunk=chunk, stored=stored)
            return
        pending: Future[ComponentRead] | None = READERS.submit(read, 0)
        following = 1
        try:
            while pending is not None:
                found = pending.result()
                pending = READERS.submit(read, following) if following < count else None
                following += 1
                yield found
                del found
        finally:
            if pending is not None and not pending.cancel():
                pending.exception()

    def _rederive(
        self,
        client: Client,
        until: datetime,
        *,
        references: dict[str, Any] | None = None,
        stored: bool = True,
    ) -> tuple[int, int]:
        """Re-derive the components closed in the component scratch tables (``component``; their
        ``references`` when known already) and append what changed. Events read, versions
        written."""
        return self._write(
            client, until, self._load(client, until, references=references, stored=stored)
        )

    def _load(
        self,
        client: Client,
        until: datetime,
        *,
        chunk: int | None = None,
        references: dict[str, Any] | None = None,
        stored: bool = True,
    ) -> ComponentRead:
        """What a re-derivation of the components a ``chunk`` of ``syncsight_state_chunks`` holds
        (whole components), or else of those closed in the component scratch tables, reads: their
        snapshot, and the latest stored versions of their timers, items and events' dimensions
        (none when not ``stored``: the state tables hold no version, so none is read)."""
        named = chunk is None
        snapshot, names = load_component(
            client, until, chunk=chunk, named=named, references=references
        )
        if not stored:
            return ComponentRead(
                snapshot,
                names,
                StoredVersions.none(TIMER_IDS),
                StoredVersions.none(ITEM_IDS),
                StoredDimensions.none(),
            )
        key_hashes = np.sort(np.fromiter(names.objects, dtype=np.uint64, count=len(names.objects)))
        return ComponentRead(
            snapshot,
            names,
            latest_digests(client, key_hashes, chunk=chunk),
            latest_item_digests(client, key_hashes, chunk=chunk),
            latest_dimensions(client, chunk=chunk),
        )

    def _write(self, client: Client, until: datetime, read: ComponentRead) -> tuple[int, int]:
        """Derive the timers, items and events' dimensions of ``read``'s snapshot and append
        those that moved since the latest stored versions (everything that has none). Events
        read, versions written."""
        snapshot, names = read.snapshot, read.names
        timers = _timer_changes(
            derive_timers(snapshot, self.definitions, self.calendars, names), read.timers, names
        )
        items = _item_changes(derive_items(snapshot, self.calendars, self.rules, names), read.items)
        dimensions = changed_dimensions(snapshot, names, read.dimensions)
        append_timers(client, *timers, known_at=until)
        append_items(client, *items, known_at=until)
        append_dimensions(client, dimensions, known_at=until)
        changed_timers = sum(len(columns["Digest"]) for columns in timers[0])
        return len(snapshot.event), (
            len(dimensions["EventId"])
            + changed_timers
            + len(timers[1])
            + len(items[0]["Digest"])
            + len(items[1])
        )


@dataclass(frozen=True, eq=False)
class ComponentRead:
    """What a re-derivation of some components reads: their snapshot and the ids behind it, and
    the latest stored versions it compares with (``BusinessState._load``)."""

    snapshot: EventSnapshot
    names: SnapshotNames
    timers: StoredVersions
    items: StoredVersions
    dimensions: StoredDimensions


def _timer_changes(
    derived: Sequence[DerivedTimers], stored: StoredVersions, names: SnapshotNames
) -> tuple[list[dict[str, Any]], list[tuple[str, ...]]]:
    """The columns of the timers whose content moved since their latest stored version (one set
    per SLA, built only for those), and the identities stored (not as deleted) that the
    re-derivation no longer has."""
    unchanged = _live_versions(stored)
    changed = []
    for timers in derived:
        moved = _moved(timers.identities, timers.digests, unchanged)
        if len(moved):
            changed.append(timers.columns(names, moved))
    fresh = np.concatenate([timers.identities for timers in derived] or [np.zeros(0, np.uint64)])
    return changed, stored.named(_gone(stored, fresh))


def _item_changes(
    derived: DerivedItems, stored: StoredVersions
) -> tuple[dict[str, Any], list[tuple[str, ...]]]:
    """The columns of the items whose content moved since their latest stored version (built
    only for those), and the identities stored (not as deleted) that the re-derivation no longer
    has. An identity derived twice counts as its last item."""
    identities = derived.identities
    _, first_from_end = np.unique(identities[::-1], return_index=True)
    last = np.sort(len(identities) - 1 - first_from_end)
    moved = _moved(identities[last], derived.digests[last], _live_versions(stored))
    return derived.columns(last[moved]), stored.named(_gone(stored, identities))


def _live_versions(stored: StoredVersions) -> U64Array:
    """The stored versions not deleted, each as one hash of its identity and digest, in order."""
    live = ~stored.deleted
    return np.sort(row_digests([stored.identity[live], stored.digest[live]], int(live.sum())))


def _moved(identities: U64Array, digests: U64Array, live: U64Array) -> npt.NDArray[np.intp]:
    """Which of the derived rows (``identities``, ``digests``) no ``live`` version holds."""
    versions = row_digests([identities, digests], len(identities))
    return np.flatnonzero(~sorted_members(versions, live))


def _gone(stored: StoredVersions, fresh: U64Array) -> npt.NDArray[np.intp]:
    """Which stored versions (not deleted) are of an identity the re-derivation no longer has."""
    return np.flatnonzero(~stored.deleted & ~sorted_members(stored.identity, np.sort(fresh)))


def append_timers(
    client: Client,
    changed: list[dict[str, Any]],
    gone: Sequence[tuple[str, ...]],
    *,
    known_at: datetime,
) -> None:
    """Append the changed timers' versions (``DerivedTimers.columns``, one set per SLA) and a
    deleted version of each ``gone`` identity (every other column its default), in one insert."""
    identities = [list(column) for column in zip(*gone, strict=True)] if gone else [[]] * 4
    insert_columns(
        client,
        SLA_TIMERS,
        *(_version(columns, known_at, deleted=False) for columns in changed),
        _version(dict(zip(TIMER_COLUMNS[:4], identities, strict=True)), known_at, deleted=True),
    )


def append_items(
    client: Client,
    changed: Mapping[str, Any],
    gone: Sequence[tuple[str, ...]],
    *,
    known_at: datetime,
) -> None:
    """Append the changed items' versions (``DerivedItems.columns``) and a deleted version of each
    ``gone`` identity (every other column its default, but ``StageSeconds``: -1, not posted), in
    one insert."""
    types, ids = (list(column) for column in zip(*gone, strict=True)) if gone else ([], [])
    insert_columns(
        client,
        CLOSE_ITEMS,
        _version(changed, known_at, deleted=False),
        _version({"ItemType": types, "ItemId": ids, "StageSeconds": -1.0}, known_at, deleted=True),
    )


def _version(columns: Mapping[str, Any], known_at: datetime, *, deleted: bool) -> dict[str, Any]:
    """``columns`` as versions known at ``known_at``."""
    return {**columns, "KnownAt": known_at, "Deleted": int(deleted)}


def _rebuild_running(value: str, since: datetime) -> str:
    """Why a tick was skipped for a rebuild, as the log and ``/readyz`` say it: a rebuild under
    way, or one that failed (an engine error); a rebuild cut short (a process killed) leaves its
    flag too. Either leaves the tables it had emptied until a rebuild finishes or the flag is
    ``REBUILD_STALE`` old."""
    hours = int(REBUILD_STALE.total_seconds() // 3600)
    if value == "failed":
        return (
            f"rebuild failed at {utc(since):%Y-%m-%d %H:%M:%S} UTC, leaving business rows "
            f"missing: rebuild again (`syncsight rebuild` or POST /api/v1/admin/rebuild); "
            f"evaluation resumes when one finishes or after {hours} hours"
        )
    return (
        f"rebuild running since {utc(since):%Y-%m-%d %H:%M:%S} UTC; one that died leaves this "
        f"until a rebuild finishes or for {hours} hours: if none runs, rebuild again "
        "(`syncsight rebuild` or POST /api/v1/admin/rebuild)"
    )


def _rebuilt_since(
    state: dict[str, tuple[str, datetime]],
    rebuild: tuple[str, datetime] | None,
    since: datetime,
) -> bool:
    """Whether a rebuild finished that the keeper has not re-derived every timer after
    (``REBUILT_KEY``): one that finished after the window's start (a tick that began before it
    read half-filled tables, and records the rebuild it read, not this one). One that finished
    before (recorded by no tick: an upgrade from a release whose rebuild gave every row a new
    knowledge time, read since by a window) needs nothing."""
    if since == EPOCH or rebuild is None or rebuild[0] != "done" or rebuild[1] < since:
        return False
    return state.get(REBUILT_KEY, ("",))[0] != rebuild[1].isoformat()


def _written_at_ingest_after(
    state: dict[str, tuple[str, datetime]],
    key: str,
    recorded: datetime,
    rebuild: tuple[str, datetime] | None,
) -> datetime | None:
    """The instant after which every row the recorder under ``key`` would record after
    ``recorded`` was written by the insert that stored its business row (``RECORDED_AT_INGEST``),
    or None. The recorder's window ends there: a first window after the view began (a new
    directory's, while ingest runs: 100,000 spans copied twice, 500 MiB more at the service's
    peak, benchmarks/history/ingest.md, "The evidence copies' first window") holds rows stored
    before it and rows the view copied. A rebuild stores the facts it derives differently or for
    the first time under a new knowledge time without their copies (it reads ``otel_traces``, which
    fires no view), so a window it may have written into (it finished after the window's start,
    or it died) is recorded by the tick whole."""
    at_ingest = RECORDED_AT_INGEST.get(key)
    if at_ingest is None or at_ingest not in state:
        return None
    if rebuild is not None and (rebuild[0] != "done" or rebuild[1] >= recorded):
        return None
    return parse_watermark(state, at_ingest)


def capped(requested: datetime | None, watermark: datetime) -> datetime:
    """The ``known_at`` an answer describes: ``requested`` capped at the watermark (the
    watermark when None)."""
    return watermark if requested is None else min(utc(requested), watermark)


def parse_watermark(state: dict[str, tuple[str, datetime]], key: str) -> datetime:
    """A watermark as ``read_state`` returns it (epoch when never written)."""
    return _parse(state[key][0]) if key in state else EPOCH


def _millis(instant: datetime) -> datetime:
    instant = utc(instant)
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def _parse(text: str) -> datetime:
    return utc(datetime.fromisoformat(text))
