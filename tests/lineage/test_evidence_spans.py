"""Evidence packs read their raw spans from ``evidence_spans`` (the copies the insert that stores a
business span writes since migration 30, and those the evaluator's tick records of rows stored
before) and from ``otel_traces`` for what is not copied yet: the same records and root hash as the
pack read from ``otel_traces`` alone, however far the copies have got."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.instants import EPOCH
from lineage.evidence import evidence_records, seal
from lineage.evidence_spans import (
    AT_INGEST_KEY,
    WATERMARK_KEY,
    day_runs,
    pack_spans,
    record_window,
)
from lineage.graph import BOTH, UPSTREAM
from lineage.queries import FactReader, raw_spans
from lineage.traversal import trace
from slas.business_state import RECORDED, BusinessState, parse_watermark
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from tests.lineage.events import chain
from tests.lineage.test_conflicts import load
from tests.lineage.test_evidence_reads import INVOICE, RULES, stored_with_versions
from warehouse.correlation_rules import CorrelationRules
from warehouse.rebuild import rebuild
from warehouse.schema import EVIDENCE_SPANS
from warehouse.schema_state import read_state, write_state

DAY = timedelta(days=1)


@pytest.fixture
def store(migrated: Client) -> Client:
    """A database whose business spans are stored as before migration 30: nothing copies them
    at ingest, the ticks copy them."""
    migrated.command(f"DROP VIEW {EVIDENCE_SPANS}_mv")
    migrated.command(
        "ALTER TABLE syncsight_schema_state DELETE WHERE Key = {key:String}",
        parameters={"key": AT_INGEST_KEY},
        settings={"mutations_sync": 2},
    )
    return migrated


def pack(client: Client, direction: str, known_at: datetime, *, copies: bool) -> dict[str, Any]:
    """The pack's records and root hash, its raw spans read the new way or from ``otel_traces``."""
    reader = FactReader(client, known_at=known_at)
    lineage = trace(
        client, RULES, INVOICE.type, INVOICE.id, direction, known_at=known_at, read_nodes=reader
    )
    facts = reader.facts_of(lineage.nodes)
    read = pack_spans if copies else raw_spans
    spans = read(client, (fact for versions in facts.values() for fact in versions))
    return seal(evidence_records(lineage, INVOICE, spans, facts, known_at=known_at))


def copies(client: Client) -> list[tuple[Any, ...]]:
    return client.query(
        f"SELECT TraceId, SpanId, RawSpanHash FROM {EVIDENCE_SPANS} FINAL ORDER BY ALL"
    ).result_rows


def business_rows(client: Client) -> list[tuple[Any, ...]]:
    """Each business row's (trace, span, raw hash) once: what the copies should hold."""
    return client.query(
        "SELECT DISTINCT TraceId, SpanId, RawSpanHash FROM biz_events ORDER BY ALL"
    ).result_rows


def business_rows_until(
    client: Client, until: datetime, *, since: datetime = EPOCH
) -> list[tuple[Any, ...]]:
    """``business_rows`` of the rows stored in ``(since, until]``."""
    return client.query(
        "SELECT DISTINCT TraceId, SpanId, RawSpanHash FROM biz_events "
        "WHERE IngestedAt > {since:DateTime64(3, 'UTC')} "
        "AND IngestedAt <= {until:DateTime64(3, 'UTC')} ORDER BY ALL",
        parameters={"since": since, "until": until},
    ).result_rows


def attempt_spans(pack: dict[str, Any]) -> list[Any]:
    return [
        attempt["span"]
        for entry in pack["records"]
        if entry["record"]["kind"] == "event"
        for attempt in entry["record"]["attempts"]
    ]


