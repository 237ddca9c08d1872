"""The vectorised pairing and dimensions against the same rules written as plain loops over a
snapshot's references, on random quarters full of ties (``tests.slas.random_quarter``): starts
and stops at one instant, postings naming several invoices or obligations, retried and failed
events, invoices no posting names yet, several SLAs that share a start event type correlated on
one snapshot, and objects shared by events of different legal entities and customers."""

from __future__ import annotations

import numpy as np
import pytest

from domain import semconv as sc
from slas.definitions import DEFAULT_SLAS, BusinessDuration, SlaDefinition
from slas.snapshot import DIMENSION_ROUNDS, EventSnapshot, codes_of
from slas.timer_pairing import correlate
from tests.slas.events import at, reference_triples, snapshot_of
from tests.slas.random_quarter import random_quarter

Timer = tuple[int, int, int, int]
"""(key object hash, key type code, start event hash, stop event hash or 0)."""

INVOICE_TO_CONTRACT = SlaDefinition(
    name="invoice-to-contract",
    start_event_types=(sc.INVOICE_POSTED,),
    stop_event_types=(sc.REVENUE_POSTED,),
    key_types=(sc.CONTRACT,),
    target=BusinessDuration(days=1),
)
"""Shares its start with the revenue SLA, and reaches its key only through the graph."""
INVOICE_OR_READY_TO_REVENUE = SlaDefinition(
    name="ready-or-invoice-to-revenue",
    start_event_types=(sc.INVOICE_POSTED, sc.BILLING_READY),
    stop_event_types=(sc.REVENUE_POSTED,),
    key_types=(sc.OBLIGATION, sc.MILESTONE),
    target=BusinessDuration(days=3),
)
DEFINITIONS = (*DEFAULT_SLAS, INVOICE_TO_CONTRACT, INVOICE_OR_READY_TO_REVENUE)


def loop_timers(snapshot: EventSnapshot, definition: SlaDefinition) -> list[Timer]:
    """The pairing rules (``slas.timer_pairing``'s module docstring) as loops, reading the
    references in their order; the direct timers by (start row, key), then the others by their
    start's first reference."""
    refs = reference_triples(snapshot)
    types = snapshot.event_type.tolist()
    took_effect = snapshot.took_effect.tolist()
    effective = snapshot.effective_us.tolist()
    key_types = set(codes_of(definition.key_types, objects=True).tolist())
    start_types = set(codes_of(definition.start_event_types).tolist())
    stop_types = set(codes_of(definition.stop_event_types).tolist())

    def is_start(row: int) -> bool:
        return types[row] in start_types and took_effect[row]

    def is_stop(row: int) -> bool:
        return types[row] in stop_types

    timers: list[tuple[int, int, int, int]] = []  # key, key type, start row, stop row
    for start, obj in sorted({(r, o) for r, o, k in refs if is_start(r) and k in key_types}):
        kind = next(k for r, o, k in refs if (r, o) == (start, obj))
        best = -1
        for row, other, k in refs:
            stops = other == obj and k in key_types and is_stop(row) and took_effect[row]
            reaches = effective[row] >= effective[start]
            if stops and reaches and (best < 0 or effective[row] < effective[best]):
                best = row
        timers.append((obj, kind, start, best))

    keyed_starts = {r for r, _, k in refs if is_start(r) and k in key_types}
    keyed_objects = {o for r, o, _ in refs if r in keyed_starts}
    absorbed = {
        r for r, o, _ in refs if is_start(r) and r not in keyed_starts and o in keyed_objects
    }
    objects_of: dict[int, list[tuple[int, int]]] = {}
    for row, obj, kind in refs:
        if is_start(row) and row not in keyed_starts and row not in absorbed:
            pairs = objects_of.setdefault(row, [])
            if (obj, kind) not in pairs:
                pairs.append((obj, kind))
    live_objects = {obj for pairs in objects_of.values() for obj, _ in pairs}
    stops_by_object: dict[int, list[int]] = {}
    for row, obj, kind in refs:
        if is_stop(row) and kind not in key_types and obj in live_objects:
            stops_by_object.setdefault(obj, []).append(row)
    linking = {row for stops in stops_by_object.values() for row in stops}
    key_of_stop = {
        row: (obj, kind) for row, obj, kind in refs if row in linking and kind in key_types
    }
    keys: dict[int, tuple[int, int]] = {}
    stops: dict[int, int] = {}
    for row, pairs in objects_of.items():
        for obj, _ in pairs:
            for stop in stops_by_object.get(obj, ()):
                if row not in keys and stop in key_of_stop:
                    keys[row] = key_of_stop[stop]
                if effective[stop] >= effective[row] and (
                    row not in stops or effective[stop] < effective[stops[row]]
                ):
                    stops[row] = stop
    key_of_object: dict[int, tuple[int, int]] = {}
    for row, key in keys.items():
        for obj, _ in objects_of[row]:
            key_of_object.setdefault(obj, key)
    for row, pairs in objects_of.items():
        if row not in keys:
            found = next((key_of_object[o] for o, _ in pairs if o in key_of_object), None)
            keys[row] = (
                found
                or nearest_key(refs, key_types, row, pairs)
                or max(pairs, key=lambda pair: pair[1])
            )
    timers.extend((*keys[row], row, stops.get(row, -1)) for row in objects_of)
    hashes, events = snapshot.objects.tolist(), snapshot.event.tolist()
    return [(hashes[k], kind, events[s], events[e] if e >= 0 else 0) for k, kind, s, e in timers]


