"""The vectorised helpers of ``slas.digests`` against their one-value or library definitions."""

from __future__ import annotations

import numpy as np
import pytest

from slas.digests import sorted_members, text_hash, text_hashes


@pytest.mark.parametrize(("values", "members"), [(2_000, 500), (0, 10), (10, 0), (1, 1)])
def test_sorted_members_is_isin(values: int, members: int) -> None:
    """Membership in a sorted set, for values drawn so that about half are members."""
    rng = np.random.default_rng(values + members)
    pool = rng.integers(0, 2**63, 2 * max(values, members, 1), dtype=np.int64).astype(np.uint64)
    ordered = np.sort(rng.choice(pool, members))
    drawn = rng.choice(pool, values)
    found = sorted_members(drawn, ordered)
    assert found.dtype == np.bool_
    assert found.tolist() == np.isin(drawn, ordered).tolist()


def test_text_hashes_hash_each_text_as_text_hash_does() -> None:
    texts = ["bill_readiness", "", "posting", "bill_readiness", "é"]
    assert text_hashes(iter(texts)).tolist() == [text_hash(t) for t in texts]
    assert text_hashes([]).dtype == np.uint64
    assert len(text_hashes([])) == 0