class TestSamePacks:
    @pytest.mark.parametrize("direction", [UPSTREAM, BOTH])
    def test_a_pack_is_the_same_before_during_and_after_recording(
        self, store: Client, direction: str
    ) -> None:
        """Nothing copied, copied up to before the conflicting version (the rest from
        ``otel_traces``), everything copied: the same records at either known_at."""
        before, after = stored_with_versions(store)
        expected = {at: pack(store, direction, at, copies=False) for at in (before, after)}
        now = datetime.now(UTC)
        for recorded in (EPOCH, before, now):
            if recorded > EPOCH:
                record_window(store, EPOCH if recorded == before else before, recorded)
            for at in (before, after):
                got = pack(store, direction, at, copies=True)
                assert got["records"] == expected[at]["records"]
                assert got["root_hash"] == expected[at]["root_hash"]

    def test_recorded_spans_are_read_from_the_copies(self, store: Client) -> None:
        """With every span copied and ``otel_traces`` emptied, the pack still shows every raw
        span as it was: they come from the copies."""
        _, after = stored_with_versions(store)
        expected = pack(store, BOTH, after, copies=False)
        assert all(span is not None for span in attempt_spans(expected))
        record_window(store, EPOCH, datetime.now(UTC))
        store.command("TRUNCATE TABLE otel_traces")
        assert pack(store, BOTH, after, copies=True)["records"] == expected["records"]
        assert pack(store, BOTH, after, copies=False)["records"] != expected["records"]

    def test_facts_without_a_raw_hash_read_every_copy_from_otel_traces(self, store: Client) -> None:
        """Facts stored before migration 13 name no copy: they get the same smallest-hash copy
        as before, from ``otel_traces``, whatever was recorded."""
        _, after = stored_with_versions(store)
        record_window(store, EPOCH, datetime.now(UTC))
        store.command(
            "ALTER TABLE biz_events UPDATE RawSpanHash = 0 WHERE 1", settings={"mutations_sync": 2}
        )
        expected = pack(store, UPSTREAM, after, copies=False)
        assert all(span is not None for span in attempt_spans(expected))
        assert pack(store, UPSTREAM, after, copies=True)["records"] == expected["records"]


