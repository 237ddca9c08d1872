"""The report read from the business state's event dimensions against the query it replaced, on
the simulator's small quarter: the same items and differences for several periods and legal
entities, before and after the postings arrive late, and for a ``known_at`` in the past.

The oracle is the query before the business state kept each event's dimensions: it resolves
every event's legal entity (its own, else one an object it refers to carries) and period over
every fact stored by ``known_at``. Its one arbitrary choice (the period of an event whose attempts
carry different periods: any of them) is pinned to the business state's rule (the period it
posted into, else its first attempt's, else the month of its first attempt). The parts both
queries share (the hops, the links, the checks) are taken from the report's text."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from domain import semconv as sc
from lineage.audit_queries import INTERFACE_TOTALS, INTERFACE_TOTALS_ONCE
from lineage.audit_report import (
    ReportRequest,
    build_report,
    engine_parameters,
    query_parameters,
    report_body,
    report_query,
)
from lineage.rules import LineageRules
from simulator.run import simulate
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from syncsight.bulk_load import WarehouseSpanExporter
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.counted_attempt import ATTEMPT_ORDER, COUNTED_ATTEMPT
from warehouse.first_stored import first_stored_events
from warehouse.migrations import migrate
from warehouse.span_store import span_sink

END = datetime(2026, 10, 30, 17, 0, tzinfo=UTC)
POSTINGS = (sc.INVOICE_POSTED, sc.REVENUE_POSTED)


def _facts(columns: str) -> str:
    return first_stored_events("IngestedAt <= {known_at:DateTime64(3, 'UTC')}", columns)


_EVENT_FACTS = (
    "EventId, EventType, EventTime, Attempt, SpanId, Outcome, Amount, Currency, Period, LegalEntity, "
    "IngestedAt"
)

_ORACLE_HEAD = f"""
WITH
object_entities AS (
    SELECT ref.type AS object_type, ref.id AS object_id, any(LegalEntity) AS entity
    FROM {_facts("LegalEntity, ObjectRefs")} ARRAY JOIN ObjectRefs AS ref
    WHERE LegalEntity != ''
      AND ref.type NOT IN ('legal_entity', 'customer')
    GROUP BY object_type, object_id
),
inherited AS (
    SELECT EventId, any(entity) AS inherited_entity
    FROM (
        SELECT EventId, ref.type AS object_type, ref.id AS object_id
        FROM {_facts("EventId, EventType, LegalEntity, ObjectRefs")} ARRAY JOIN ObjectRefs AS ref
        WHERE LegalEntity = ''
          AND EventType IN {{event_types:Array(String)}}
    ) AS refs
    INNER JOIN object_entities USING (object_type, object_id)
    GROUP BY EventId
),
events AS (
    SELECT EventId AS event_id,
        argMax(Outcome, {ATTEMPT_ORDER}) = 'success' AS succeeded,
        minIf(EventTime, Outcome = 'success') AS effective_at,
        argMax(Amount, {COUNTED_ATTEMPT}) AS amount,
        argMax(Currency, {COUNTED_ATTEMPT}) AS currency,
        multiIf(argMinIf(Period, EventTime, Outcome = 'success') != '',
                argMinIf(Period, EventTime, Outcome = 'success'),
                argMin(Period, EventTime) != '', argMin(Period, EventTime),
                formatDateTime(min(EventTime), '%Y-%m')) AS event_period,
        anyIf(LegalEntity, LegalEntity != '') AS own_entity,
        toDate(min(IngestedAt)) AS stored_on
    FROM {_facts(_EVENT_FACTS)}
    WHERE EventType IN {{event_types:Array(String)}}
    GROUP BY EventId
),
period_objects AS (
    SELECT DISTINCT ref.type, ref.id
    FROM {_facts("EventType, EventTime, Period, ObjectRefs")} ARRAY JOIN ObjectRefs AS ref
    WHERE EventType IN {{source_types:Array(String)}}
      AND (Period = {{period:String}}
           OR toYYYYMM(EventTime) = toUInt32OrZero(replaceOne({{period:String}}, '-', '')))
),
"""

_ORACLE_ITEMS = """items AS (
    SELECT links.hop AS hop, links.object_id AS object_id,
        groupUniqArrayIf((events.event_id, events.amount, events.currency),
                         NOT links.is_target) AS sources,
        groupUniqArrayIf((events.event_id, events.amount, events.currency, events.effective_at),
                         links.is_target) AS targets,
        anyIf(if(events.own_entity != '', events.own_entity, inherited.inherited_entity),
              NOT links.is_target) AS source_entity,
        anyIf(if(events.own_entity != '', events.own_entity, inherited.inherited_entity),
              links.is_target) AS target_entity,
        minIf(events.event_period, NOT links.is_target) AS source_period,
        groupUniqArray(events.stored_on) AS stored_days
    FROM links
    INNER JOIN events ON events.event_id = links.event_id
    LEFT JOIN inherited ON inherited.EventId = links.event_id
    WHERE events.succeeded
    GROUP BY hop, object_id
    HAVING notEmpty(sources) AND source_period = {period:String}
       AND if(source_entity != '', source_entity, target_entity) = {legal_entity:String}
),
"""


def _between(text: str, start: str, end: str | None) -> str:
    first = text.index(start)
    return text[first : text.index(end, first) if end else len(text)]


ORACLE = (
    _ORACLE_HEAD
    + _between(INTERFACE_TOTALS, "hops AS (", "period_objects AS (")
    + _between(INTERFACE_TOTALS, "links AS (", "linked AS (")
    + _ORACLE_ITEMS
    + _between(INTERFACE_TOTALS, "checked AS (", "\nSELECT * EXCEPT")
    + _between(INTERFACE_TOTALS, "\nSELECT hop,", "\n)\nORDER BY hop")
    + "\nORDER BY hop"
)
"""The report's query before ``event_dimensions``, as described in the module docstring, with
every interface's distinct source and target events (the report's query totals them in the
engine; ``with_totals`` does it the long way)."""


def with_totals(row: dict[str, Any]) -> dict[str, Any]:
    """An oracle row with each side's event count and amounts per currency summed in Python."""
    totalled = dict(row)
    for side in ("source", "target"):
        events = totalled.pop(f"{side}_events")
        amounts: dict[str, Decimal] = {}
        for _event_id, amount, currency in events:
            if amount is not None:
                amounts[currency] = amounts.get(currency, Decimal(0)) + Decimal(amount)
        totalled[f"{side}_count"] = len({event_id for event_id, _, _ in events})
        totalled[f"{side}_amounts"] = sorted(amounts.items())
    return totalled