def nearest_key(
    refs: list[tuple[int, int, int]], key_types: set[int], row: int, pairs: list[tuple[int, int]]
) -> tuple[int, int] | None:
    """A key object at most two hops from the start's objects; the most referenced wins, the
    lowest object index among equals, with the type of its first reference by event."""
    seen_objects, seen_rows = {obj for obj, _ in pairs}, {row}
    for _hop in range(2):
        rows = {r for r, o, _ in refs if o in seen_objects} - seen_rows
        found = sorted((r, o, k) for r, o, k in refs if r in rows and k in key_types)
        if found:
            counts: dict[int, int] = {}
            for _, obj, _ in found:
                counts[obj] = counts.get(obj, 0) + 1
            best = min(counts, key=lambda obj: (-counts[obj], obj))
            return best, next(k for _, o, k in found if o == best)
        seen_rows |= rows
        seen_objects |= {o for r, o, _ in refs if r in rows}
    return None


@pytest.mark.parametrize("seed", range(60))
def test_the_vectorised_pairing_gives_the_timers_of_the_loops(seed: int) -> None:
    """Every SLA, correlated one after another on one snapshot, gives the loops' timers in
    their order: the same keys, starts and stops, ties settled alike."""
    snapshot = snapshot_of(random_quarter(seed), at(days=30))
    for definition in DEFINITIONS:
        timers = correlate(snapshot, definition)
        found = list(
            zip(
                timers.key.tolist(),
                timers.key_type.tolist(),
                timers.start_event.tolist(),
                timers.stop_event.tolist(),
                strict=True,
            )
        )
        assert found == loop_timers(snapshot, definition), definition.name


def test_random_quarters_reach_every_rule() -> None:
    """The quarters above hold invoices whose posting stops them and invoices no posting stops
    (keyed by a sibling, through the graph or by themselves), and postings that tie (else the
    comparison proves little)."""
    reached = {"stopped": 0, "open": 0, "tied stops": 0}
    revenue = DEFINITIONS[3]
    for seed in range(60):
        snapshot = snapshot_of(random_quarter(seed), at(days=30))
        timers = loop_timers(snapshot, revenue)
        invoices = {
            h
            for h, t in zip(snapshot.event.tolist(), snapshot.event_type.tolist(), strict=True)
            if t == codes_of((sc.INVOICE_POSTED,))[0]
        }
        indirect = [t for t in timers if t[2] in invoices]
        reached["stopped"] += sum(1 for t in indirect if t[3] != 0)
        reached["open"] += sum(1 for t in indirect if t[3] == 0)
        stops = snapshot.effective_us[snapshot.event_type == codes_of((sc.REVENUE_POSTED,))[0]]
        reached["tied stops"] += int(len(stops) - len(np.unique(stops)))
    assert all(count > 10 for count in reached.values()), reached


def loop_dimensions(snapshot: EventSnapshot) -> list[list[int]]:
    """Each event's legal entity code and customer hash: its own, else that of the last event
    (in reference order) carrying one that shares an object with it, for a few rounds."""
    refs = list(zip(snapshot.ref_row.tolist(), snapshot.ref_object_index.tolist(), strict=True))
    found = []
    for carried in (snapshot.legal_entity.tolist(), snapshot.customer.tolist()):
        own = list(carried)
        for _round in range(DIMENSION_ROUNDS):
            by_object: dict[int, int] = {}
            for row, obj in refs:
                if own[row]:
                    by_object[obj] = own[row]
            missing = [
                (row, by_object[obj]) for row, obj in refs if not own[row] and by_object.get(obj)
            ]
            if not missing:
                break
            for row, value in missing:
                own[row] = value
        found.append(own)
    return found


@pytest.mark.parametrize("seed", range(60))
def test_the_dimensions_are_those_of_the_loops(seed: int) -> None:
    """Legal entities and customers inherited through shared objects as the loops pass them on,
    the last carrier of an object winning."""
    snapshot = snapshot_of(random_quarter(seed), at(days=30))
    entity, customer = snapshot.dimensions
    assert [entity.tolist(), customer.tolist()] == loop_dimensions(snapshot)


def test_random_quarters_pass_dimensions_on() -> None:
    """In the quarters above events inherit dimensions, and carriers of one object disagree."""
    inherited = disagreeing = 0
    for seed in range(60):
        snapshot = snapshot_of(random_quarter(seed), at(days=30))
        entity, _ = snapshot.dimensions
        inherited += int(((snapshot.legal_entity == 0) & (entity != 0)).sum())
        carriers = snapshot.legal_entity[snapshot.ref_row] != 0
        pairs = set(
            zip(
                snapshot.ref_object_index[carriers].tolist(),
                snapshot.legal_entity[snapshot.ref_row[carriers]].tolist(),
                strict=True,
            )
        )
        disagreeing += len(pairs) - len({obj for obj, _ in pairs})
    assert inherited > 50
    assert disagreeing > 10
