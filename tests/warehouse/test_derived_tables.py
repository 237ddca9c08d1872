"""Business tables derived inside ClickHouse from exporter-shaped spans."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from tests.warehouse.spans import span_row
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.rebuild import rebuild
from warehouse.spans import OTEL_TRACES_COLUMNS

BILLING_READY = {
    sc.EVENT_TYPE: sc.BILLING_READY,
    sc.EVENT_ID: "BE-7-ready",
    sc.SOURCE_SYSTEM: "PSA",
    sc.TARGET_SYSTEM: "erp",
    sc.AMOUNT: "12500.75",
    sc.CURRENCY: "usd",
    sc.PERIOD: "2026-01",
    sc.object_id_key(sc.BILLING_EVENT): "BE-7",
    sc.object_id_key(sc.PROJECT): "PRJ-1",
    sc.object_id_key(sc.TIME_ENTRY): '["TE-1","TE-2","TE-3"]',
    sc.object_id_key(sc.LEGAL_ENTITY): "US",
    "salesforce.opportunity.id": "OPP-9",
}


def insert(client: Client, *rows: tuple[Any, ...]) -> None:
    client.insert("otel_traces", list(rows), column_names=OTEL_TRACES_COLUMNS)


def references(client: Client) -> list[tuple[str, str, str]]:
    rows = client.query(
        "SELECT ObjectType, ObjectId, EventId FROM biz_event_objects FINAL "
        "ORDER BY ObjectType, ObjectId"
    ).result_rows
    return [(str(t), str(i), str(e)) for t, i, e in rows]


@pytest.fixture
def rules() -> CorrelationRules:
    return CorrelationRules.from_mapping({"salesforce.opportunity.id": sc.CONTRACT})


@pytest.fixture
def migrated(client: Client, rules: CorrelationRules) -> Client:
    migrate(client, rules)
    return client


class TestBusinessEvents:
    def test_a_business_span_becomes_one_event_row(self, migrated: Client) -> None:
        """The event row carries the normalised business facts of the span."""
        insert(migrated, span_row(BILLING_READY, duration_ns=1_500_000_000))
        rows = migrated.query(
            "SELECT EventId, EventType, SourceSystem, TargetSystem, Outcome, Amount, Currency, "
            "Period, LegalEntity, Attempt, SpanStatus, "
            "toUnixTimestamp64Nano(EventTime) - 1767225600000000000, DurationNs "
            "FROM biz_events FINAL"
        ).result_rows
        assert rows == [
            (
                "BE-7-ready",
                sc.BILLING_READY,
                "psa",
                "erp",
                sc.SUCCESS,
                Decimal("12500.75"),
                "USD",
                "2026-01",
                "US",
                1,
                "Unset",
                0,
                1_500_000_000,
            )
        ]

    def test_spans_without_an_event_type_are_not_business_events(self, migrated: Client) -> None:
        """Technical spans (validate, map) stay raw only."""
        insert(migrated, span_row({"messaging.system": "kafka"}))
        assert migrated.query("SELECT count() FROM biz_events").result_rows[0][0] == 0

    @pytest.mark.parametrize(
        ("status_code", "outcome_attribute", "expected_outcome", "expected_status"),
        [
            ("Error", None, sc.FAILED, "Error"),
            ("STATUS_CODE_ERROR", None, sc.FAILED, "Error"),
            ("Ok", None, sc.SUCCESS, "Ok"),
            ("STATUS_CODE_OK", None, sc.SUCCESS, "Ok"),
            ("STATUS_CODE_UNSET", None, sc.SUCCESS, "Unset"),
            ("Error", "retrying", sc.RETRYING, "Error"),
            ("Unset", "Dead_Lettered", sc.DEAD_LETTERED, "Unset"),
        ],
    )
    def test_outcome_follows_the_attribute_else_both_status_spellings(
        self,
        migrated: Client,
        status_code: str,
        outcome_attribute: str | None,
        expected_outcome: str,
        expected_status: str,
    ) -> None:
        """biz.outcome wins; without it an error status in either spelling means failed."""
        attributes = {sc.EVENT_TYPE: sc.INVOICE_POSTED, sc.EVENT_ID: "INV-1-post"}
        if outcome_attribute:
            attributes[sc.OUTCOME] = outcome_attribute
        insert(migrated, span_row(attributes, status_code=status_code))
        rows = migrated.query("SELECT Outcome, SpanStatus FROM biz_events FINAL").result_rows
        assert rows == [(expected_outcome, expected_status)]

    def test_an_event_without_an_id_is_keyed_by_its_span(self, migrated: Client) -> None:
        """Missing biz.event.id falls back to the span identity instead of being dropped."""
        insert(migrated, span_row({sc.EVENT_TYPE: sc.TIME_APPROVED}, span_id="00f067aa0ba902b7"))
        event_id = migrated.query("SELECT EventId FROM biz_events").result_rows[0][0]
        assert event_id == "span:0af7651916cd43dd8448eb211c80319c:00f067aa0ba902b7"


class TestObjectReferences:
    def test_every_id_becomes_one_reference_including_arrays_and_custom_rules(
        self, migrated: Client
    ) -> None:
        """Array-valued ids fan out; a custom attribute key maps to its object type."""
        insert(migrated, span_row(BILLING_READY))
        assert references(migrated) == [
            ("billing_event", "BE-7", "BE-7-ready"),
            ("contract", "OPP-9", "BE-7-ready"),
            ("legal_entity", "US", "BE-7-ready"),
            ("project", "PRJ-1", "BE-7-ready"),
            ("time_entry", "TE-1", "BE-7-ready"),
            ("time_entry", "TE-2", "BE-7-ready"),
            ("time_entry", "TE-3", "BE-7-ready"),
        ]

    def test_looking_up_an_object_reads_an_index_range_not_the_table(
        self, migrated: Client
    ) -> None:
        """biz_event_objects is ordered by (type, id): the lookup uses the primary key."""
        insert(migrated, span_row(BILLING_READY))
        plan = "\n".join(
            str(r[0])
            for r in migrated.query(
                "EXPLAIN indexes = 1 SELECT EventId FROM biz_event_objects FINAL "
                "WHERE ObjectType = 'time_entry' AND ObjectId = 'TE-2'"
            ).result_rows
        )
        assert "PrimaryKey" in plan
        assert "ObjectType" in plan
        assert "ObjectId" in plan


class TestDuplicates:
    def test_a_span_delivered_twice_counts_once(self, migrated: Client) -> None:
        """Redelivery of the same (TraceId, SpanId) in separate inserts does not double count."""
        insert(migrated, span_row(BILLING_READY))
        insert(migrated, span_row(BILLING_READY))
        assert migrated.query("SELECT count() FROM otel_traces").result_rows[0][0] == 2
        assert migrated.query("SELECT count() FROM biz_events FINAL").result_rows[0][0] == 1
        total = migrated.query("SELECT sum(Amount) FROM biz_events FINAL").result_rows[0][0]
        assert total == Decimal("12500.75")
        assert len(references(migrated)) == 7

    def test_retries_of_one_event_are_kept_as_attempts(self, migrated: Client) -> None:
        """Two spans of the same biz.event.id are two attempts, not a duplicate."""
        first = dict(BILLING_READY, **{sc.ATTEMPT: "1", sc.OUTCOME: sc.RETRYING})
        second = dict(BILLING_READY, **{sc.ATTEMPT: "2"})
        insert(migrated, span_row(first, span_id="1111111111111111"))
        insert(migrated, span_row(second, span_id="2222222222222222"))
        rows = migrated.query(
            "SELECT Attempt, Outcome FROM biz_events FINAL ORDER BY Attempt"
        ).result_rows
        assert rows == [(1, sc.RETRYING), (2, sc.SUCCESS)]


class TestRebuild:
    def test_rebuild_reproduces_the_same_derived_rows(
        self, migrated: Client, rules: CorrelationRules
    ) -> None:
        """Truncate + re-derive yields exactly what the views derived at insert time."""
        insert(migrated, span_row(BILLING_READY), span_row(BILLING_READY))
        insert(
            migrated,
            span_row({sc.EVENT_TYPE: sc.PROJECT_ACTIVATED, sc.EVENT_ID: "P"}, span_id="3" * 16),
        )
        select = "SELECT *, IngestedAt FROM biz_events FINAL ORDER BY EventId"
        objects = "SELECT *, IngestedAt FROM biz_event_objects FINAL ORDER BY ALL"
        before_events = migrated.query(select).result_rows
        before_objects = migrated.query(objects).result_rows
        report = rebuild(migrated, rules)
        # every fact derived again as it was keeps the instant it was first stored
        assert migrated.query(select).result_rows == before_events
        assert migrated.query(objects).result_rows == before_objects
        assert (report.spans, report.events, report.references) == (3, 2, 7)
        assert report.new_knowledge == 0

    def test_rebuild_applies_a_rule_added_after_ingest(self, client: Client) -> None:
        """Spans stored before a rule existed get its references after migrate + rebuild. The
        fact now names another object, so it is new knowledge, known from the rebuild on; the
        fact the rule did not change keeps the instant it was first stored."""
        migrate(client, CorrelationRules.default())
        unchanged = {sc.EVENT_TYPE: sc.PROJECT_ACTIVATED, sc.EVENT_ID: "P"}
        insert(client, span_row(BILLING_READY), span_row(unchanged, span_id="3" * 16))
        known = "SELECT EventId, IngestedAt FROM biz_events FINAL ORDER BY EventId"
        stored = dict(client.query(known).result_rows)
        assert ("contract", "OPP-9", "BE-7-ready") not in references(client)
        new_rules = CorrelationRules.from_mapping({"salesforce.opportunity.id": sc.CONTRACT})
        migrate(client, new_rules)
        report = rebuild(client, new_rules)
        assert ("contract", "OPP-9", "BE-7-ready") in references(client)
        rebuilt = dict(client.query(known).result_rows)
        assert rebuilt["P"] == stored["P"]
        assert rebuilt["BE-7-ready"] > stored["BE-7-ready"]
        assert (report.events, report.new_knowledge) == (2, 1)

    def test_rebuild_keeps_the_facts_whose_raw_spans_the_raw_retention_expired(
        self, client: Client
    ) -> None:
        """Business rows outlive raw spans (7 years against 400 days by default): a rebuild
        derives again the events from the raw retention's horizon on and keeps the older ones as
        stored, though their raw spans are gone and a rule changed since."""
        migrate(client, CorrelationRules.default())
        now_ns = time.time_ns()
        recent = dict(BILLING_READY, **{sc.EVENT_ID: "BE-8-ready"})
        insert(client, span_row(BILLING_READY), span_row(recent, span_id="4" * 16, start_ns=now_ns))
        known = "SELECT EventId, IngestedAt FROM biz_events FINAL ORDER BY EventId"
        stored = client.query(known).result_rows
        # the raw retention expired the old span (2026-01-01, past a horizon of 300 days)
        client.command("TRUNCATE TABLE otel_traces")
        insert(client, span_row(recent, span_id="4" * 16, start_ns=now_ns))
        new_rules = CorrelationRules.from_mapping({"salesforce.opportunity.id": sc.CONTRACT})
        migrate(client, new_rules)
        report = rebuild(client, new_rules, raw_days=300)
        assert client.query(known).result_rows[0] == stored[0]  # BE-7-ready, as stored
        refs = references(client)
        assert ("contract", "OPP-9", "BE-8-ready") in refs
        assert ("contract", "OPP-9", "BE-7-ready") not in refs
        assert ("billing_event", "BE-7", "BE-7-ready") in refs
        assert (report.spans, report.events, report.new_knowledge) == (1, 2, 1)
        assert report.kept_before is not None

    @pytest.mark.parametrize("raw_days", [0, 3650], ids=["kept-forever", "raised-to-10-years"])
    def test_rebuild_keeps_the_facts_whose_raw_spans_an_earlier_retention_expired(
        self, migrated: Client, rules: CorrelationRules, raw_days: int
    ) -> None:
        """Raw spans a shorter retention expired stay gone when the retention is raised (or the
        rebuild runs with another setting than the service did): a rebuild derives again only
        the events from the oldest raw span stored on and keeps the older ones as stored."""
        now_ns = time.time_ns()
        recent = dict(BILLING_READY, **{sc.EVENT_ID: "BE-8-ready"})
        insert(
            migrated, span_row(BILLING_READY), span_row(recent, span_id="4" * 16, start_ns=now_ns)
        )
        known = "SELECT EventId, IngestedAt FROM biz_events FINAL ORDER BY EventId"
        stored = migrated.query(known).result_rows
        # a retention of 30 days expired the old span (2026-01-01) before it was raised
        migrated.command("TRUNCATE TABLE otel_traces")
        insert(migrated, span_row(recent, span_id="4" * 16, start_ns=now_ns))
        report = rebuild(migrated, rules, raw_days=raw_days)
        assert migrated.query(known).result_rows == stored
        assert ("billing_event", "BE-7", "BE-7-ready") in references(migrated)
        assert (report.spans, report.events, report.new_knowledge) == (1, 2, 0)
        assert report.kept_before is not None  # the oldest raw span's start