def quarter_spans() -> Sequence[ReadableSpan]:
    memory = InMemorySpanExporter()
    simulate(end=END, exporter=memory, seed=11, scale="small", progress=False)
    return memory.get_finished_spans()


def event_type(span: ReadableSpan) -> str:
    return str((span.attributes or {}).get(sc.EVENT_TYPE, ""))


def compared(body: dict[str, Any]) -> dict[str, Any]:
    """What the two queries must agree on: everything but the quoted query."""
    return {key: value for key, value in body.items() if key != "query"}


PERIODS = ("2026-08", "2026-09", "2026-10")
PAST = ("2026-09", "LE-US01")
"""The report built between the two waves, and again after both."""


@dataclass
class Quarter:
    client: Client
    known_at: list[datetime]
    """The watermark after each wave."""
    past_report: dict[str, Any]
    """``PAST``'s report at the first wave's watermark, built before the second wave."""


def request_of(period: str, entity: str, known_at: datetime) -> ReportRequest:
    deadline = CalendarBook().for_entity(entity).close_deadline(period)
    return ReportRequest(period, entity, known_at, deadline)


def report(client: Client, period: str, entity: str, known_at: datetime) -> dict[str, Any]:
    return build_report(client, LineageRules.default(), request_of(period, entity, known_at))


def report_of_query(
    client: Client, sql: str, period: str, entity: str, known_at: datetime
) -> dict[str, Any]:
    """The report from the rows of ``sql`` (the oracle's totalled the long way)."""
    request = request_of(period, entity, known_at)
    rules = LineageRules.default()
    parameters = query_parameters(rules, request)
    rows = client.query(sql, parameters=engine_parameters(parameters)).named_results()
    totalled = [with_totals(row) if sql == ORACLE else row for row in rows]
    return report_body(rules, request, parameters, totalled, sql=sql)


def oracle_report(client: Client, period: str, entity: str, known_at: datetime) -> dict[str, Any]:
    return report_of_query(client, ORACLE, period, entity, known_at)


