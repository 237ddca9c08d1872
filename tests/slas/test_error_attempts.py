"""Events' errors from their attempts kept per knowledge time (``slas.error_attempts``): the same
error as ``slas.close_state.ERRORS`` asks the engine for, at every instant and knowledge time, to
the nanosecond; what is kept is bounded, least recently used first out, and dropped when the
business state's reading changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from slas.close_state import ERRORS
from slas.error_attempts import ErrorAttempts, latest_error, nanos, read_attempts
from warehouse.schema import BIZ_EVENTS

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
K1 = datetime(2026, 9, 2, 0, 0, tzinfo=UTC)
K2 = K1 + timedelta(hours=1)
_COLUMNS = [
    "EventId", "EventType", "EventTime", "Outcome", "ErrorCategory", "ErrorCode", "Attempt",
    "TraceId", "SpanId", "IngestedAt",
]  # fmt: skip


def _row(
    event: str, nanos_after: int, attempt: int, error: tuple[str, str], span: str, known: datetime
) -> list[object]:
    """A failed attempt of ``event`` ``nanos_after`` nanoseconds after ``T0``, stored at
    ``known`` (the driver takes the instant of a DateTime64(9) as nanoseconds since the epoch)."""
    return [
        event, sc.INVOICE_POSTED, nanos(T0) + nanos_after, sc.FAILED, *error, attempt,
        "a" * 32, span, known,
    ]  # fmt: skip


@pytest.fixture
def attempts(migrated: Client) -> Client:
    """Event E: attempt 1 at T0 (A/1), attempt 2 at T0 + 1 s + 500 ns (B/2), both known at K1;
    attempt 3 at T0 + 2 s (C/3) and a conflicting re-send of attempt 1 (Z/9), known at K2.
    Event F: one attempt (D/4) known at K2 only."""
    second = 1_000_000_000
    migrated.insert(
        BIZ_EVENTS,
        [
            _row("E", 0, 1, ("A", "1"), "1000000000000001", K1),
            _row("E", second + 500, 2, ("B", "2"), "1000000000000002", K1),
            _row("E", 2 * second, 3, ("C", "3"), "1000000000000003", K2),
            _row("E", 0, 1, ("Z", "9"), "1000000000000001", K2),
            _row("F", 0, 1, ("D", "4"), "2000000000000001", K2),
        ],
        column_names=_COLUMNS,
    )
    return migrated


def test_the_latest_error_of_the_attempts_read_is_the_statements(attempts: Client) -> None:
    """At instants around every attempt (1 µs apart, and the one a sub-microsecond after an
    instant the answer can ask) and at both knowledge times: ``latest_error`` of what
    ``read_attempts`` read is the engine's ``ERRORS``, an event without any attempt by then
    none."""
    micro = timedelta(microseconds=1)
    instants = [
        T0 - micro, T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=1) + micro,
        T0 + timedelta(seconds=2) - micro, T0 + timedelta(seconds=2), T0 + timedelta(days=1),
    ]  # fmt: skip
    seen = set()
    for known in (K1 - micro, K1, K2):
        read = read_attempts(attempts, ["E", "F", "G"], known)
        assert set(read) == {"E", "F", "G"}
        for as_of in instants:
            rows = attempts.query(
                ERRORS, parameters={"event_ids": ["E", "F", "G"], "as_of": as_of, "known_at": known}
            ).result_rows
            expected = {str(e): (str(c), str(k)) for e, c, k in rows}
            got = {e: error for e, a in read.items() if (error := latest_error(a, as_of))}
            assert got == expected, (known, as_of)
            seen.add(tuple(sorted(got.items())))
    # the cases the table holds: none yet, the first attempt's error (not its re-send's), the
    # second's only from a nanosecond-exact instant on, the third's once known
    assert (("E", ("A", "1")),) in seen
    assert (("E", ("B", "2")),) in seen
    assert (("E", ("C", "3")), ("F", ("D", "4"))) in seen
    assert () in seen


def test_kept_attempts_are_bounded_the_least_recently_used_leaving_first() -> None:
    kept = ErrorAttempts(size=3)
    reading = ("tick", 1)
    assert kept.known(reading, K1, ["a", "b", "c"]) == ({}, ["a", "b", "c"])
    kept.keep(reading, K1, {"a": ((1, "A", "1"),), "b": (), "c": ((3, "C", "3"),)})
    found, unseen = kept.known(reading, K1, ["a"])  # a used again: b is the least recent
    assert found == {"a": ((1, "A", "1"),)}
    assert not unseen
    kept.keep(reading, K1, {"d": ()})
    assert len(kept) == 3
    assert kept.known(reading, K1, ["a", "b", "c", "d"]) == (
        {"a": ((1, "A", "1"),), "c": ((3, "C", "3"),), "d": ()},
        ["b"],
    )
    # another knowledge time is another key
    assert kept.known(reading, K2, ["a"]) == ({}, ["a"])


def test_a_changed_reading_drops_what_was_kept_and_refuses_what_was_read_before() -> None:
    kept = ErrorAttempts()
    kept.known(("before",), K1, ["a"])
    kept.keep(("before",), K1, {"a": ((1, "A", "1"),)})
    assert kept.known(("before",), K1, ["a"])[0]
    assert kept.known(("after",), K1, ["a"]) == ({}, ["a"])
    assert len(kept) == 0
    # read under the reading before, kept after the change: not kept
    kept.keep(("before",), K1, {"a": ((1, "A", "1"),)})
    assert kept.known(("after",), K1, ["a"]) == ({}, ["a"])
