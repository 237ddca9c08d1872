"""The completeness-and-accuracy report over the real engine: counts and amounts per interface and
side, and each kind of difference (missing, late, amount mismatch, duplicate) from a hand-built
chain; the knowledge time; the quoted query runs again to the same rows. The business state ticks
after every load: the report reads each event's legal entity and period from it."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from lineage.audit_report import (
    AMOUNT_MISMATCH,
    DUPLICATE,
    LATE,
    MISSING,
    ReportRequest,
    build_report,
    checks_of,
    interface_name,
    query_hash,
    root_of,
)
from lineage.rules import Hop, LineageRules
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from tests.lineage.events import attempt, chain, span
from warehouse.queries import BusinessEvent
from warehouse.spans import OTEL_TRACES_COLUMNS

ENTITY = "LE-DE01"
CLOSE = datetime(2026, 10, 8, tzinfo=UTC)
"""The close deadline of 2026-09 in these tests (chain events happen in early September)."""
INVOICES = interface_name(Hop(sc.INVOICE_POSTED, sc.BILLING_EVENT, (sc.BILLING_READY,)))
BILLING = interface_name(Hop(sc.BILLING_READY, sc.TIME_ENTRY, (sc.TIME_APPROVED,)))


def load(client: Client, events: list[BusinessEvent]) -> None:
    """Store ``events`` and let the business state resolve them."""
    client.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.01)  # the next rows are stored at a later millisecond of knowledge time
    state = BusinessState(
        lambda: client, DEFAULT_SLAS, CalendarBook(), settle=timedelta(milliseconds=1)
    )
    state.tick(datetime.now(UTC))


@pytest.fixture
def store(migrated: Client) -> Client:
    return migrated


def report(client: Client, *, known_at: datetime | None = None) -> dict[str, Any]:
    request = ReportRequest("2026-09", ENTITY, known_at or datetime.now(UTC), CLOSE)
    return build_report(client, LineageRules.default(), request)


def interface(body: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in body["interfaces"] if i["interface"] == name)
    return found


def differences(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [d for d in body["differences"] if d["kind"] == kind]


def invoice(
    invoice_id: str, billing_event: str, *, hours: float, amount: str = "2000", outcome: str = ""
) -> BusinessEvent:
    return attempt(
        sc.INVOICE_POSTED,
        f"invoice.posted:{invoice_id}",
        {
            sc.INVOICE: invoice_id,
            sc.BILLING_EVENT: billing_event,
            sc.PROJECT: "PRJ-1",
            sc.LEGAL_ENTITY: ENTITY,
        },
        hours=hours,
        amount=amount,
        outcome=outcome or sc.SUCCESS,
    )


class TestCleanChain:
    def test_counts_and_amounts_match_on_both_sides(self, store: Client) -> None:
        """Two time entries billed once and invoiced once: both interfaces balance, no difference."""
        load(store, chain(entries=("TE-1", "TE-2")))
        body = report(store)
        invoices = interface(body, INVOICES)
        assert invoices["items"] == 1
        assert invoices["source"] == {
            "count": 1,
            "amounts": [{"currency": "EUR", "amount": "2000.0000"}],
        }
        assert invoices["target"] == invoices["source"]
        billing = interface(body, BILLING)
        assert billing["items"] == 2
        assert billing["source"]["count"] == 2
        assert billing["target"]["count"] == 1
        assert Decimal(billing["source"]["amounts"][0]["amount"]) == Decimal(2000)
        # the chain stops at the invoice: only the revenue side is missing
        assert {(d["kind"], d["object_type"], d["object_id"]) for d in body["differences"]} == {
            (MISSING, sc.CONTRACT, "CTR-1"),
            (MISSING, sc.INVOICE, "INV-1"),
        }
        assert body["truncated"] is False

    def test_another_legal_entity_or_period_sees_nothing(self, store: Client) -> None:
        """The entity comes from the project's activation; the period from the events."""
        load(store, chain())
        request = ReportRequest("2026-09", "LE-US01", datetime.now(UTC), CLOSE)
        other_entity = build_report(store, LineageRules.default(), request)
        assert all(i["items"] == 0 for i in other_entity["interfaces"])
        other_period = build_report(
            store, LineageRules.default(), replace(request, period="2026-08", legal_entity=ENTITY)
        )
        assert all(i["items"] == 0 for i in other_period["interfaces"])


