"""Connected components of the event-object graph (pure, vectorised): events joined through the
non-dimension objects they reference. A component is the unit the business state re-derives: no
correlation, dimension or blocking rule crosses one.

The whole graph (a derivation from scratch) is held compactly: each reference as the index of its
event among the graph's distinct events, the references of one object together, so that neither
the objects' hashes nor a second copy of the references is ever held (``ReferenceGraph``).
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
    events: U64Array,
    blocks: Iterable[tuple[U64Array, U64Array]],
    touched_objects: U64Array | None = None,
) -> ReferenceGraph:
    """The graph of ``blocks`` of references, each (event hashes, object hashes), read in an order
    that keeps each object's references together (a run of equal object hashes is one object,
    across blocks too); ``events``: the sorted distinct event hashes they name. Each block is
    reduced to its events' indices as it comes, so only one block's hashes are held at a time.
    ``touched_objects`` (sorted object hashes): ``touched`` marks the events that reference one.
    A reference whose event is not among ``events`` (stored after they were read) is left out.
    Event indices are 32-bit while held per block (fewer than 2**31 events)."""
    indices: list[npt.NDArray[np.int32]] = []
    starts: list[IntpArray] = []
    touched = np.zeros(len(events), dtype=bool)
    held = 0
    last: int | None = None
    for event_hashes, object_hashes in blocks:
        at = np.minimum(np.searchsorted(events, event_hashes), max(len(events) - 1, 0))
        known = events[at] == event_hashes if len(events) else np.zeros(len(at), dtype=bool)
        if not known.all():  # an event stored after ``events`` were read: not in this graph
            at, object_hashes = at[known], object_hashes[known]
        if not len(object_hashes):
            continue
        index = at.astype(np.int32)
        del at
        indices.append(index)
        new = np.empty(len(object_hashes), dtype=bool)
        new[0] = last is None or int(object_hashes[0]) != last
        np.not_equal(object_hashes[1:], object_hashes[:-1], out=new[1:])
        starts.append(np.flatnonzero(new) + held)
        if touched_objects is not None and len(touched_objects):
            touched[index[_members(object_hashes, touched_objects)]] = True
        held += len(object_hashes)
        last = int(object_hashes[-1])
    return ReferenceGraph(
        events=events,
        event_index=np.concatenate(indices or [np.zeros(0, np.int32)], dtype=np.intp),
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