def portable_report(client: Client, period: str, entity: str, known_at: datetime) -> dict[str, Any]:
    return report_of_query(client, INTERFACE_TOTALS, period, entity, known_at)


@pytest.fixture(scope="module")
def quarter(chdb_url: str) -> Iterator[Quarter]:
    """The small quarter stored in two waves, the business state ticking after every insert:
    everything but the postings, then the postings (targets that arrive after their sources)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = connect(chdb_url)
    admin.command(f"CREATE DATABASE {name}")
    client = connect(chdb_url, database=name)
    try:
        migrate(client, CorrelationRules.default())
        state = BusinessState(
            lambda: client, DEFAULT_SLAS, CalendarBook(), settle=timedelta(milliseconds=1)
        )
        spans = quarter_spans()
        loader = WarehouseSpanExporter(span_sink(client, chdb_url))
        known_at: list[datetime] = []
        past_report: dict[str, Any] = {}
        for wave in (
            [s for s in spans if event_type(s) not in POSTINGS],
            [s for s in spans if event_type(s) in POSTINGS],
        ):
            for first in range(0, len(wave), 8000):
                loader.export(wave[first : first + 8000])
                loader.force_flush()
                time.sleep(0.002)  # every row stored so far is older than the watermark
                state.tick(datetime.now(UTC))
            known_at.append(state.watermark())
            past_report = past_report or report(client, *PAST, known_at[0])
        yield Quarter(client, known_at, past_report)
    finally:
        client.close()
        admin.command(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def entities(client: Client) -> list[str]:
    rows = client.query(
        "SELECT DISTINCT LegalEntity FROM biz_events WHERE LegalEntity != '' ORDER BY 1"
    ).result_rows
    return [str(row[0]) for row in rows]


def missing_invoices(body: dict[str, Any]) -> int:
    found = next(
        i
        for i in body["interfaces"]
        if i["target_type"] == sc.INVOICE_POSTED and i["object_type"] == sc.BILLING_EVENT
    )
    return int(found["differences"]["missing"])


def every_report(quarter: Quarter) -> Iterator[tuple[tuple[datetime, str, str], dict[str, Any]]]:
    """Every legal entity of the quarter, three periods, before and after the postings arrived:
    (known_at, entity, period) and the report."""
    for known_at in quarter.known_at:
        for entity in entities(quarter.client):
            for period in PERIODS:
                yield (known_at, entity, period), report(quarter.client, period, entity, known_at)


class TestSameAsTheQueryItReplaced:
    def test_every_period_entity_and_known_at_gives_the_same_items_and_differences(
        self, quarter: Quarter
    ) -> None:
        """Every legal entity of the quarter, three periods, before and after the postings
        arrived: the report equals the oracle's interface for interface, difference for
        difference, knowledge day for knowledge day."""
        reports = 0
        for (known_at, entity, period), body in every_report(quarter):
            expected = oracle_report(quarter.client, period, entity, known_at)
            assert compared(body) == compared(expected), (known_at, entity, period)
            reports += any(i["items"] for i in body["interfaces"])
        assert reports >= 12

    def test_the_query_any_engine_runs_gives_the_report_built_with_parts_computed_once(
        self, quarter: Quarter
    ) -> None:
        """Where the engine computes the twice-used parts once (chdb's does), the report is
        what the text every engine runs answers, for every entity, period and ``known_at``."""
        assert report_query(quarter.client) == INTERFACE_TOTALS_ONCE
        for (known_at, entity, period), body in every_report(quarter):
            portable = portable_report(quarter.client, period, entity, known_at)
            assert compared(body) == compared(portable), (known_at, entity, period)

    def test_postings_that_arrive_late_are_found_once_the_state_knows_them(
        self, quarter: Quarter
    ) -> None:
        """Before the postings arrived every billing event of the period was missing; after,
        few or none are."""
        before, after = (report(quarter.client, *PAST, known_at) for known_at in quarter.known_at)
        assert missing_invoices(before) > 20
        assert missing_invoices(after) < missing_invoices(before) / 2, missing_invoices(after)

    def test_a_past_known_at_gives_what_was_answered_then(self, quarter: Quarter) -> None:
        """The report for the first wave's watermark, built again after the second wave (the
        state has newer versions of the same events), is the one built before it."""
        again = report(quarter.client, *PAST, quarter.known_at[0])
        assert again == quarter.past_report
        assert sum(i["items"] for i in again["interfaces"]) > 100