class TestRecording:
    def test_recording_in_day_runs_or_twice_keeps_the_same_copies(self, store: Client) -> None:
        """One statement per day of event time, or one for the window, recorded again: the
        same copies, one per business row's (trace, span, raw hash)."""
        stored_with_versions(store)
        now = datetime.now(UTC)
        record_window(store, EPOCH, now, chunk_rows=1)
        by_day = copies(store)
        store.command(f"TRUNCATE TABLE {EVIDENCE_SPANS}")
        record_window(store, EPOCH, now)
        record_window(store, EPOCH, now)
        assert copies(store) == by_day
        assert by_day == business_rows(store)

    def test_a_window_past_the_bound_is_copied_a_bounded_window_at_a_time(
        self, store: Client
    ) -> None:
        """More business rows than ``most``: each call copies those stored up to where about
        ``most`` end (rows of one millisecond together) and says where it stopped; called from
        there, the calls reach the window's end with every copy made once."""
        stored_with_versions(store)
        now = datetime.now(UTC)
        stored = [
            row[0]
            for row in store.query(
                "SELECT IngestedAt FROM biz_events WHERE RawSpanHash != 0 ORDER BY IngestedAt"
            ).result_rows
        ]
        assert len(set(stored)) > 1  # several instants of knowledge time to stop between
        reached, ends = EPOCH, []
        while reached < now:
            end = record_window(store, reached, now, most=1)
            assert reached < end <= now
            assert copies(store) == business_rows_until(store, end)
            reached = end
            ends.append(end)
        assert len(ends) > 1
        assert copies(store) == business_rows(store)

    def test_ticks_behind_the_bound_copy_on_until_they_have_caught_up(
        self, store: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A tick copies a bounded window and moves the copies' watermark only as far; the ticks
        after it (nothing new stored) go on from there until every span is copied."""
        monkeypatch.setitem(RECORDED, WATERMARK_KEY, functools.partial(record_window, most=1))
        stored_with_versions(store)
        keeper = BusinessState(lambda: store, DEFAULT_SLAS, CalendarBook(), settle=timedelta(0))
        assert keeper.tick(datetime.now(UTC)).recorders_behind == (WATERMARK_KEY,)
        behind = parse_watermark(read_state(store, WATERMARK_KEY), WATERMARK_KEY)
        assert behind < keeper.watermark()
        assert copies(store) == business_rows_until(store, behind) != business_rows(store)
        for _ in range(10):
            report = keeper.tick(datetime.now(UTC))
            if not report.recorders_behind:
                break
        assert report.recorders_behind == ()
        assert parse_watermark(read_state(store, WATERMARK_KEY), WATERMARK_KEY) == report.until
        assert copies(store) == business_rows(store)

    def test_the_evaluator_tick_records_the_window_it_read(self, store: Client) -> None:
        """A tick copies the spans stored up to its watermark and moves the copies' own."""
        stored_with_versions(store)
        now = datetime.now(UTC) + timedelta(seconds=1)
        BusinessState(lambda: store, DEFAULT_SLAS, CalendarBook(), settle=timedelta(0)).tick(now)
        assert copies(store) == business_rows(store)
        assert WATERMARK_KEY in read_state(store, WATERMARK_KEY)


class TestCopiedAtIngest:
    def test_the_insert_that_stores_a_business_span_writes_its_copy(self, migrated: Client) -> None:
        """With migration 30's view, every business row's copy is there as soon as the row is,
        with no window recorded, and a pack read from the copies alone is the pack."""
        _, after = stored_with_versions(migrated)
        assert copies(migrated) == business_rows(migrated)
        expected = pack(migrated, BOTH, after, copies=False)
        migrated.command("TRUNCATE TABLE otel_traces")
        assert pack(migrated, BOTH, after, copies=True)["records"] == expected["records"]

    def test_a_tick_copies_only_windows_that_start_before_the_copies_at_ingest(
        self, store: Client
    ) -> None:
        """The copies' watermark at or after the instant migration 30 names: the tick moves it
        and copies nothing (the view did); before it, or with a rebuild since, it copies. A
        rebuild's facts derived again as they were keep their knowledge time, and their copies
        were made when they were first stored; the facts it derives anew (rules that change every
        fact, here) are known from the rebuild on, and copied by the tick after it."""
        stored_with_versions(store)
        keeper = BusinessState(lambda: store, DEFAULT_SLAS, CalendarBook(), settle=timedelta(0))
        keeper.tick(datetime.now(UTC))
        watermark = parse_watermark(read_state(store, WATERMARK_KEY), WATERMARK_KEY)
        assert copies(store) == business_rows(store)
        store.command(f"TRUNCATE TABLE {EVIDENCE_SPANS}")
        write_state(store, AT_INGEST_KEY, watermark.isoformat(), at=datetime.now(UTC))
        stored_with_versions(store)  # the same spans again, and a newer version: new rows
        report = keeper.tick(datetime.now(UTC))
        assert parse_watermark(read_state(store, WATERMARK_KEY), WATERMARK_KEY) == report.until
        assert copies(store) == []
        rebuild(store, CorrelationRules.default())
        keeper.tick(datetime.now(UTC))
        assert copies(store) == []
        rebuild(store, CorrelationRules.from_mapping({sc.EVENT_ID: sc.CONTRACT}))
        rebuilt = keeper.tick(datetime.now(UTC)).until
        assert copies(store) == business_rows(store)
        later = datetime.now(UTC) + timedelta(hours=1)
        write_state(store, AT_INGEST_KEY, later.isoformat(), at=datetime.now(UTC))
        store.command(f"TRUNCATE TABLE {EVIDENCE_SPANS}")
        stored_with_versions(store)
        keeper.tick(datetime.now(UTC))
        now = datetime.now(UTC)
        assert copies(store) == business_rows_until(store, now, since=rebuilt) != []

    def test_a_window_across_the_copies_at_ingest_copies_only_the_rows_stored_before_it(
        self, store: Client
    ) -> None:
        """A window that starts before the instant migration 30 names and ends after it (a new
        directory's first window while spans arrive): the tick copies the rows stored up to the
        instant, leaves those stored after it to the view (dropped here, so they stay without a
        copy), and moves the copies' watermark to the window's end."""
        stored_with_versions(store)
        instant = datetime.now(UTC)
        write_state(store, AT_INGEST_KEY, instant.isoformat(), at=instant)
        load(store, [replace(chain()[-1], amount=Decimal("1234"))])  # after it: a new raw hash
        keeper = BusinessState(lambda: store, DEFAULT_SLAS, CalendarBook(), settle=timedelta(0))
        report = keeper.tick(datetime.now(UTC))
        assert parse_watermark(read_state(store, WATERMARK_KEY), WATERMARK_KEY) == report.until
        stored_before = business_rows_until(store, instant)
        assert copies(store) == stored_before != []
        assert len(business_rows(store)) == len(stored_before) + 1


class TestDayRuns:
    START = datetime(2026, 10, 1, tzinfo=UTC)

    def days(self, *counts: int) -> list[tuple[datetime, int]]:
        return [(self.START + n * DAY, count) for n, count in enumerate(counts)]

    @pytest.mark.parametrize(
        ("counts", "most", "runs"),
        [
            ((5, 5, 5), 100, [(0, 3)]),
            ((5, 5, 5), 10, [(0, 2), (2, 3)]),
            ((50, 1, 1), 10, [(0, 1), (1, 3)]),
            ((1, 50, 1), 10, [(0, 1), (1, 2), (2, 3)]),
            ((), 10, []),
        ],
    )
    def test_runs_hold_at_most_the_rows_unless_one_day_does(
        self, counts: tuple[int, ...], most: int, runs: list[tuple[int, int]]
    ) -> None:
        """Consecutive days are taken together up to ``most`` rows; a larger day stands alone."""
        assert day_runs(self.days(*counts), most) == [
            (self.START + a * DAY, self.START + b * DAY) for a, b in runs
        ]
