"""What "blocked" means, in one place: an item waits for a step that failed, its own (its stage
event was attempted and has not taken effect) or one upstream of it. Upstream follows the lineage
rules' hops (``lineage.rules``, the one description of the object graph): a failed event (its latest
attempt is not a success, docs/semantic-conventions.md) stops every event its hops feed, directly or through others,
and the root cause is the most upstream failure on such a path. Pure and vectorised over a
snapshot.
"""

from __future__ import annotations

import numpy as np

from domain import semconv as sc
from lineage.rules import LineageRules
from slas.snapshot import EventSnapshot, I64Array, codes_of, event_type_code, object_type_code

MAX_LEVELS = 32
"""Deeper than any chain of hops; stops a cyclic site rule from looping forever."""


def hop_edges(snapshot: EventSnapshot, rules: LineageRules) -> tuple[I64Array, I64Array]:
    """Every (event row, upstream event row) pair one of the rules' hops links in ``snapshot``."""
    ref_type = snapshot.event_type[snapshot.ref_row]
    downstream: list[I64Array] = []
    upstream: list[I64Array] = []
    for hop in rules.hops:
        known = [t for t in hop.upstream_types if t in sc.EVENT_TYPES]
        if hop.event_type not in sc.EVENT_TYPES or hop.object_type not in sc.OBJECT_TYPES:
            continue  # a site's own types never reach the snapshot's code tables
        same_object = snapshot.ref_object_type == object_type_code(hop.object_type)
        down = np.flatnonzero(same_object & (ref_type == event_type_code(hop.event_type)))
        up = np.flatnonzero(same_object & np.isin(ref_type, codes_of(known)))
        if not len(down) or not len(up):
            continue
        up = up[np.argsort(snapshot.ref_object_index[up], kind="stable")]
        up_objects = snapshot.ref_object_index[up]
        first = np.searchsorted(up_objects, snapshot.ref_object_index[down], side="left")
        last = np.searchsorted(up_objects, snapshot.ref_object_index[down], side="right")
        counts = last - first
        rows = np.repeat(snapshot.ref_row[down], counts)
        starts = np.repeat(first - np.cumsum(counts) + counts, counts)
        partners = snapshot.ref_row[up[starts + np.arange(int(counts.sum()))]]
        keep = rows != partners
        if hop.as_of_root:
            # only feeders that took effect before the fed event count (an amendment feeds what
            # came after it)
            effect = np.where(snapshot.effective_us >= 0, snapshot.effective_us, snapshot.first_us)
            keep &= effect[partners] <= snapshot.first_us[rows]
        downstream.append(rows[keep])
        upstream.append(partners[keep])
    if not downstream:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    # one int64 key per pair: a numeric unique (a sort that releases the GIL), where a unique
    # along an axis compares row views one by one holding it (tens of seconds on a large graph)
    events = np.int64(len(snapshot.event))
    keys = np.unique(np.concatenate(downstream) * events + np.concatenate(upstream))
    return keys // events, keys % events


def upstream_causes(snapshot: EventSnapshot, rules: LineageRules) -> I64Array:
    """Per event row, the row of the failed event upstream of it that is the root cause of its
    being stopped (the most upstream failure on a path of hops), -1 when nothing upstream failed.
    Among several root causes the one with the highest row wins (a stable, arbitrary choice)."""
    cause = np.full(len(snapshot.event), -1, dtype=np.int64)
    rows, partners = hop_edges(snapshot, rules)
    if not len(rows):
        return cause
    for _level in range(MAX_LEVELS):
        candidate = np.where(
            cause[partners] >= 0, cause[partners], np.where(snapshot.failed[partners], partners, -1)
        )
        updated = cause.copy()
        np.maximum.at(updated, rows, candidate)
        if np.array_equal(updated, cause):
            break
        cause = updated
    return cause
