"""The components of the event-object graph as the derivation from scratch finds them: references
read in blocks of whole objects, held as event indices, labelled; against a union-find written
here."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from slas.components import chunks, component_labels, reference_graph


def union_find_components(pairs: list[tuple[int, int]]) -> dict[int, int]:
    """Each event's component as the smallest event hash in it (events joined by a shared
    object), by union-find over the pairs (event, object): the oracle."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def root(node: tuple[str, int]) -> tuple[str, int]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for event, obj in pairs:
        parent[root(("event", event))] = root(("object", obj))
    smallest: dict[tuple[str, int], int] = {}
    for event, _ in pairs:
        top = root(("event", event))
        smallest[top] = min(smallest.get(top, event), event)
    return {event: smallest[root(("event", event))] for event, _ in pairs}


def random_pairs(
    rng: random.Random, events: int, objects: int, pairs: int
) -> list[tuple[int, int]]:
    """Distinct (event hash, object hash) pairs, sorted by object as the engine streams them."""
    event_hashes = [rng.randrange(2**64) for _ in range(events)]
    object_hashes = [rng.randrange(2**64) for _ in range(objects)]
    found = {(rng.choice(event_hashes), rng.choice(object_hashes)) for _ in range(pairs)}
    return sorted(found, key=lambda pair: (pair[1], pair[0]))


def in_blocks(
    pairs: list[tuple[int, int]], cuts: list[int], rng: random.Random | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The pairs cut into blocks at ``cuts``, each block's rows shuffled when ``rng`` is given."""
    bounds = [0, *sorted(cuts), len(pairs)]
    blocks = []
    for a, b in itertools.pairwise(bounds):
        rows = list(pairs[a:b])
        if rng is not None:
            rng.shuffle(rows)
        blocks.append(
            (
                np.array([e for e, _ in rows], dtype=np.uint64),
                np.array([o for _, o in rows], dtype=np.uint64),
            )
        )
    return blocks


class TestComponentLabels:
    @pytest.mark.parametrize("seed", range(6))
    def test_labels_are_the_components_union_find_finds(self, seed: int) -> None:
        """Read in blocks of whole objects, each in any order, every event's label is the
        smallest event index of its union-find component."""
        rng = random.Random(seed)
        pairs = random_pairs(rng, events=600, objects=500, pairs=700)
        between_objects = [i for i in range(1, len(pairs)) if pairs[i][1] != pairs[i - 1][1]]
        cuts = rng.sample(between_objects, rng.randrange(0, 12))
        events = np.unique(np.array([e for e, _ in pairs], dtype=np.uint64))
        graph = reference_graph(in_blocks(pairs, cuts, rng))
        assert np.array_equal(graph.events, events)
        labels = component_labels(graph)
        expected = union_find_components(pairs)
        assert len(set(expected.values())) > 20  # many components, some of several events
        assert [int(events[label]) for label in labels.tolist()] == [
            expected[int(event)] for event in events.tolist()
        ]
        assert graph.objects == len({o for _, o in pairs})

    def test_touched_marks_the_events_that_reference_a_touched_object(self) -> None:
        """``touched`` marks every event with a reference to one of the objects, in any block."""
        pairs = [(10, 1), (20, 1), (30, 2), (40, 3), (50, 3)]
        graph = reference_graph(in_blocks(pairs, [2, 3]), np.array([1, 3], dtype=np.uint64))
        assert graph.touched.tolist() == [True, True, False, True, True]

    def test_no_reference_gives_no_component(self) -> None:
        """An empty graph labels nothing and names no object."""
        graph = reference_graph([])
        assert (len(component_labels(graph)), graph.objects) == (0, 0)


class TestChunks:
    def test_chunks_hold_whole_components(self) -> None:
        """No component is split between chunks, and a chunk holds at most the limit unless one
        component alone is larger."""
        labels = np.array([0, 0, 2, 3, 3, 3, 0, 7, 2], dtype=np.int64)
        groups = chunks(labels, 3)
        assert sorted(i for g in groups for i in g.tolist()) == list(range(len(labels)))
        for group in groups:
            assert len(group) <= 3 or len(set(labels[group].tolist())) == 1
        where = {int(labels[i]): n for n, g in enumerate(groups) for i in g.tolist()}
        assert all(where[int(labels[i])] == n for n, g in enumerate(groups) for i in g.tolist())
