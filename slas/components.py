"""Connected components of the event-object graph (pure, vectorised): events joined through the
non-dimension objects they reference. A component is the unit the business state re-derives: no
correlation, dimension or blocking rule crosses one.

The whole graph (a derivation from scratch) is held compactly: each reference as the index of its
event among the graph's distinct events, the references of one object together (read in that
order), so that the objects' hashes are never held, nor more than one copy of the references
(``ReferenceGraph``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]
IntpArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

MAX_ROUNDS = 256
"""Label propagation halves nothing per round in the worst case; chains in this graph are short."""


@dataclass(frozen=True, eq=False)
class ReferenceGraph:
    """The (event, object) references of a graph: its distinct events' hashes, sorted; per
    reference, its event's index among them, the references of one object next to each other
    (``object_starts``: where each object's begin); and which events reference an object of a
    given set (``touched``, the window's objects)."""

    events: U64Array
    event_index: IntpArray
    object_starts: IntpArray
    touched: BoolArray

    @property
    def objects(self) -> int:
        """How many distinct objects the references name."""
        return len(self.object_starts)


def reference_graph(
    blocks: Iterable[tuple[U64Array, U64Array]], touched_objects: U64Array | None = None
) -> ReferenceGraph:
    """The graph of ``blocks`` of references, each (event hashes, object hashes) holding every
    reference of its objects (no object in two blocks), in any order. Each block is ordered by
    object as it comes, and only its event hashes are kept (the objects become the starts of
    their runs); then they are replaced by their indices among the distinct events.
    ``touched_objects`` (sorted object hashes): ``touched`` marks the events that reference one."""
    hashes: list[U64Array] = []
    starts: list[IntpArray] = []
    touching: list[BoolArray] = []
    held = 0
    for event_hashes, object_hashes in blocks:
        if not len(object_hashes):
            continue
        order = np.argsort(object_hashes)
        objects = object_hashes[order]
        hashes.append(np.asarray(event_hashes, dtype=np.uint64)[order])
        new = np.empty(len(objects), dtype=bool)
        new[0] = True
        np.not_equal(objects[1:], objects[:-1], out=new[1:])
        starts.append(np.flatnonzero(new) + held)
        if touched_objects is not None and len(touched_objects):
            touching.append(_members(objects, touched_objects))
        held += len(objects)
    every = np.concatenate(hashes or [np.zeros(0, np.uint64)])
    del hashes
    # the distinct events, sorted, and each reference's event as its index among them: one sort
    # of the hashes (np.unique's own inverse holds two more arrays of every reference at once,
    # and a search of each hash among the events costs six times the sort)
    order = np.argsort(every)
    ordered = every[order]
    del every
    first = np.empty(len(ordered), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    events = ordered[first]
    del ordered
    ranks = np.cumsum(first, dtype=np.intp)
    ranks -= 1
    event_index = np.empty(len(order), dtype=np.intp)
    event_index[order] = ranks
    del order, ranks
    touched = np.zeros(len(events), dtype=bool)
    if touching:
        touched[event_index[np.concatenate(touching)]] = True
    return ReferenceGraph(
        events=events,
        event_index=event_index,
        object_starts=np.concatenate(starts or [np.zeros(0, np.intp)]),
        touched=touched,
    )


def _members(values: U64Array, sorted_set: U64Array) -> BoolArray:
    """Which of ``values`` are in ``sorted_set`` (sorted, not empty)."""
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    found: BoolArray = sorted_set[at] == values
    return found


def component_labels(graph: ReferenceGraph) -> I64Array:
    """Per event of ``graph``, its component's label: the smallest event index in it."""
    # 32-bit labels: the per-reference temporaries of a round are half the size
    label = np.arange(len(graph.events), dtype=np.int32)
    if not len(graph.event_index):
        return label.astype(np.int64)
    sizes = np.diff(np.r_[graph.object_starts, len(graph.event_index)])
    for _round in range(MAX_ROUNDS):
        # an object's label: the smallest of its events'; an event's: the smallest of its own
        # and its objects'
        object_label = np.minimum.reduceat(label[graph.event_index], graph.object_starts)
        updated = label.copy()
        np.minimum.at(updated, graph.event_index, np.repeat(object_label, sizes))
        del object_label
        # jump: a label points at an event whose own label may be smaller still
        updated = updated[updated]
        if np.array_equal(updated, label):
            break
        label = updated
    return label.astype(np.int64)


def chunks(labels: I64Array, max_events: int) -> list[I64Array]:
    """Event indices grouped into chunks of whole components, each of at most ``max_events``
    events unless one component alone is larger."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    ends = np.r_[starts[1:], len(order)]
    groups: list[I64Array] = []
    first = 0
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if end - first > max_events and start > first:
            groups.append(order[first:start])
            first = start
    if first < len(order):
        groups.append(order[first:])
    return groups
