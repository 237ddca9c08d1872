"""The business state's versions written as Arrow columns (``slas.state_columns``) read back as the
rows clickhouse-connect's row inserts wrote: every column of every timer, item and dimension of the
tiny quarter, deleted versions included, against the same values spelled one row at a time (the
writers as they were before the columns)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from clickhouse_connect.driver.client import Client

from domain.instants import EPOCH
from domain.money import from_units
from domain.periods import period_text
from domain.semconv import EVENT_TYPES
from lineage.rules import LineageRules
from slas.business_state import append_items, append_timers
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from slas.event_dimensions import StoredDimensions, append_dimensions, changed_dimensions
from slas.item_rows import DerivedItems, derive_items
from slas.snapshot import EventSnapshot, object_type_name
from slas.state_columns import arrow_type
from slas.state_queries import ITEM_COLUMNS, TIMER_COLUMNS, graph_chunks, load_component
from slas.timer_rows import DerivedTimers, SnapshotNames, derive_timers, micros_to_datetime
from syncsight.bulk_load import WarehouseSpanExporter
from tests.slas.tiny_quarter import tiny_quarter_spans
from warehouse.span_store import span_sink

BY_ROWS = datetime(2026, 11, 1, tzinfo=UTC)
BY_COLUMNS = datetime(2026, 11, 2, tzinfo=UTC)
REASONS = ("", "late", "wrong_period")


def _timer_records(timers: DerivedTimers, names: SnapshotNames) -> list[list[Any]]:
    """Every timer of one SLA spelled value by value, as the row writer spelled it."""
    t, shares = timers.timers, list(timers.definition.warning_thresholds)
    records = []
    for row in range(len(timers)):
        key = names.objects.get(int(t.key[row]), (object_type_name(int(t.key_type[row])), ""))
        stopped = bool(t.stopped_us[row] >= 0)
        records.append(
            [
                *key,
                timers.definition.name,
                names.events.get(int(t.start_event[row]), ""),
                BY_ROWS,
                0,
                int(timers.digests[row]),
                micros_to_datetime(int(t.started_us[row])),
                period_text(int(t.start_period[row])),
                micros_to_datetime(int(timers.deadline_us[row])),
                float(timers.target[row]),
                shares,
                [micros_to_datetime(int(at)) for at in timers.warning_us[row]],
                names.events.get(int(t.stop_event[row]), "") if stopped else "",
                micros_to_datetime(int(t.stopped_us[row])) if stopped else None,
                period_text(int(t.stop_period[row])) if stopped else "",
                REASONS[int(timers.reason[row])],
                int(timers.elapsed_ms[row]) / 1000,
                t.entity_name(int(t.legal_entity[row])),
                names.customers.get(int(t.customer[row]), ""),
                None
                if np.isnan(t.amount[row])
                else from_units(int(t.amount_units[row])).normalize(),
                str(t.currency[row]),
            ]
        )
    return records


def _item_records(items: DerivedItems) -> list[list[Any]]:
    """Every item spelled value by value, as the row writer spelled it."""
    s, names = items.snapshot, items.names
    _, customers = s.dimensions

    def instant(micros: int) -> datetime | None:
        return None if micros < 0 else micros_to_datetime(micros)

    def failure(row: int) -> list[Any]:
        found = names.failures.get(int(s.event[row])) if row >= 0 else None
        return ["", "", None] if found is None else [found[0], found[1], instant(found[2])]

    records = []
    for n in range(len(items)):
        stage, post, cause = int(items.stage[n]), int(items.posting[n]), int(items.cause[n])
        invoice, kind = int(items.invoice[n]), int(items.kind[n])
        posted = post >= 0 and bool(s.took_effect[post])
        records.append(
            [
                *names.objects[int(s.objects[items.item[n]])],
                BY_ROWS,
                0,
                int(items.digests[n]),
                ("invoice", "revenue")[kind],
                ("", *s.legal_entities)[int(items.legal_entity[n])],
                names.customers.get(int(customers[stage]), ""),
                ("", *s.currencies)[int(s.currency[stage])],
                None
                if np.isnan(s.amount[stage])
                else from_units(int(s.amount_units[stage])).normalize(),
                period_text(int(items.due_period[n])),
                names.events[int(s.event[stage])],
                instant(int(s.first_us[stage])),
                instant(int(s.effective_us[stage])),
                names.events[int(s.event[post])] if post >= 0 else "",
                ("invoice.posted", "revenue.posted")[kind] if post >= 0 else "",
                instant(int(s.first_us[post])) if post >= 0 else None,
                instant(int(s.effective_us[post])) if post >= 0 else None,
                period_text(int(s.effective_period[post])) if posted else "",
                float(items.stage_seconds[n]),
                names.objects[int(s.objects[invoice])][1] if invoice >= 0 else "",
                names.events[int(s.event[cause])] if cause >= 0 else "",
                EVENT_TYPES[int(s.event_type[cause]) - 1] if cause >= 0 else "",
                instant(int(s.failing_since_us[cause])) if cause >= 0 else None,
                *failure(stage),
                *failure(post),
                *failure(cause),
            ]
        )
    return records


def _read(client: Client, table: str, known_at: datetime) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in client.query(
            f"SELECT * EXCEPT KnownAt FROM {table} WHERE KnownAt = {{known_at:DateTime64(3, 'UTC')}} "
            "ORDER BY ALL",
            parameters={"known_at": known_at},
        ).result_rows
    ]


@pytest.fixture
def quarter(migrated: Client, engine_url: str) -> tuple[EventSnapshot, SnapshotNames]:
    """The tiny quarter stored in one insert, and its snapshot as one chunk."""
    loader = WarehouseSpanExporter(span_sink(migrated, engine_url))
    loader.export(tiny_quarter_spans())
    loader.force_flush()
    until = datetime.now(UTC)
    graph_chunks(migrated, until, until, max_events=10**9, everything=True)
    return load_component(migrated, until, chunk=0)


class TestColumnsReadBackAsRows:
    def test_every_timer_column_reads_back_as_the_row_writer_wrote_it(
        self, migrated: Client, quarter: tuple[EventSnapshot, SnapshotNames]
    ) -> None:
        """Every timer of every SLA, and three deleted ones, are the same rows both ways."""
        snapshot, names = quarter
        derived = derive_timers(snapshot, DEFAULT_SLAS, CalendarBook(), names)
        gone = [("project", "P-GONE", sla.name, f"E-{n}") for n, sla in enumerate(DEFAULT_SLAS[:3])]
        records = [record for timers in derived for record in _timer_records(timers, names)]
        empty = [EPOCH, "", EPOCH, 0.0, [], [], "", None, "", "", 0.0, "", "", None, ""]
        records += [[*identity, BY_ROWS, 1, 0, *empty] for identity in gone]
        migrated.insert("sla_timers", records, column_names=list(TIMER_COLUMNS))
        append_timers(
            migrated,
            [timers.columns(names, np.arange(len(timers))) for timers in derived],
            gone,
            known_at=BY_COLUMNS,
        )
        by_rows, by_columns = (
            _read(migrated, "sla_timers", BY_ROWS),
            _read(migrated, "sla_timers", BY_COLUMNS),
        )
        assert len(by_rows) == len(records) > 100
        assert by_columns == by_rows
        stopped_at, amount = TIMER_COLUMNS.index("StoppedAt") - 1, TIMER_COLUMNS.index("Amount") - 1
        assert {row[stopped_at] is None for row in by_rows} == {True, False}
        assert {row[amount] is None for row in by_rows} == {True, False}

    def test_every_item_column_reads_back_as_the_row_writer_wrote_it(
        self, migrated: Client, quarter: tuple[EventSnapshot, SnapshotNames]
    ) -> None:
        """Every invoice and revenue item, and two deleted ones, are the same rows both ways."""
        snapshot, names = quarter
        items = derive_items(snapshot, CalendarBook(), LineageRules.default(), names)
        # the quarter stored at once holds no failure: every seventh item given a root cause that
        # fails since a microsecond before a second, and some events failure facts
        causes = np.arange(len(items)) % 7 == 0
        failing = snapshot.failing_since_us.copy()
        failing[items.stage[causes]] = snapshot.first_us[items.stage[causes]] + 999_999
        failures = {
            int(event): (f"category-{n % 3}", f"code-{n}", int(snapshot.first_us[row]) + n)
            for n, (row, event) in enumerate(
                zip(items.stage, snapshot.event[items.stage], strict=True)
            )
            if n % 5 == 0
        }
        items = replace(
            items,
            snapshot=replace(snapshot, failing_since_us=failing),
            names=replace(names, failures=failures),
            cause=np.where(causes, items.stage, -1),
        )
        gone = [("invoice", "INV-GONE"), ("journal", "J-GONE")]
        migrated.insert("close_items", _item_records(items), column_names=list(ITEM_COLUMNS))
        migrated.insert(  # a deleted version: every other column its default, not posted
            "close_items",
            [[*identity, BY_ROWS, 1, -1.0] for identity in gone],
            column_names=["ItemType", "ItemId", "KnownAt", "Deleted", "StageSeconds"],
        )
        append_items(migrated, items.columns(np.arange(len(items))), gone, known_at=BY_COLUMNS)
        by_rows, by_columns = (
            _read(migrated, "close_items", BY_ROWS),
            _read(migrated, "close_items", BY_COLUMNS),
        )
        assert len(by_rows) == len(items) + len(gone) > 100
        assert by_columns == by_rows
        nullable = [
            ITEM_COLUMNS.index(c) - 1
            for c in ("PostingEffectiveAt", "UpstreamFirstAt", "Amount", "StageErrorSince")
        ]
        assert all({row[i] is None for row in by_rows} == {True, False} for i in nullable)

    def test_every_dimension_reads_back_as_the_row_writer_wrote_it(
        self, migrated: Client, quarter: tuple[EventSnapshot, SnapshotNames]
    ) -> None:
        """Every event's legal entity and period are the same rows both ways."""
        snapshot, names = quarter
        changed = changed_dimensions(snapshot, names, StoredDimensions.none())
        records = zip(changed["EventId"], changed["LegalEntity"], changed["Period"], strict=True)
        migrated.insert(
            "event_dimensions",
            [[event_id, BY_ROWS, entity, period] for event_id, entity, period in records],
            column_names=["EventId", "KnownAt", "LegalEntity", "Period"],
        )
        append_dimensions(migrated, changed, known_at=BY_COLUMNS)
        by_rows = _read(migrated, "event_dimensions", BY_ROWS)
        assert len(by_rows) == len(changed["EventId"]) == len(snapshot.event) > 100
        assert _read(migrated, "event_dimensions", BY_COLUMNS) == by_rows


class TestArrowTypes:
    @pytest.mark.parametrize(
        ("clickhouse", "arrow"),
        [
            ("LowCardinality(String)", "string"),
            ("Nullable(DateTime64(6, 'UTC'))", "timestamp[us, tz=UTC]"),
            ("DateTime64(3, 'UTC')", "timestamp[ms, tz=UTC]"),
            ("Nullable(Decimal(18, 4))", "decimal128(18, 4)"),
            ("Array(DateTime64(6, 'UTC'))", "list<item: timestamp[us, tz=UTC]>"),
            ("UInt64", "uint64"),
        ],
    )
    def test_a_column_type_has_the_arrow_type_that_holds_it_exactly(
        self, clickhouse: str, arrow: str
    ) -> None:
        """Each state column's type maps to the Arrow type of the same values."""
        assert str(arrow_type(clickhouse)) == arrow

    def test_a_type_without_an_arrow_spelling_is_refused_by_name(self) -> None:
        """A column type the writer cannot spell is named in the error, not written wrong."""
        with pytest.raises(ValueError, match="Map"):
            arrow_type("Map(String, String)")
