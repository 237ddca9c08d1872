"""A tick's narrow unit: events whose window changed only how their attempts stand (whether the
latest failed, and since when: ``slas.queries.OUTCOME_COLUMNS``). No timer reads those facts, and
an item reads them only through the root cause of its stage event (``slas.blocking``), so such an
event moves nothing but the ``upstream_*`` fields of the items whose stage event lies downstream
of it along the hops, and the failure facts (``*_error_*``) of the items whose stage or posting
it is. Those are re-derived from the events upstream of them, with the blocking
code itself: a walk along the lineage rules' hops (``lineage.rules``, the one description of the
graph) finds the events downstream (what the event feeds, directly or through others) and every
event upstream of those (everything that can feed them); the root causes of a snapshot that holds
an event with everything upstream of it are the component's. Every other field of an item is the
stored version's, which the stored versions' premise (they are the derivation at the window's
start) and the unchanged facts keep exact.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from clickhouse_connect.driver.client import Client

from lineage.rules import LineageRules
from slas.blocking import upstream_causes
from slas.item_rows import ItemRow, own_failure_facts, stored_item_row, upstream_facts
from slas.state_queries import (
    ChangedEvent,
    Pair,
    hop_neighbours,
    latest_items,
    load_component,
)

MAX_WALK_ROUNDS = 64
"""Steps of the walk; deeper than any chain of hops (``slas.blocking.MAX_LEVELS`` is 32)."""

_STORED_FIELDS = slice(5, None)
"""Where an item's fields start in a stored row (after its identity, knowledge time, deleted flag
and digest: ``slas.state_queries.ITEM_COLUMNS``)."""


@dataclass(frozen=True)
class Refreshed:
    """What a refresh read and found: the events of its snapshot, the rows whose content moved."""

    events: int
    rows: list[ItemRow]


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
    stored = [
        (stored_item_row(values[:2] + values[_STORED_FIELDS]), int(values[4]))
        for values in latest_items(client, item_keys)
        if not values[3]  # not deleted
    ]
    stored = [
        (item, digest)
        for item, digest in stored
        if item.stage_event_id in downstream or item.posting_event_id in downstream
    ]
    if not stored:
        return Refreshed(0, [])
    snapshot, names = load_component(client, until, event_ids=set(events))
    causes = upstream_causes(snapshot, rules)
    hash_of = {event_id: event_hash for event_hash, event_id in names.events.items()}

    def row_of(event_id: str) -> int:
        return int(snapshot.rows_of(np.array([hash_of[event_id]], np.uint64))[0])

    moved = []
    for item, digest in stored:
        steps = [e for e in (item.stage_event_id, item.posting_event_id) if e]
        if item.digest != digest or any(e not in hash_of for e in steps):
            return None  # not the version a derivation spells: the component decides
        row = row_of(item.stage_event_id)
        posting = row_of(item.posting_event_id) if item.posting_event_id else -1
        fresh = replace(
            item,
            **upstream_facts(snapshot, names, int(causes[row])),  # type: ignore[arg-type]
            **own_failure_facts(snapshot, names, row, posting),  # type: ignore[arg-type]
        )
        if fresh.digest != digest:
            moved.append(fresh)
    return Refreshed(len(snapshot.event), moved)
