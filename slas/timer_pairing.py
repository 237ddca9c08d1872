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
    ref_type = snapshot.event_type[snapshot.ref_row]
    ref_effective = snapshot.took_effect[snapshot.ref_row]
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
    """Timers of start events without a key object (see the module docstring)."""
    events, objects = len(snapshot.event), len(snapshot.objects)
    carries_key = np.zeros(events, bool)
    carries_key[snapshot.ref_row[is_start & is_key]] = True
    keyed = is_start & carries_key[snapshot.ref_row]
    unkeyed = is_start & ~carries_key[snapshot.ref_row]
    keyed_object = np.zeros(objects, bool)
    keyed_object[snapshot.ref_object_index[keyed]] = True
    absorbed = np.zeros(events, bool)
    absorbed[snapshot.ref_row[unkeyed & keyed_object[snapshot.ref_object_index]]] = True
    live = unkeyed & ~absorbed[snapshot.ref_row]
    if not live.any():
        nothing = np.zeros(0, np.int64)
        return _Pairs(nothing, np.zeros(0, np.uint8), nothing, nothing)
    live_object = np.zeros(objects, bool)
    live_object[snapshot.ref_object_index[live]] = True
    linking = is_stop & ~is_key & live_object[snapshot.ref_object_index]
    linking_event = np.zeros(events, bool)
    linking_event[snapshot.ref_row[linking]] = True
    stop_key_refs = is_stop & is_key & linking_event[snapshot.ref_row]
    key_of_stop = dict(
        zip(
            snapshot.ref_row[stop_key_refs].tolist(),
            zip(
                snapshot.ref_object_index[stop_key_refs].tolist(),
                snapshot.ref_object_type[stop_key_refs].tolist(),
                strict=True,
            ),
            strict=True,
        )
    )
    stops_by_object: dict[int, list[int]] = {}
    for obj, row in zip(
        snapshot.ref_object_index[linking].tolist(), snapshot.ref_row[linking].tolist(), strict=True
    ):
        stops_by_object.setdefault(obj, []).append(row)
    objects_of: dict[int, list[tuple[int, int]]] = {}
    for row, obj, kind in zip(
        snapshot.ref_row[live].tolist(),
        snapshot.ref_object_index[live].tolist(),
        snapshot.ref_object_type[live].tolist(),
        strict=True,
    ):
        pairs = objects_of.setdefault(row, [])
        if (obj, kind) not in pairs:
            pairs.append((obj, kind))

    effective = snapshot.effective_us.tolist()
    keys: dict[int, tuple[int, int]] = {}
    stops: dict[int, int] = {}
    for row, pairs in objects_of.items():
        started = effective[row]
        for obj, _kind in pairs:
            for stop in stops_by_object.get(obj, ()):
                if row not in keys and stop in key_of_stop:
                    keys[row] = key_of_stop[stop]
                at = effective[stop]
                if at >= started and (row not in stops or at < effective[stops[row]]):
                    stops[row] = stop
    _resolve_unlinked(snapshot, objects_of, keys, is_key)
    rows = list(objects_of)
    return _Pairs(
        np.array([keys[r][0] for r in rows], dtype=np.int64),
        np.array([keys[r][1] for r in rows], dtype=np.uint8),
        np.array(rows, dtype=np.int64),
        np.array([stops.get(r, -1) for r in rows], dtype=np.int64),
    )


def _resolve_unlinked(
    snapshot: EventSnapshot,
    objects_of: dict[int, list[tuple[int, int]]],
    keys: dict[int, tuple[int, int]],
    is_key: BoolArray,
) -> None:
    """Keys of starts no stop names yet: a sibling's, the nearest in the object graph, or own."""
    key_of_object: dict[int, tuple[int, int]] = {}
    for row, key in keys.items():
        for obj, _kind in objects_of[row]:
            key_of_object.setdefault(obj, key)
    graph: ReferenceGraph | None = None
    for row, pairs in objects_of.items():
        if row in keys:
            continue
        found = next((key_of_object[obj] for obj, _ in pairs if obj in key_of_object), None)
        if found is None:
            graph = graph or ReferenceGraph(snapshot, is_key)
            found = graph.nearest_key(row, [obj for obj, _ in pairs])
        # Last resort: the most specific object (the latest type in semconv.OBJECT_TYPES).
        keys[row] = found or max(pairs, key=lambda pair: pair[1])


class ReferenceGraph:
    """The event-object graph of a snapshot, for the rare walk from a start event to its key."""

    def __init__(self, snapshot: EventSnapshot, is_key: BoolArray) -> None:
        by_object = np.argsort(snapshot.ref_object_index, kind="stable")
        self._objects = snapshot.ref_object_index[by_object]
        self._rows_by_object = snapshot.ref_row[by_object]
        by_row = np.argsort(snapshot.ref_row, kind="stable")
        self._rows = snapshot.ref_row[by_row]
        self._objects_by_row = snapshot.ref_object_index[by_row]
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
    left = np.searchsorted(sorted_values, wanted, side="left")
    lengths = np.searchsorted(sorted_values, wanted, side="right") - left
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(left - np.cumsum(lengths) + lengths, lengths)
    return (offsets + np.arange(total)).astype(np.int64)


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
