"""Which start and stop events form each SLA timer, from an ``EventSnapshot`` (pure, vectorised).

A timer runs per start event that took effect and per key object of the SLA it references; the
first stop event of the same key that took effect at or after the start stops it (a failed stop
does not). A start event that references no key object (an ``invoice.posted`` for the
obligation-keyed revenue SLA) is tied to its stop through an object both reference (the invoice a
``revenue.posted`` names) and takes its key from that stop, else from a sibling start sharing an
object, else from the nearest key object in the event-object graph, else its own most specific
object. It opens no timer when it shares an object with a start that does carry a key: a
fixed-fee invoice belongs to the milestone that already started its obligation's timer.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from slas.definitions import SlaDefinition
from slas.snapshot import (
    NO_TIME,
    BoolArray,
    EventSnapshot,
    F64Array,
    I64Array,
    StrArray,
    U8Array,
    U16Array,
    U32Array,
    U64Array,
    codes_of,
)


@dataclass(frozen=True, eq=False)
class TimerSet:
    """One row per timer; ``stop_event`` 0 and ``stopped_us`` -1 while it has not stopped."""

    key: U64Array
    key_type: U8Array
    start_event: U64Array
    started_us: I64Array
    stop_event: U64Array
    stopped_us: I64Array
    start_period: U32Array
    stop_period: U32Array
    legal_entity: U16Array
    """1-based codes into ``legal_entities`` (0: unknown)."""
    customer: U64Array
    amount: F64Array
    amount_units: I64Array
    currency: StrArray
    legal_entities: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.key)

    def select(self, rows: BoolArray | I64Array) -> TimerSet:
        """The timers at ``rows`` (a mask or indices)."""
        return TimerSet(
            **{
                f.name: getattr(self, f.name)
                if f.name == "legal_entities"
                else getattr(self, f.name)[rows]
                for f in fields(self)
            }
        )

    def entity_name(self, code: int) -> str:
        return self.legal_entities[code - 1] if 0 < code <= len(self.legal_entities) else ""

    def entity_code(self, name: str) -> int:
        """The code of legal entity ``name`` (-1 when no timer can have it)."""
        return self.legal_entities.index(name) + 1 if name in self.legal_entities else -1


@dataclass(frozen=True)
class _Pairs:
    """Timers as snapshot positions: key object index and type, start row, stop row (-1)."""

    key: I64Array
    key_type: U8Array
    start_row: I64Array
    stop_row: I64Array


def correlate(snapshot: EventSnapshot, definition: SlaDefinition) -> TimerSet:
    """The timers of ``definition`` in ``snapshot``, with their legal entity and customer."""
    ref_type, ref_effective = snapshot.ref_event_type, snapshot.ref_took_effect
    is_key = np.isin(snapshot.ref_object_type, codes_of(definition.key_types, objects=True))
    is_start = np.isin(ref_type, codes_of(definition.start_event_types)) & ref_effective
    is_stop = np.isin(ref_type, codes_of(definition.stop_event_types))
    direct = _direct_timers(snapshot, is_start & is_key, is_stop & ref_effective & is_key)
    indirect = _indirect_timers(snapshot, is_start, is_stop, is_key)
    pairs = _Pairs(
        *(
            np.concatenate((getattr(direct, f), getattr(indirect, f)))
            for f in ("key", "key_type", "start_row", "stop_row")
        )
    )
    return _with_facts(snapshot, pairs)


def first_stop_at_or_after(
    start_keys: I64Array, start_times: I64Array, stop_keys: I64Array, stop_times: I64Array
) -> I64Array:
    """For each start, the index of the earliest stop with its key at or after it, else -1."""
    count = len(start_keys)
    keys = np.concatenate((start_keys, stop_keys))
    times = np.concatenate((start_times, stop_times))
    is_stop = np.concatenate((np.zeros(count, np.int8), np.ones(len(stop_keys), np.int8)))
    order = np.lexsort((is_stop, times, keys))
    position = np.arange(len(order))
    stop_position = np.where(is_stop[order] == 1, position, len(order))
    next_stop = np.minimum.accumulate(stop_position[::-1])[::-1] if len(order) else position
    starts_at = position[is_stop[order] == 0]
    candidate = np.clip(next_stop[starts_at], 0, max(len(order) - 1, 0))
    found = (next_stop[starts_at] < len(order)) & (keys[order][candidate] == keys[order][starts_at])
    result = np.full(count, -1, dtype=np.int64)
    result[order[starts_at][found]] = order[candidate[found]] - count
    return result


def _direct_timers(snapshot: EventSnapshot, start_refs: BoolArray, stop_refs: BoolArray) -> _Pairs:
    """Start references of a key, each matched to the first stop of that key at or after it."""
    # One timer per (start event, key): an event's references repeat for each of its attempts.
    start_objects = snapshot.ref_object_index[start_refs]
    start_rows = snapshot.ref_row[start_refs]
    start_types = snapshot.ref_object_type[start_refs]
    _, unique = np.unique(start_rows * len(snapshot.objects) + start_objects, return_index=True)
    start_objects, start_rows, start_types = (
        start_objects[unique],
        start_rows[unique],
        start_types[unique],
    )
    stop_rows = snapshot.ref_row[stop_refs]
    matched = first_stop_at_or_after(
        start_objects,
        snapshot.effective_us[start_rows],
        snapshot.ref_object_index[stop_refs],
        snapshot.effective_us[stop_rows],
    )
    stop_row = (
        np.where(matched >= 0, stop_rows[np.clip(matched, 0, None)], -1)
        if len(stop_rows)
        else np.full(len(start_rows), -1, dtype=np.int64)
    )
    return _Pairs(start_objects, start_types, start_rows, stop_row.astype(np.int64))


def _indirect_timers(
    snapshot: EventSnapshot, is_start: BoolArray, is_stop: BoolArray, is_key: BoolArray
) -> _Pairs:
    """Timers of start events without a key object (see the module docstring), in columns.

    The rules read the starts in the order of their first reference, a start's objects in the
    order of their first reference and an object's stop references in reference order, and that
    order settles every tie: a start's key is the one the first stop met names, its stop the
    earliest at or after it (the first met among stops at one instant)."""
    events, objects = len(snapshot.event), len(snapshot.objects)
    ref_row, ref_object = snapshot.ref_row, snapshot.ref_object_index
    carries_key = np.zeros(events, bool)
    carries_key[ref_row[is_start & is_key]] = True
    keyed = is_start & carries_key[ref_row]
    unkeyed = is_start & ~carries_key[ref_row]
    keyed_object = np.zeros(objects, bool)
    keyed_object[ref_object[keyed]] = True
    absorbed = np.zeros(events, bool)
    absorbed[ref_row[unkeyed & keyed_object[ref_object]]] = True
    live = unkeyed & ~absorbed[ref_row]
    if not live.any():
        nothing = np.zeros(0, np.int64)
        return _Pairs(nothing, np.zeros(0, np.uint8), nothing, nothing)
    starts = _StartObjects.of(snapshot, np.flatnonzero(live))
    live_object = np.zeros(objects, bool)
    live_object[starts.object] = True
    linking = np.flatnonzero(is_stop & ~is_key & live_object[ref_object])
    linking_event = np.zeros(events, bool)
    linking_event[ref_row[linking]] = True
    named_key, named_type = _named_keys(snapshot, is_stop & is_key & linking_event[ref_row])
    # every (start object, stop referencing that object), in the rules' order: by start, then
    # by the start's object, then by the stop's reference
    by_object = np.argsort(ref_object[linking], kind="stable")
    owner, link = _matches(ref_object[linking][by_object], starts.object)
    stop = ref_row[linking][by_object][link]
    start = starts.group[owner]
    count = len(starts.rows)
    key = np.full(count, -1, dtype=np.int64)
    key_type = np.zeros(count, dtype=np.uint8)
    names = np.flatnonzero(named_key[stop] >= 0)
    found, first = _firsts(start[names])
    key[found] = named_key[stop[names[first]]]
    key_type[found] = named_type[stop[names[first]]]
    effective = snapshot.effective_us
    reaches = np.flatnonzero(effective[stop] >= effective[starts.rows][start])
    earliest = reaches[np.lexsort((effective[stop[reaches]], start[reaches]))]  # stable
    stopped, first = _firsts(start[earliest])
    stop_row = np.full(count, -1, dtype=np.int64)
    stop_row[stopped] = stop[earliest[first]]
    _resolve_unlinked(snapshot, starts, key, key_type, is_key)
    return _Pairs(key, key_type, starts.rows, stop_row)


@dataclass(frozen=True)
class _StartObjects:
    """The distinct starts (``rows``, in the order of their first reference) and their distinct
    (object, type) references, by start (``group``: the start's index in ``rows``) and then in
    the order of their first reference."""

    rows: I64Array
    group: I64Array
    object: I64Array
    kind: U8Array

    @classmethod
    def of(cls, snapshot: EventSnapshot, refs: I64Array) -> _StartObjects:
        rows = snapshot.ref_row[refs]
        objects = snapshot.ref_object_index[refs]
        kinds = snapshot.ref_object_type[refs]
        # the first reference of each (start, object, type): a stable sort keeps references apart
        order = np.lexsort((kinds, objects, rows))
        new = np.ones(len(order), dtype=bool)
        new[1:] = (
            (np.diff(rows[order]) != 0)
            | (np.diff(objects[order]) != 0)
            | (kinds[order][1:] != kinds[order][:-1])
        )
        firsts = np.sort(order[new])
        distinct, first_at = np.unique(rows[firsts], return_index=True)
        rank = np.argsort(first_at, kind="stable")
        position = np.empty(len(rank), dtype=np.int64)
        position[rank] = np.arange(len(rank))
        group = position[np.searchsorted(distinct, rows[firsts])]
        by_start = np.argsort(group, kind="stable")
        return cls(
            rows=distinct[rank].astype(np.int64),
            group=group[by_start],
            object=objects[firsts][by_start].astype(np.int64),
            kind=kinds[firsts][by_start],
        )


def _named_keys(snapshot: EventSnapshot, refs: BoolArray) -> tuple[I64Array, U8Array]:
    """Per event row, the key object (and its type) of its last key reference among ``refs``
    in reference order (-1 for none)."""
    at = np.flatnonzero(refs)[::-1]
    rows, last = np.unique(snapshot.ref_row[at], return_index=True)
    key = np.full(len(snapshot.event), -1, dtype=np.int64)
    key_type = np.zeros(len(snapshot.event), dtype=np.uint8)
    key[rows] = snapshot.ref_object_index[at[last]]
    key_type[rows] = snapshot.ref_object_type[at[last]]
    return key, key_type


def _firsts(groups: I64Array) -> tuple[I64Array, I64Array]:
    """The distinct values of ``groups`` (sorted, equal values together) and where each first
    occurs."""
    new = np.ones(len(groups), dtype=bool)
    new[1:] = groups[1:] != groups[:-1]
    at = np.flatnonzero(new)
    return groups[at], at


def _resolve_unlinked(
    snapshot: EventSnapshot,
    starts: _StartObjects,
    key: I64Array,
    key_type: U8Array,
    is_key: BoolArray,
) -> None:
    """Keys of starts no stop names (``key`` -1), in place: that of the first keyed start (in
    the starts' order) sharing an object with them, else the nearest in the object graph, else
    their own most specific object (the latest type in semconv.OBJECT_TYPES, the first among
    equals)."""
    keyed = key >= 0
    if keyed.all():
        return
    # each object's key: that of the first keyed start that references it
    sibling = np.flatnonzero(keyed[starts.group])
    objects, first = np.unique(starts.object[sibling], return_index=True)
    object_key = np.full(len(snapshot.objects), -1, dtype=np.int64)
    object_key[objects] = starts.group[sibling[first]]
    shares = np.flatnonzero(~keyed[starts.group] & (object_key[starts.object] >= 0))
    found, first = _firsts(starts.group[shares])
    donor = object_key[starts.object[shares[first]]]
    key[found], key_type[found] = key[donor], key_type[donor]
    unresolved = np.flatnonzero(key < 0)
    if not len(unresolved):
        return
    begin = np.searchsorted(starts.group, unresolved, side="left")
    end = np.searchsorted(starts.group, unresolved, side="right")
    graph = ReferenceGraph(snapshot, is_key, starts.object[_matches(starts.group, unresolved)[1]])
    for start, left, right in zip(unresolved.tolist(), begin.tolist(), end.tolist(), strict=True):
        nearest = graph.nearest_key(int(starts.rows[start]), starts.object[left:right].tolist())
        if nearest is not None:
            key[start], key_type[start] = nearest
    # last resort: the most specific object, the first of its type when several
    rest = np.flatnonzero(key[starts.group] < 0)
    order = rest[np.lexsort((-starts.kind[rest].astype(np.int16), starts.group[rest]))]
    own, first = _firsts(starts.group[order])
    key[own], key_type[own] = starts.object[order[first]], starts.kind[order[first]]


class ReferenceGraph:
    """The event-object graph of a snapshot around some objects, for the rare walk from a start
    event to its key: the references of the events at most two hops from ``objects``, all that
    a walk from them reads (a sort of those, not of every reference)."""

    def __init__(self, snapshot: EventSnapshot, is_key: BoolArray, objects: I64Array) -> None:
        ref_row, ref_object = snapshot.ref_row, snapshot.ref_object_index
        near = np.zeros(len(snapshot.objects), dtype=bool)
        near[objects] = True
        rows = np.zeros(len(snapshot.event), dtype=bool)
        for _hop in range(2):
            rows[ref_row[near[ref_object]]] = True
            near[ref_object[rows[ref_row]]] = True
        kept = np.flatnonzero(rows[ref_row])
        by_object = kept[np.argsort(ref_object[kept], kind="stable")]
        self._objects = ref_object[by_object]
        self._rows_by_object = ref_row[by_object]
        by_row = kept[np.argsort(ref_row[kept], kind="stable")]
        self._rows = ref_row[by_row]
        self._objects_by_row = ref_object[by_row]
        self._types_by_row = snapshot.ref_object_type[by_row]
        self._is_key_by_row = is_key[by_row]

    def nearest_key(self, row: int, objects: list[int]) -> tuple[int, int] | None:
        """The key object at most two hops from ``objects`` (through events referencing them).

        A first T&M invoice: invoice → its project → project.activated → the contract →
        contract.signed → the obligation. The most frequent candidate wins.
        """
        seen_objects = np.array(objects, dtype=np.int64)
        seen_rows = np.array([row], dtype=np.int64)
        for _hop in range(2):
            rows = np.setdiff1d(
                self._rows_by_object[_positions(self._objects, seen_objects)], seen_rows
            )
            positions = _positions(self._rows, rows)
            keys = positions[self._is_key_by_row[positions]]
            if len(keys):
                candidates, counts = np.unique(self._objects_by_row[keys], return_counts=True)
                best = candidates[np.argmax(counts)]
                kind = self._types_by_row[keys][self._objects_by_row[keys] == best][0]
                return int(best), int(kind)
            seen_rows = np.union1d(seen_rows, rows)
            seen_objects = np.union1d(seen_objects, self._objects_by_row[positions])
        return None


def _positions(sorted_values: I64Array, wanted: I64Array) -> I64Array:
    """Every position in ``sorted_values`` holding one of ``wanted``."""
    return _matches(sorted_values, wanted)[1]


def _matches(sorted_values: I64Array, wanted: I64Array) -> tuple[I64Array, I64Array]:
    """Every (index into ``wanted``, position in ``sorted_values``) holding the same value, by
    index and then by position."""
    left = np.searchsorted(sorted_values, wanted, side="left")
    lengths = np.searchsorted(sorted_values, wanted, side="right") - left
    total = int(lengths.sum())
    if not total:
        nothing = np.zeros(0, dtype=np.int64)
        return nothing, nothing
    offsets = np.repeat(left - np.cumsum(lengths) + lengths, lengths)
    owners = np.repeat(np.arange(len(wanted), dtype=np.int64), lengths)
    return owners, (offsets + np.arange(total)).astype(np.int64)


def _with_facts(snapshot: EventSnapshot, pairs: _Pairs) -> TimerSet:
    entity, customer = snapshot.dimensions
    start, stop = pairs.start_row, pairs.stop_row
    has_stop = stop >= 0
    stop_safe = np.clip(stop, 0, None)
    start_entity = entity[start]
    timer_entity = np.where((start_entity == 0) & has_stop, entity[stop_safe], start_entity)
    return TimerSet(
        key=snapshot.objects[pairs.key],
        key_type=pairs.key_type,
        start_event=snapshot.event[start],
        started_us=snapshot.effective_us[start],
        stop_event=np.where(has_stop, snapshot.event[stop_safe], 0).astype(np.uint64),
        stopped_us=np.where(has_stop, snapshot.effective_us[stop_safe], NO_TIME).astype(np.int64),
        start_period=snapshot.effective_period[start],
        stop_period=np.where(has_stop, snapshot.effective_period[stop_safe], 0).astype(np.uint32),
        legal_entity=timer_entity.astype(np.uint16),
        customer=customer[start],
        amount=snapshot.amount[start],
        amount_units=snapshot.amount_units[start],
        currency=snapshot.currency_names(snapshot.currency[start]),
        legal_entities=snapshot.legal_entities,
    )
