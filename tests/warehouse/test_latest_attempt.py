"""Every feature reads an event's latest attempt by one order (``warehouse.counted_attempt``:
instant, attempt number, span id), so attempts tied on their instant give one answer to "did it
fail": the SLA snapshot, blocked invoices, lineage's nodes and failed events, the
completeness-and-accuracy report and the OCEL export, on the real engine."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.business_event import BusinessEvent
from lineage.audit_report import MISSING, ReportRequest, build_report, interface_name
from lineage.ocel_log import LogRequest, log_pages
from lineage.owners import OwnerRouting
from lineage.queries import events_by_id, failed_event_ids
from lineage.rules import Hop, LineageRules
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BlockedInvoiceAnswers
from slas.ocel_states import BusinessStateFacts
from slas.queries import event_ids, load_snapshot
from tests.lineage.events import chain, span
from warehouse.spans import OTEL_TRACES_COLUMNS

RULES = LineageRules.default()
ENTITY = "LE-DE01"
INVOICES = interface_name(Hop(sc.INVOICE_POSTED, sc.BILLING_EVENT, (sc.BILLING_READY,)))

# (invoice, [(outcome, attempt number, trace id, span id)], whether it stands failed): every
# attempt of an invoice at the same instant; the engine meets them by trace id, then span id
TIED = [
    ("INV-1", [(sc.FAILED, 1, "a" * 32, "01" * 8), (sc.SUCCESS, 2, "a" * 32, "02" * 8)], False),
    ("INV-2", [(sc.SUCCESS, 1, "a" * 32, "03" * 8), (sc.FAILED, 2, "a" * 32, "04" * 8)], True),
    ("INV-3", [(sc.SUCCESS, 1, "a" * 32, "05" * 8), (sc.FAILED, 1, "b" * 32, "06" * 8)], True),
    ("INV-4", [(sc.FAILED, 1, "a" * 32, "07" * 8), (sc.SUCCESS, 1, "b" * 32, "08" * 8)], False),
]
"""A retry that posted, a retry that failed after a success, and replays under another trace
with the same attempt number that failed or posted: the span id decides those."""

FAILED = {f"invoice.posted:{invoice}" for invoice, _, failed in TIED if failed}
INVOICE_EVENTS = {f"invoice.posted:{invoice}" for invoice, _, _ in TIED}


def _chain(number: int, invoice: str, attempts: list[tuple[str, int, str, str]]) -> list[BusinessEvent]:
    """A clean chain whose invoice posting is ``attempts``, all at the same instant."""
    *upstream, posted = chain(
        contract=f"CTR-{number}",
        project=f"PRJ-{number}",
        entries=(f"TE-{number}",),
        billing_event=f"BE-{number}",
        invoice=invoice,
        customer=f"CUS-{number}",
    )
    return [
        *upstream,
        *(
            replace(
                posted,
                outcome=outcome,
                attempt=attempt,
                trace_id=trace_id,
                span_id=span_id,
                error_category="" if outcome == sc.SUCCESS else sc.MASTER_DATA,
                error_code="" if outcome == sc.SUCCESS else "E",
            )
            for outcome, attempt, trace_id, span_id in attempts
        ),
    ]


@pytest.fixture
def state(migrated: Client) -> BusinessState:
    """The chains stored, and the business state derived from them."""
    events = [e for n, (invoice, attempts, _) in enumerate(TIED) for e in _chain(n, invoice, attempts)]
    migrated.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.01)  # the tick's knowledge time comes after the rows'
    business = BusinessState(
        lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=timedelta(milliseconds=1)
    )
    business.tick(datetime.now(UTC))
    return business


def test_lineage_nodes_stand_failed_as_their_latest_attempt_in_attempt_order(
    migrated: Client, state: BusinessState
) -> None:
    """The nodes' reading (Python) and lineage's failed events (SQL) name the same events."""
    nodes = events_by_id(migrated, sorted(INVOICE_EVENTS), known_at=datetime.now(UTC))
    assert {e for e, node in nodes.items() if not node.succeeded} == FAILED
    assert set(failed_event_ids(migrated, [sc.INVOICE_POSTED])) == FAILED


def test_the_sla_snapshot_says_which_failed_and_since_when_as_the_nodes_do(
    migrated: Client, state: BusinessState
) -> None:
    """Failed, and the start of its current failures: the tied attempt after the success."""
    snapshot = load_snapshot(migrated, datetime.now(UTC))
    names = event_ids(migrated, snapshot.event.tolist())
    failed = {names[int(h)] for h, f in zip(snapshot.event, snapshot.failed, strict=True) if f}
    assert failed & INVOICE_EVENTS == FAILED
    nodes = events_by_id(migrated, sorted(INVOICE_EVENTS), known_at=datetime.now(UTC))
    since = {
        names[int(h)]: int(us)
        for h, us in zip(snapshot.event, snapshot.failing_since_us, strict=True)
        if names[int(h)] in INVOICE_EVENTS
    }
    assert since == {
        e: -1 if node.failed_since is None else round(node.failed_since.timestamp() * 1e6)
        for e, node in nodes.items()
    }


def test_blocked_invoices_are_those_whose_posting_failed(
    migrated: Client, state: BusinessState
) -> None:
    """The business state's blocked items are the billing events of the failed postings, each
    held by its posting."""
    answers = BlockedInvoiceAnswers(lambda: migrated, RULES, OwnerRouting(), state)
    _, blocked = answers.report(
        period=None, legal_entity=None, as_of=datetime.now(UTC), known_at=None
    )
    held = {item.object.id: {b.event_id for b in item.blocked_by} for item in blocked.items}
    assert held == {
        f"BE-{n}": {f"invoice.posted:{invoice}"}
        for n, (invoice, _, failed) in enumerate(TIED)
        if failed
    }


def test_the_audit_report_misses_the_invoices_of_the_failed_postings(
    migrated: Client, state: BusinessState
) -> None:
    """The report counts a posting only while it stands succeeded: its billing event is missing
    exactly when the posting failed."""
    request = ReportRequest("2026-09", ENTITY, datetime.now(UTC), datetime(2026, 10, 8, tzinfo=UTC))
    body = build_report(migrated, RULES, request)
    missing = {
        d["object_id"]
        for d in body["differences"]
        if d["kind"] == MISSING and d["interface"] == INVOICES
    }
    assert missing == {f"BE-{n}" for n, (_, _, failed) in enumerate(TIED) if failed}


def test_the_ocel_export_gives_each_posting_its_latest_attempt_s_outcome(
    migrated: Client, state: BusinessState
) -> None:
    request = LogRequest("2026-09", None, datetime.now(UTC))
    pages = log_pages(lambda: migrated, RULES, request, BusinessStateFacts(), shape="json")
    records = [json.loads(text) for page in pages for text in page.records]
    outcomes = {
        r["id"]: {a["name"]: a["value"] for a in r["attributes"]}["outcome"]
        for r in records
        if r["id"] in INVOICE_EVENTS
    }
    assert {e for e, outcome in outcomes.items() if outcome != sc.SUCCESS} == FAILED
    assert len(outcomes) == len(TIED)
