"""RFC 9162 Merkle trees: roots, inclusion and consistency proofs against a reference written
here straight from the RFC's recursive definitions (§2.1.1, §2.1.3.1, §2.1.4.1) over leaf lists."""

from __future__ import annotations

import hashlib

import pytest

from lineage.merkle import (
    EMPTY_ROOT,
    complete_subtrees,
    consistency_path,
    inclusion_path,
    leaf_hash,
    needed_nodes,
    root_hash,
    verify_consistency,
    verify_inclusion,
)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def k_of(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) as the RFC writes it."""
    if not leaves:
        return sha(b"")
    if len(leaves) == 1:
        return sha(b"\x00" + leaves[0])
    k = k_of(len(leaves))
    return sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) as the RFC writes it."""
    if len(leaves) == 1:
        return []
    k = k_of(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) as the RFC writes it."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = k_of(n)
    if m <= k:
        return [*subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


LEAVES = [f"fact {i}".encode() for i in range(8)]
SIZES = range(1, 9)


def source(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    return complete_subtrees([leaf_hash(leaf) for leaf in leaves])


class TestTreeHash:
    @pytest.mark.parametrize("size", SIZES)
    def test_root_matches_the_rfc_definition(self, size: int) -> None:
        """The root over 1..8 leaves equals MTH computed by the RFC's recursion."""
        leaves = LEAVES[:size]
        nodes = source(leaves)
        assert root_hash(lambda level, index: nodes[(level, index)], size) == mth(leaves)

    def test_hashes_are_domain_separated(self) -> None:
        """A leaf is SHA-256(0x00 || leaf), two leaves SHA-256(0x01 || h0 || h1)."""
        assert leaf_hash(b"a") == sha(b"\x00a")
        nodes = source([b"a", b"b"])
        assert root_hash(lambda lv, i: nodes[(lv, i)], 2) == sha(
            b"\x01" + sha(b"\x00a") + sha(b"\x00b")
        )
        assert root_hash(lambda lv, i: nodes[(lv, i)], 0) == EMPTY_ROOT == sha(b"")

    def test_a_proof_reads_only_logarithmically_many_subtrees(self) -> None:
        """Proofs and roots need O(log n) stored subtrees, not every leaf."""
        keys = needed_nodes(lambda nodes: inclusion_path(nodes, 123_456, 1_000_000))
        assert 0 < len(keys) <= 2 * 20


class TestInclusion:
    @pytest.mark.parametrize("size", SIZES)
    def test_every_leaf_has_the_rfc_path_and_it_verifies(self, size: int) -> None:
        """For each leaf of trees of 1..8 leaves: the path is the RFC's, and it verifies."""
        leaves = LEAVES[:size]
        nodes = source(leaves)
        root = mth(leaves)
        for index in range(size):
            proof = inclusion_path(lambda lv, i: nodes[(lv, i)], index, size)
            assert proof == path(index, leaves)
            assert verify_inclusion(leaf_hash(leaves[index]), index, size, proof, root)

    def test_a_changed_leaf_fails(self) -> None:
        """The proof of leaf 5 does not verify another leaf's content."""
        nodes = source(LEAVES[:7])
        proof = inclusion_path(lambda lv, i: nodes[(lv, i)], 5, 7)
        assert not verify_inclusion(leaf_hash(b"forged"), 5, 7, proof, mth(LEAVES[:7]))

    def test_a_changed_proof_fails(self) -> None:
        """Flipping one byte of one sibling, or dropping one, breaks the proof."""
        nodes = source(LEAVES[:7])
        proof = inclusion_path(lambda lv, i: nodes[(lv, i)], 2, 7)
        root = mth(LEAVES[:7])
        flipped = [proof[0], bytes([proof[1][0] ^ 1]) + proof[1][1:], *proof[2:]]
        assert not verify_inclusion(leaf_hash(LEAVES[2]), 2, 7, flipped, root)
        assert not verify_inclusion(leaf_hash(LEAVES[2]), 2, 7, proof[:-1], root)

    def test_a_wrong_index_or_size_fails(self) -> None:
        """The same path does not prove the leaf at another position or in another tree size."""
        nodes = source(LEAVES[:6])
        proof = inclusion_path(lambda lv, i: nodes[(lv, i)], 3, 6)
        root = mth(LEAVES[:6])
        assert not verify_inclusion(leaf_hash(LEAVES[3]), 2, 6, proof, root)
        assert not verify_inclusion(leaf_hash(LEAVES[3]), 3, 6 + 3, proof, root)
        assert not verify_inclusion(leaf_hash(LEAVES[3]), 6, 6, proof, root)


class TestConsistency:
    @pytest.mark.parametrize("new", SIZES)
    def test_every_prefix_has_the_rfc_proof_and_it_verifies(self, new: int) -> None:
        """For 1 <= m <= n <= 8: the proof is the RFC's SUBPROOF(m, D[n], true) and verifies."""
        nodes = source(LEAVES[:new])
        for old in range(1, new + 1):
            proof = consistency_path(lambda lv, i: nodes[(lv, i)], old, new)
            assert proof == subproof(old, LEAVES[:new], True)
            assert verify_consistency(old, new, mth(LEAVES[:old]), mth(LEAVES[:new]), proof)

    def test_a_rewritten_history_fails(self) -> None:
        """A new tree whose first leaves differ is not consistent with the old head."""
        rewritten = [b"forged", *LEAVES[1:8]]
        nodes = source(rewritten)
        proof = consistency_path(lambda lv, i: nodes[(lv, i)], 3, 8)
        assert not verify_consistency(3, 8, mth(LEAVES[:3]), mth(rewritten), proof)

    def test_a_changed_proof_fails(self) -> None:
        """One flipped byte anywhere in the proof is caught."""
        nodes = source(LEAVES)
        proof = consistency_path(lambda lv, i: nodes[(lv, i)], 6, 8)
        for position in range(len(proof)):
            changed = list(proof)
            changed[position] = bytes([changed[position][0] ^ 1]) + changed[position][1:]
            assert not verify_consistency(6, 8, mth(LEAVES[:6]), mth(LEAVES), changed)

    def test_equal_sizes_need_equal_roots(self) -> None:
        """Two heads of one size are consistent only when they are the same head."""
        assert verify_consistency(4, 4, mth(LEAVES[:4]), mth(LEAVES[:4]), [])
        assert not verify_consistency(4, 4, mth(LEAVES[:4]), mth(LEAVES[1:5]), [])