class TestDifferences:
    def test_billing_event_without_a_successful_invoice_is_missing(self, store: Client) -> None:
        """A failed invoice posting leaves its billing event missing, with its lineage link."""
        events = [*chain()[:-1], invoice("INV-1", "BE-1", hours=73, outcome=sc.FAILED)]
        load(store, events)
        body = report(store)
        [missing] = [d for d in differences(body, MISSING) if d["interface"] == INVOICES]
        assert missing["interface"] == INVOICES
        assert missing["object_id"] == "BE-1"
        assert missing["source_event_ids"] == ["billing.ready:BE-1"]
        assert missing["source_amount"] == "1000.0000"
        assert missing["currency"] == "EUR"
        assert missing["lineage_url"] == "/api/v1/lineage/billing_event/BE-1?direction=both"
        assert interface(body, INVOICES)["target"]["count"] == 0
        assert interface(body, INVOICES)["differences"][MISSING] == 1

    def test_invoice_posted_after_the_close_is_late(self, store: Client) -> None:
        """Posted after the period's close deadline: late, with the instant it took effect."""
        hours_after_close = (CLOSE - datetime(2026, 9, 1, 9, tzinfo=UTC)).total_seconds() / 3600
        events = [
            *chain()[:-1],
            invoice("INV-1", "BE-1", hours=hours_after_close + 1, amount="1000"),
        ]
        load(store, events)
        [late] = differences(report(store), LATE)
        assert late["object_id"] == "BE-1"
        assert late["target_event_ids"] == ["invoice.posted:INV-1"]
        assert late["target_at"] == "2026-10-08T01:00:00Z"

    def test_invoice_of_another_amount_is_a_mismatch(self, store: Client) -> None:
        """The invoice says 1200 for a billing event of 1000."""
        events = [*chain()[:-1], invoice("INV-1", "BE-1", hours=73, amount="1200")]
        load(store, events)
        [mismatch] = differences(report(store), AMOUNT_MISMATCH)
        assert (mismatch["source_amount"], mismatch["target_amount"]) == ("1000.0000", "1200.0000")
        assert mismatch["currency"] == "EUR"
        assert mismatch["target_event_ids"] == ["invoice.posted:INV-1"]

    def test_the_first_successful_attempt_s_amount_counts(self, store: Client) -> None:
        """An invoice posted twice (a retry that succeeded again, with another amount) counts its
        first success, as the business state and lineage do: 1000 balances, the later 1200 does
        not make a mismatch."""
        first = invoice("INV-1", "BE-1", hours=73, amount="1000")
        again = replace(
            invoice("INV-1", "BE-1", hours=74, amount="1200"),
            event_id=first.event_id,
            attempt=2,
        )
        load(store, [*chain()[:-1], first, again])
        body = report(store)
        assert differences(body, AMOUNT_MISMATCH) == []
        assert interface(body, INVOICES)["target"]["amounts"] == [
            {"currency": "EUR", "amount": "1000.0000"}
        ]

    def test_two_invoices_for_one_billing_event_are_a_duplicate(self, store: Client) -> None:
        """Billed twice: both successful invoices are named."""
        load(store, [*chain(), invoice("INV-2", "BE-1", hours=80, amount="1000")])
        body = report(store)
        [duplicate] = differences(body, DUPLICATE)
        assert duplicate["target_event_ids"] == ["invoice.posted:INV-1", "invoice.posted:INV-2"]
        assert interface(body, INVOICES)["target"]["count"] == 2

    def test_time_entry_billed_twice_is_a_duplicate(self, store: Client) -> None:
        """A second billing event that bills the same time entry."""
        second = attempt(
            sc.BILLING_READY,
            "billing.ready:BE-2",
            {sc.BILLING_EVENT: "BE-2", sc.PROJECT: "PRJ-1", sc.TIME_ENTRY: "TE-1"},
            hours=90,
            amount="1000",
        )
        load(store, [*chain(), second])
        [duplicate] = [
            d for d in differences(report(store), DUPLICATE) if d["interface"] == BILLING
        ]
        assert duplicate["object_id"] == "TE-1"


class TestKnowledgeTime:
    def test_rows_stored_after_known_at_do_not_count(self, store: Client) -> None:
        """The invoice stored after known_at is missing as known then, present as known now."""
        load(store, chain()[:-1])
        before = datetime.now(UTC)
        time.sleep(0.01)
        load(store, chain()[-1:])
        assert interface(report(store, known_at=before), INVOICES)["differences"][MISSING] == 1
        assert interface(report(store), INVOICES)["differences"][MISSING] == 0

    def test_same_known_at_gives_the_same_root(self, store: Client) -> None:
        """The body depends only on (period, legal entity, known_at): the same root twice."""
        load(store, chain())
        moment = datetime.now(UTC)
        assert root_of(report(store, known_at=moment)) == root_of(report(store, known_at=moment))


class TestQuotedQuery:
    def test_hash_covers_text_and_parameters(self, store: Client) -> None:
        """The report's hash is SHA-256 over the quoted text and parameters."""
        load(store, chain())
        query = report(store)["query"]
        assert query["sha256"] == query_hash(query["sql"], query["parameters"])
        assert query["parameters"]["legal_entity"] == ENTITY


class TestChecks:
    @pytest.mark.parametrize(
        ("hop", "expected"),
        [
            (Hop(sc.INVOICE_POSTED, sc.BILLING_EVENT, (sc.BILLING_READY,)), 4),
            (Hop(sc.BILLING_READY, sc.PROJECT, (sc.PROJECT_ACTIVATED,)), 0),
            (Hop("timesheet.exported", sc.TIME_ENTRY, (sc.TIME_APPROVED,)), 4),
            (Hop("timesheet.exported", sc.TIME_ENTRY, (sc.TIME_APPROVED,), required=False), 0),
        ],
    )
    def test_which_interfaces_are_checked_item_by_item(self, hop: Hop, expected: int) -> None:
        """Default 1:1 hops take every check, container hops none, a site's required hop all."""
        assert len(checks_of(hop)) == expected
