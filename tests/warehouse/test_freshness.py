"""Answers cached per data version: recomputed when the business tables change, served stale only
within the configured bound, computed once for concurrent callers."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable

import pytest
from clickhouse_connect.driver.client import Client

from tests.warehouse.spans import span_row
from warehouse import semconv as sc
from warehouse.correlation import CorrelationRules
from warehouse.freshness import DataVersion, FreshCache
from warehouse.migrations import migrate
from warehouse.schema import Topology
from warehouse.spans import OTEL_TRACES_COLUMNS


def business_span(event_id: str, span_id: str) -> tuple[object, ...]:
    return span_row({sc.EVENT_TYPE: sc.TIME_APPROVED, sc.EVENT_ID: event_id}, span_id=span_id)


class TestDataVersion:
    def test_an_insert_changes_the_version_and_a_read_does_not(self, client: Client) -> None:
        """Business spans change the fingerprint; reading the tables leaves it alone."""
        migrate(client, CorrelationRules.default())
        version = DataVersion(lambda: client, Topology())
        empty = version()
        client.insert(
            "otel_traces",
            [business_span("E-1", "00000000000000a1")],
            column_names=OTEL_TRACES_COLUMNS,
        )
        after_insert = version()
        client.query("SELECT count() FROM biz_events FINAL")
        assert after_insert != empty
        assert version() == after_insert

    def test_a_span_without_business_facts_leaves_the_version(self, client: Client) -> None:
        """Only the business tables count: a plain span adds no business row."""
        migrate(client, CorrelationRules.default())
        version = DataVersion(lambda: client, Topology())
        before = version()
        client.insert(
            "otel_traces", [span_row({"http.route": "/x"})], column_names=OTEL_TRACES_COLUMNS
        )
        assert version() == before


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counter:
    """A computation that counts its calls and answers with the call number."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self) -> int:
        time.sleep(self.delay)
        with self._lock:
            self.calls += 1
            return self.calls


def cache(version: list[Hashable], clock: Clock, *, max_staleness: float) -> FreshCache[int]:
    return FreshCache(lambda: version[0], max_staleness=max_staleness, clock=clock)


class TestFreshCache:
    def test_unchanged_data_reuses_the_answer(self) -> None:
        """Same version: computed once, however much time passes."""
        clock, compute = Clock(), Counter()
        answers = cache([1], clock, max_staleness=0)
        first = answers.get("k", compute)
        clock.now += 3600
        assert answers.get("k", compute) is first
        assert compute.calls == 1

    def test_changed_data_is_recomputed_when_staleness_is_not_allowed(self) -> None:
        """max_staleness 0: the first request after a change computes a new answer."""
        version, clock, compute = [1], Clock(), Counter()
        answers = cache(version, clock, max_staleness=0)
        answers.get("k", compute)
        version[0] = 2
        clock.now += 0.001
        assert answers.get("k", compute).value == 2
        assert answers.get("k", compute).version == 2

    @pytest.mark.parametrize(
        ("age", "expected"),
        [(5.0, 1), (15.0, 1), (15.5, 2)],
        ids=["young", "at-the-bound", "too-old"],
    )
    def test_changed_data_is_served_stale_within_the_bound(self, age: float, expected: int) -> None:
        """A changed version recomputes only once the answer is older than max_staleness."""
        version, clock, compute = [1], Clock(), Counter()
        answers = cache(version, clock, max_staleness=15)
        answers.get("k", compute)
        version[0] = 2
        clock.now += age
        assert answers.get("k", compute).value == expected

    def test_max_age_recomputes_on_unchanged_data(self) -> None:
        """Clock-dependent answers: older than max_age means a new answer on the same data."""
        clock, compute = Clock(), Counter()
        answers = cache([1], clock, max_staleness=60)
        answers.get("live", compute, max_age=10)
        clock.now += 9
        assert answers.get("live", compute, max_age=10).value == 1
        clock.now += 2
        assert answers.get("live", compute, max_age=10).value == 2

    def test_refresh_recomputes_only_changed_data_unless_forced(self) -> None:
        """The warmer's call: nothing to do on the same version; force always computes."""
        version, clock, compute = [1], Clock(), Counter()
        answers = cache(version, clock, max_staleness=60)
        answers.refresh("k", compute)
        assert answers.refresh("k", compute).value == 1
        version[0] = 2
        assert answers.refresh("k", compute).value == 2
        assert answers.refresh("k", compute, force=True).value == 3

    def test_keys_are_independent_and_the_oldest_is_evicted(self) -> None:
        """Each key has its own answer; beyond ``size`` keys the oldest goes."""
        clock = Clock()
        answers: FreshCache[str] = FreshCache(lambda: 1, max_staleness=0, size=2, clock=clock)
        for key in ("a", "b", "c"):
            answers.get(key, lambda key=key: key.upper())
        assert answers.get("c", lambda: "new").value == "C"
        assert answers.get("a", lambda: "new").value == "new"

    def test_concurrent_requests_compute_once(self) -> None:
        """Eight threads asking for a missing answer wait for one computation."""
        compute = Counter(delay=0.2)
        answers: FreshCache[int] = FreshCache(lambda: 1, max_staleness=0)
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(answers.get("k", compute).value))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [1] * 8
        assert compute.calls == 1
