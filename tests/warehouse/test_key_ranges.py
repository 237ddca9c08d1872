"""Slices of a versioned table's key: the ranges ``warehouse.key_ranges`` draws split the versions
of a window, on the real engine, so that each version lies in exactly one."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from warehouse.key_ranges import (
    WHOLE,
    in_range_sql,
    key_ranges,
    range_parameters,
    sample_sql,
    split,
)

T0 = datetime(2026, 10, 1, tzinfo=UTC)

IN_RANGE = f"SELECT Kind, Id FROM versions WHERE {in_range_sql('Kind', 'Id')} ORDER BY Kind, Id"


def stored(client: Client, keys: list[tuple[str, str]]) -> None:
    client.command(
        "CREATE TABLE versions (Kind LowCardinality(String), Id String, "
        "KnownAt DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY (Kind, Id, KnownAt) "
        "SETTINGS index_granularity = 16"
    )
    rows = [[kind, key, T0 + timedelta(seconds=n % 3)] for n, (kind, key) in enumerate(keys)]
    client.insert("versions", rows, column_names=["Kind", "Id", "KnownAt"])


class TestKeyRanges:
    def test_every_version_of_the_window_lies_in_exactly_one_slice(self, client: Client) -> None:
        """The ranges drawn for a window of many versions cover every stored key once, ids that
        are prefixes of others and empty ids included, in slices of about the size asked."""
        rng = random.Random(3)
        keys = [
            (
                rng.choice(["contract", "project", "billing_event"]),
                rng.choice(["", "7", "77"]) + str(n),
            )
            for n in range(3000)
        ] + [("project", "")]
        stored(client, keys)
        ranges = key_ranges(
            client,
            sample_sql("versions", "Kind", "Id"),
            T0 - timedelta(seconds=1),
            T0 + timedelta(hours=1),
            versions=len(keys),
            most=200,
        )
        assert 10 <= len(ranges) <= 16
        found = [
            tuple(row)
            for key_range in ranges
            for row in client.query(IN_RANGE, parameters=range_parameters(key_range)).result_rows
        ]
        assert found == sorted(keys)  # each once, and in order
        largest = max(
            len(client.query(IN_RANGE, parameters=range_parameters(r)).result_rows) for r in ranges
        )
        assert largest < 2 * 200

    def test_a_window_of_few_versions_is_one_slice(self, client: Client) -> None:
        """Fewer versions than a slice holds: one range, every key, and no sample read."""
        assert key_ranges(client, "not read", T0, T0, versions=10, most=200) == [WHOLE]

    def test_ranges_follow_each_other(self) -> None:
        """Each range begins where the one before ends; the first and the last are open."""
        sample = [("a", str(n)) for n in range(100)]
        ranges = split(sample, 4)
        assert ranges[0][0] == ("", "")
        assert ranges[-1][1] == ("", "")
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
        assert len(ranges) == 4
