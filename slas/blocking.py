"""What "blocked" means, in one place: an item waits for a step that failed, its own (its stage
event was attempted and has not taken effect) or one upstream of it. Upstream follows the lineage
rules' hops (``lineage.rules``, the one description of the object graph): a failed event (its latest
attempt is not a success, docs/semantic-conventions.md) stops every event its hops feed, directly or through others,
and the root cause is the most upstream failure on such a path. Pure and vectorised over a
snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from domain import semconv as sc
from lineage.rules import Hop, LineageRules
from slas.snapshot import EventSnapshot, I64Array, codes_of, event_type_code, object_type_code

MAX_LEVELS = 32
"""Deeper than any chain of hops; stops a cyclic site rule from looping forever."""

RULE_REVISION = 2
"""Which spelling of the rule derived the stored items, part of the business state's
configuration fingerprint: a change of the rule re-derives every item once. 2: the root cause is
a failure with no failure upstream (1 could keep a nearer failure where two were chained)."""


@dataclass(frozen=True)
class Feeds:
    """Which events one hop feeds from which, without listing every pair (an object shared by
    many feeders and many fed events, such as a project's time entries and its activations,
    would make that list quadratic): the feeding events ordered by object and then by when they
    took effect, with their object's rank (``group``), and per fed reference the position of the
    last feeder it sees. A fed event sees every feeder of its object up to that position: all of
    them, or for an as-of-root hop those that took effect by its first attempt, a prefix too.

    A site hop whose event type feeds itself (an event would see itself) is listed pair by pair,
    each pair a group of its own."""

    fed: I64Array
    last: I64Array
    feeders: I64Array
    group: I64Array

    def seen(self, value: I64Array) -> I64Array:
        """Per fed reference, the largest ``value`` (per event row, at least -1) among the feeders
        it sees: running maxima within each object's feeders."""
        span = np.int64(len(value) + 2)
        running = np.maximum.accumulate(self.group * span + value[self.feeders] + 1)
        seen: I64Array = running[self.last] - self.group[self.last] * span - 1
        return seen


def hop_feeds(snapshot: EventSnapshot, rules: LineageRules) -> list[Feeds]:
    """The feeds of each of the rules' hops that link something in ``snapshot``."""
    ref_type = snapshot.ref_event_type
    feeds = []
    for hop in rules.hops:
        known = [t for t in hop.upstream_types if t in sc.EVENT_TYPES]
        if hop.event_type not in sc.EVENT_TYPES or hop.object_type not in sc.OBJECT_TYPES:
            continue  # a site's own types never reach the snapshot's code tables
        same_object = snapshot.ref_object_type == object_type_code(hop.object_type)
        down = np.flatnonzero(same_object & (ref_type == event_type_code(hop.event_type)))
        up = np.flatnonzero(same_object & np.isin(ref_type, codes_of(known)))
        if not len(down) or not len(up):
            continue
        found = (
            _pair_feeds(snapshot, hop, down, up)
            if hop.event_type in hop.upstream_types
            else _prefix_feeds(snapshot, hop, down, up)
        )
        if len(found.fed):
            feeds.append(found)
    return feeds


def _effect(snapshot: EventSnapshot) -> I64Array:
    """When each event took effect, its first attempt when it never did: an as-of-root hop's
    feeder counts for the events whose first attempt came at or after it."""
    return np.where(snapshot.effective_us >= 0, snapshot.effective_us, snapshot.first_us)


def _prefix_feeds(snapshot: EventSnapshot, hop: Hop, down: I64Array, up: I64Array) -> Feeds:
    """A hop whose fed and feeding references differ: each fed reference sees a prefix of its
    object's feeders (one sort, one binary search per fed reference)."""
    objects = snapshot.ref_object_index
    up_rows, down_rows = snapshot.ref_row[up], snapshot.ref_row[down]
    # ranks of the instants compared, so that (object, instant) is one int64 key
    effect = _effect(snapshot)[up_rows] if hop.as_of_root else np.zeros(len(up), np.int64)
    bound = snapshot.first_us[down_rows] if hop.as_of_root else np.zeros(len(down), np.int64)
    instants, ranks = np.unique(np.concatenate((effect, bound)), return_inverse=True)
    width = np.int64(len(instants) + 1)
    up_keys = objects[up].astype(np.int64) * width + ranks[: len(up)]
    order = np.argsort(up_keys, kind="stable")
    up_keys = up_keys[order]
    down_objects = objects[down].astype(np.int64)
    first = np.searchsorted(up_keys, down_objects * width, side="left")
    last = np.searchsorted(up_keys, down_objects * width + ranks[len(up) :], side="right") - 1
    sees = last >= first
    return Feeds(
        fed=down_rows[sees],
        last=last[sees],
        feeders=up_rows[order],
        group=objects[up][order].astype(np.int64),
    )


def _pair_feeds(snapshot: EventSnapshot, hop: Hop, down: I64Array, up: I64Array) -> Feeds:
    """A hop whose event type also feeds it: every (fed, feeder) pair of a shared object but an
    event with itself, each pair a group of its own."""
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
        effect = _effect(snapshot)
        keep &= effect[partners] <= snapshot.first_us[rows]
    pairs = np.arange(int(keep.sum()), dtype=np.int64)
    return Feeds(fed=rows[keep], last=pairs, feeders=partners[keep], group=pairs)


def upstream_causes(snapshot: EventSnapshot, rules: LineageRules) -> I64Array:
    """Per event row, the row of the failed event upstream of it that is the root cause of its
    being stopped, -1 when nothing upstream failed. A root cause is a failed event with no failed
    event upstream of it: the most upstream failure on a path of hops. Among several root causes
    the one with the highest row wins (a stable, arbitrary choice).

    Failures that only feed each other in a cycle (a site hop whose type feeds itself, at one
    instant) have no such root: there the highest failed row upstream stands in, and it has no
    cause itself."""
    rows = np.arange(len(snapshot.event), dtype=np.int64)
    if not snapshot.failed.any():
        return np.full(len(rows), -1, dtype=np.int64)  # nothing failed: no feeds to build
    feeds = hop_feeds(snapshot, rules)
    failed_rows = np.where(snapshot.failed, rows, -1)
    any_failure = upstream_max(feeds, failed_rows)
    roots = snapshot.failed & (any_failure < 0)
    if np.array_equal(roots, snapshot.failed):
        return any_failure  # no failure has another upstream: each failure is a root
    cause = upstream_max(feeds, np.where(roots, rows, -1))
    in_cycles = (any_failure >= 0) & (cause < 0)
    if in_cycles.any():
        cause[in_cycles] = any_failure[in_cycles]
        cause[cause == rows] = -1
    return cause


def upstream_max(feeds: list[Feeds], own: I64Array) -> I64Array:
    """Per event row, the largest ``own`` (per event row, at least -1) among the events upstream
    of it through one hop or more, -1 when nothing is upstream: running maxima passed down hop
    by hop until nothing moves (values only grow, so it settles; ``MAX_LEVELS`` bounds a cycle)."""
    best = np.full(len(own), -1, dtype=np.int64)
    for _level in range(MAX_LEVELS):
        passed = np.maximum(own, best)
        updated = best.copy()
        for feed in feeds:
            np.maximum.at(updated, feed.fed, feed.seen(passed))
        if np.array_equal(updated, best):
            break
        best = updated
    return best
