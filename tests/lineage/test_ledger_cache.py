"""The ledger's memory of stored values that never change: only what was put comes back, and it
stays within its bound."""

from __future__ import annotations

import pytest

from lineage.ledger_cache import ImmutableCache


class TestImmutableCache:
    def test_only_remembered_keys_come_back(self) -> None:
        """Keys never put are left out of the answer, not answered with a default."""
        cache: ImmutableCache[str, int] = ImmutableCache(10)
        cache.put({"a": 1, "b": 2})
        assert cache.get(["a", "c"]) == {"a": 1}

    def test_it_starts_over_instead_of_growing_past_its_limit(self) -> None:
        """Adding past the limit forgets what was there and keeps the new values."""
        cache: ImmutableCache[int, int] = ImmutableCache(3)
        cache.put({1: 1, 2: 2})
        cache.put({3: 3, 4: 4})
        assert len(cache) == 2
        assert cache.get([1, 2, 3, 4]) == {3: 3, 4: 4}

    def test_more_values_than_the_limit_are_not_remembered(self) -> None:
        """One put larger than the whole cache leaves it as it was."""
        cache: ImmutableCache[int, int] = ImmutableCache(2)
        cache.put({9: 9})
        cache.put({1: 1, 2: 2, 3: 3})
        assert cache.get([1, 2, 3, 9]) == {9: 9}

    def test_a_limit_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match="cache limit 0"):
            ImmutableCache(0)
