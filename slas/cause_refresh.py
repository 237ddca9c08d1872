"""A tick's narrow unit: events whose window changed only how their attempts stand (whether the
latest failed, and since when: ``slas.queries.OUTCOME_COLUMNS``). No timer reads those facts, and
an item reads them only through the root cause of its stage event (``slas.blocking``), so such an
event moves nothing but the ``Upstream*`` columns of the items whose stage event lies downstream
of it along the hops, and the failure facts (``*Error*``) of the items whose stage or posting
it is. Those are re-derived from the events upstream of them, with the blocking
code itself: a walk along the lineage rules' hops (``lineage.rules``, the one description of the
graph) finds the events downstream (what the event feeds, directly or through others) and every
event upstream of those (everything that can feed them); the root causes of a snapshot that holds
an event with everything upstream of it are the component's. Every other column of an item is the
stored version's, which the stored versions' premise (they are the derivation at the window's
start) and the unchanged facts keep exact.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from lineage.rules import LineageRules
from slas.blocking import upstream_causes
from slas.item_rows import VALUE_COLUMNS, fact_columns, item_digests, spelled_ids
from slas.state_queries import (
    ITEM_COLUMNS,
    ChangedEvent,
    Pair,
    hop_neighbours,
    item_hashes,
    latest_items,
    load_component,
)

MAX_WALK_ROUNDS = 64
"""Steps of the walk; deeper than any chain of hops (``slas.blocking.MAX_LEVELS`` is 32)."""

_ITEM_FIELDS = tuple(c for c in ITEM_COLUMNS if c not in ("KnownAt", "Deleted", "Digest"))
"""The columns a refreshed item keeps from its stored version but for those it refreshes."""


@dataclass(frozen=True)
class Refreshed:
    """What a refresh read and found: the events of its snapshot, the ``close_items`` columns of
    the items whose content moved (but the version's: ``append_items``), and how many moved."""

    events: int
    columns: dict[str, Any]
    moved: int


@dataclass(frozen=True)
class _Event:
    event_type: str
    references: tuple[Pair, ...]


def wanted_objects(
    rules: LineageRules, event: _Event, *, downstream: bool
) -> list[tuple[Pair, tuple[str, ...]]]:
    """The objects one step along the hops from ``event`` names, each with the event types that
    step reaches through it: those it feeds (``downstream``) or those that feed it."""
    wanted = []
    for hop in rules.hops:
        if downstream and event.event_type in hop.upstream_types:
            types: tuple[str, ...] = (hop.event_type,)
        elif not downstream and hop.event_type == event.event_type:
            types = hop.upstream_types
        else:
            continue
        wanted += [(ref, types) for ref in event.references if ref[0] == hop.object_type]
    return wanted


def walk(
    client: Client,
    rules: LineageRules,
    changed: Iterable[ChangedEvent],
    until: datetime,
    *,
    max_events: int,
) -> tuple[set[str], dict[str, _Event]] | None:
    """The changed events with every event downstream of them, and every event upstream of those,
    as known at ``until``: the ids of the first set, and each event of both with its type and
    references. Each step reads both directions at once; None past ``max_events`` events."""
    events = {e.event_id: _Event(e.event_type, e.references) for e in changed}
    downstream = set(events)
    down_frontier, up_frontier = set(events), set(events)
    for _round in range(MAX_WALK_ROUNDS):
        reaches: dict[Pair, list[tuple[bool, tuple[str, ...]]]] = {}
        for frontier, down in ((down_frontier, True), (up_frontier, False)):
            for event_id in frontier:
                for ref, types in wanted_objects(rules, events[event_id], downstream=down):
                    reaches.setdefault(ref, []).append((down, types))
        if not reaches:
            break
        steps = {(*ref, t) for ref, ways in reaches.items() for _, types in ways for t in types}
        down_frontier, up_frontier = set(), set()
        for event_id, event_type, references in hop_neighbours(client, steps, until):
            for ref in references:
                for down, types in reaches.get(ref, ()):
                    if event_type not in types:
                        continue
                    if event_id not in events:
                        events[event_id] = _Event(event_type, references)
                        up_frontier.add(event_id)
                    if down and event_id not in downstream:
                        # an event downstream is also a stage whose upstream counts
                        downstream.add(event_id)
                        down_frontier.add(event_id)
        if len(events) > max_events:
            return None
    return downstream, events


def refresh_causes(
    client: Client,
    rules: LineageRules,
    changed: Collection[ChangedEvent],
    until: datetime,
    *,
    max_events: int,
) -> Refreshed | None:
    """The items whose root cause the outcome-only ``changed`` events moved, re-derived; None
    when the walk grows past ``max_events`` events or a stored item is not what a derivation
    spells (then the caller re-derives the components)."""
    found = walk(client, rules, changed, until, max_events=max_events)
    if found is None:
        return None
    downstream, events = found
    item_keys = {ref for event_id in downstream for ref in events[event_id].references}
    stored = latest_items(client, item_keys)
    if stored.num_rows:
        steps = pa.array(sorted(downstream), type=pa.string())
        reached = pc.or_(
            pc.is_in(stored["StageEventId"], value_set=steps),
            pc.is_in(stored["PostingEventId"], value_set=steps),
        )
        stored = stored.filter(pc.and_(pc.equal(stored["Deleted"], 0), reached))
    if not stored.num_rows:
        return Refreshed(0, {}, 0)
    snapshot, names = load_component(client, until, event_ids=set(events))
    count, hashes = stored.num_rows, item_hashes(stored)
    values = {name: stored[name] for name in VALUE_COLUMNS}
    digests = np.asarray(stored["Digest"].to_numpy(), dtype=np.uint64)
    stage = snapshot.rows_of(hashes["StageEventId"])
    posts = hashes["PostingEventId"] != 0
    posting = np.where(posts, snapshot.rows_of(hashes["PostingEventId"]), -1)
    unread = (stage < 0) | (posts & (posting < 0))
    if unread.any() or (item_digests(values, hashes, count) != digests).any():
        return None  # not the version a derivation spells: the component decides
    causes = upstream_causes(snapshot, rules)
    facts, fact_hashes = fact_columns(snapshot, names, stage, posting, causes[stage])
    fresh = item_digests({**values, **facts}, {**hashes, **fact_hashes}, count)
    moved = np.flatnonzero(fresh != digests)
    chosen = pa.array(moved, type=pa.int64())
    columns: dict[str, Any] = {name: stored[name].take(chosen) for name in _ITEM_FIELDS}
    columns.update({name: column.take(chosen) for name, column in facts.items()})
    columns.update(spelled_ids({name: h[moved] for name, h in fact_hashes.items()}, names))
    columns["Digest"] = fresh[moved]
    return Refreshed(len(snapshot.event), columns, len(moved))
