"""Merkle trees in the style of RFC 9162 (Certificate Transparency 2.0, §2.1): the tree hash of a
list of leaves, inclusion and consistency proofs, and their verification. Pure: proofs are built
from a ``NodeSource``, which answers the hash of any complete, aligned subtree.

Leaf hash ``SHA-256(0x00 || leaf)``, interior node ``SHA-256(0x01 || left || right)``; a list of
``n > 1`` leaves splits at ``k``, the largest power of two below ``n`` (§2.1.1). The empty tree's
hash is ``SHA-256()``. A complete subtree ``(level, index)`` covers leaves ``index * 2**level`` up
to ``(index + 1) * 2**level``; level 0 is the leaf hashes themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Final

NodeKey = tuple[int, int]
NodeSource = Callable[[int, int], bytes]
"""``(level, index) -> hash`` of a complete, aligned subtree."""

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size > 1``)."""
    return 1 << ((size - 1).bit_length() - 1)


def subtree_hash(nodes: NodeSource, start: int, size: int) -> bytes:
    """MTH of the leaves ``start .. start + size`` (``start`` aligned as the RFC's splits are)."""
    if size == 0:
        return EMPTY_ROOT
    level = size.bit_length() - 1
    if size == 1 << level and start % size == 0:
        return nodes(level, start >> level)
    k = _split(size)
    return node_hash(subtree_hash(nodes, start, k), subtree_hash(nodes, start + k, size - k))


def root_hash(nodes: NodeSource, size: int) -> bytes:
    """The tree hash of the first ``size`` leaves."""
    return subtree_hash(nodes, 0, size)


def inclusion_path(nodes: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, nearest the leaf first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    path: list[bytes] = []
    start = 0
    while size > 1:
        k = _split(size)
        if index < k:
            path.append(subtree_hash(nodes, start + k, size - k))
            size = k
        else:
            path.append(subtree_hash(nodes, start, k))
            start, index, size = start + k, index - k, size - k
    return path[::-1]


def consistency_path(nodes: NodeSource, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1: the old tree is a prefix of the new."""
    if not 0 < old_size <= new_size:
        raise ValueError(
            f"a consistency proof needs 0 < old size <= new size; got {old_size} and {new_size}"
        )
    path: list[bytes] = []
    start, m, size, complete = 0, old_size, new_size, True
    while m != size:
        k = _split(size)
        if m <= k:
            path.append(subtree_hash(nodes, start + k, size - k))
            size = k
        else:
            path.append(subtree_hash(nodes, start, k))
            start, m, size, complete = start + k, m - k, size - k, False
    if not complete:
        path.append(subtree_hash(nodes, start, size))
    return path[::-1]


def needed_nodes(build: Callable[[NodeSource], object]) -> set[NodeKey]:
    """The complete subtrees ``build`` reads: run it once over placeholders, so that a store can
    fetch exactly those in one query."""
    keys: set[NodeKey] = set()

    def record(level: int, index: int) -> bytes:
        keys.add((level, index))
        return bytes(32)

    build(record)
    return keys


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` lead from the leaf hash at ``index`` to the root?"""
    if not 0 <= index < size:
        return False
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and result == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of ``old_size`` leaves a prefix of the one of
    ``new_size``? Equal sizes need equal roots and an empty path."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    hashes = list(path)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a subtree
        hashes.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = hashes[0]
    for value in hashes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first = node_hash(value, first)
            second = node_hash(value, second)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, value)
        fn, sn = fn >> 1, sn >> 1
    return first == old_root and second == new_root and sn == 0


def complete_subtrees(leaf_hashes: Sequence[bytes]) -> dict[NodeKey, bytes]:
    """Every complete, aligned subtree of an in-memory list of leaf hashes (what the ledger stores
    per day, computed in the engine there)."""
    nodes: dict[NodeKey, bytes] = {(0, i): h for i, h in enumerate(leaf_hashes)}
    level, width = 0, len(leaf_hashes)
    while width > 1:
        for index in range(width // 2):
            nodes[(level + 1, index)] = node_hash(
                nodes[(level, 2 * index)], nodes[(level, 2 * index + 1)]
            )
        level, width = level + 1, width // 2
    return nodes
