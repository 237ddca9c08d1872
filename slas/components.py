"""Connected components of the event-object graph (pure, vectorised): events joined through the
non-dimension objects they reference. A component is the unit the business state re-derives: no
correlation, dimension or blocking rule crosses one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]

MAX_ROUNDS = 256
"""Label propagation halves nothing per round in the worst case; chains in this graph are short."""


def component_labels(
    event_hashes: U64Array, object_hashes: U64Array
) -> tuple[U64Array, I64Array, int]:
    """The distinct events of the (event, object) reference pairs and, per event, its component's
    label (the smallest event index in it); and how many distinct objects the pairs name."""
    events, event_index = np.unique(event_hashes, return_inverse=True)
    objects, object_index = np.unique(object_hashes, return_inverse=True)
    event_index = event_index.astype(np.int64)
    object_index = object_index.astype(np.int64)
    label = np.arange(len(events), dtype=np.int64)
    object_label = np.full(int(object_index.max()) + 1 if len(object_index) else 0, len(events))
    for _round in range(MAX_ROUNDS):
        object_label[:] = len(events)
        np.minimum.at(object_label, object_index, label[event_index])
        updated = label.copy()
        np.minimum.at(updated, event_index, object_label[object_index])
        # jump: a label points at an event whose own label may be smaller still
        updated = updated[updated]
        if np.array_equal(updated, label):
            break
        label = updated
    return events, label, len(objects)


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
