"""The business rows visible in consecutive knowledge-time windows (``slas.state_queries``'s
``window_rows``, how a tick finds rows that became visible behind a window it read), on the real
engine: event and object rows alike, each window open at its start and closed at its end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from slas.state_queries import window_rows

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def store(client: Client, stored: dict[float, tuple[int, int]]) -> None:
    """Seconds after ``START`` → (event rows, object rows) stored with that knowledge time."""
    events = [
        (f"E-{second}-{n}", at(second))
        for second, (count, _) in stored.items()
        for n in range(count)
    ]
    objects = [
        ("project", f"P-{second}-{n}", at(second))
        for second, (_, count) in stored.items()
        for n in range(count)
    ]
    client.insert("biz_events", events, column_names=["EventId", "IngestedAt"])
    client.insert(
        "biz_event_objects", objects, column_names=["ObjectType", "ObjectId", "IngestedAt"]
    )


class TestWindowRows:
    def test_rows_are_counted_in_the_window_their_knowledge_time_falls_in(
        self, migrated: Client
    ) -> None:
        """A row stored at a window's end is that window's, one stored at its start the window
        before; rows before the first window or after the last are not counted; a window with
        none counts 0."""
        store(
            migrated,
            {
                0: (5, 7),  # at the start: before the first window
                0.001: (1, 2),
                10: (2, 3),  # the first window's end
                10.5: (4, 0),
                19.999: (0, 6),
                20: (1, 1),
                40: (3, 3),  # the last window's end
                40.001: (9, 9),  # after it
            },
        )
        ends = [at(10), at(20), at(30), at(40)]
        assert window_rows(migrated, START, ends) == [1 + 2 + 2 + 3, 4 + 6 + 1 + 1, 0, 3 + 3]

    def test_many_rows_sharing_knowledge_times_are_each_counted(self, migrated: Client) -> None:
        """Thousands of rows of a few inserts (one knowledge time each) and rows with their own."""
        store(migrated, {1: (3000, 9000), 2: (2500, 0), 12: (1, 1), 13: (1, 1), 14: (1, 1)})
        assert window_rows(migrated, START, [at(5), at(15)]) == [3000 + 9000 + 2500, 6]

    def test_no_windows_read_nothing(self, migrated: Client) -> None:
        assert window_rows(migrated, START, []) == []
