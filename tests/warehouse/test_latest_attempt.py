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
from domain.instants import utc
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
from tests.lineage.events import numbered_chain, span
from warehouse.spans import OTEL_TRACES_COLUMNS

RULES = LineageRules.default()
ENTITY = "LE-DE01"
INVOICES = interface_name(Hop(sc.INVOICE_POSTED, sc.BILLING_EVENT, (sc.BILLING_READY,)))
BILLING = interface_name(Hop(sc.BILLING_READY, sc.TIME_ENTRY, (sc.TIME_APPROVED,)))

TIES = [
    ([(sc.FAILED, 1, "a"), (sc.SUCCESS, 2, "a")], False),
    ([(sc.SUCCESS, 1, "a"), (sc.FAILED, 2, "a")], True),
    ([(sc.SUCCESS, 1, "a"), (sc.FAILED, 1, "b")], True),
    ([(sc.FAILED, 1, "a"), (sc.SUCCESS, 1, "b")], False),
]
"""Attempts of one event at one instant, (outcome, attempt number, trace), each under a higher
span id than the one before, and whether the event stands failed: a retry that succeeded, a
retry that failed after a success, and replays under another trace with the same number that
failed or succeeded (the span id decides those). The engine meets an event's attempts by trace
id, then span id: the first met was the wrong one for each, where only the instant (or the
instant and the number) ordered them."""

POSTINGS = range(len(TIES))
"""Chains whose invoice posting's attempts are ``TIES``' (the same index)."""
APPROVALS = range(len(TIES), 2 * len(TIES))
"""Chains, not yet invoiced, whose time approval's attempts are ``TIES``' (index less four)."""


def _tied(event: BusinessEvent, chain_number: int, ties: int) -> list[BusinessEvent]:
    """``event``'s attempts as ``TIES[ties]`` says, all at its instant."""
    attempts, _ = TIES[ties]
    return [
        replace(
            event,
            outcome=outcome,
            attempt=number,
            trace_id=trace * 32,
            span_id=f"{chain_number:08x}{index:08x}",
            error_category="" if outcome == sc.SUCCESS else sc.MASTER_DATA,
            error_code="" if outcome == sc.SUCCESS else "E",
        )
        for index, (outcome, number, trace) in enumerate(attempts)
    ]


def _chain(number: int) -> list[BusinessEvent]:
    """Chain ``number``: a posting tied as ``TIES`` says, or a time approval before no invoice."""
    signed, activated, approved, ready, posted = numbered_chain(number)
    if number in POSTINGS:
        return [signed, activated, approved, ready, *_tied(posted, number, number)]
    return [signed, activated, *_tied(approved, number, number - len(TIES)), ready]


def _stands_failed(number: int) -> bool:
    return TIES[number % len(TIES)][1]


TIED_EVENTS = {f"invoice.posted:INV-{n}" for n in POSTINGS} | {
    f"time.approved:TE-{n}" for n in APPROVALS
}
FAILED = {f"invoice.posted:INV-{n}" for n in POSTINGS if _stands_failed(n)} | {
    f"time.approved:TE-{n}" for n in APPROVALS if _stands_failed(n)
}


@pytest.fixture
def state(migrated: Client) -> BusinessState:
    """The chains stored, and the business state derived from them."""
    events = [e for n in (*POSTINGS, *APPROVALS) for e in _chain(n)]
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
    nodes = events_by_id(migrated, sorted(TIED_EVENTS), known_at=datetime.now(UTC))
    assert {e for e, node in nodes.items() if not node.succeeded} == FAILED
    failed = failed_event_ids(migrated, [sc.INVOICE_POSTED, sc.TIME_APPROVED])
    assert set(failed) == FAILED


def test_the_sla_snapshot_says_which_failed_and_since_when_as_the_nodes_do(
    migrated: Client, state: BusinessState
) -> None:
    """Failed, and the start of its current failures (the instant of the tie when the failure
    comes after the success), as the lineage node says."""
    snapshot = load_snapshot(migrated, datetime.now(UTC))
    names = event_ids(migrated, snapshot.event.tolist())
    failed = {names[int(h)] for h, f in zip(snapshot.event, snapshot.failed, strict=True) if f}
    assert failed == FAILED
    nodes = events_by_id(migrated, sorted(TIED_EVENTS), known_at=datetime.now(UTC))
    since = {
        names[int(h)]: int(us)
        for h, us in zip(snapshot.event, snapshot.failing_since_us, strict=True)
        if names[int(h)] in TIED_EVENTS
    }
    assert since == {
        e: -1 if node.failed_since is None else round(node.failed_since.timestamp() * 1e6)
        for e, node in nodes.items()
    }
    assert sum(us > 0 for us in since.values()) == len(FAILED)


def test_blocked_invoices_are_those_a_failed_approval_holds(
    migrated: Client, state: BusinessState
) -> None:
    """A failed event stops what it feeds even after it once took effect: the billing events
    not yet invoiced are blocked exactly when their time approval stands failed, held by it
    since the instant of the tie. (A posting that took effect posts its item, failed or not.)"""
    answers = BlockedInvoiceAnswers(lambda: migrated, RULES, OwnerRouting(), state)
    _, blocked = answers.report(
        period=None, legal_entity=None, as_of=datetime.now(UTC), known_at=None
    )
    held = {
        item.object.id: {(b.event_id, b.failed_since) for b in item.blocked_by}
        for item in blocked.items
    }
    nodes = events_by_id(migrated, sorted(TIED_EVENTS), known_at=datetime.now(UTC))
    assert held == {
        f"BE-{n}": {(e, nodes[e].failed_since)}
        for n in APPROVALS
        if _stands_failed(n)
        for e in [f"time.approved:TE-{n}"]
    }


def test_the_audit_report_counts_the_events_that_stand_succeeded(
    migrated: Client, state: BusinessState
) -> None:
    """The report counts an event only while it stands succeeded: a billing event is missing
    its invoice exactly when the posting failed (or was never made), and a time entry is an
    item of its interface exactly when its approval succeeded."""
    request = ReportRequest("2026-09", ENTITY, datetime.now(UTC), datetime(2026, 10, 8, tzinfo=UTC))
    body = build_report(migrated, RULES, request)
    missing = {
        d["object_id"]
        for d in body["differences"]
        if d["kind"] == MISSING and d["interface"] == INVOICES
    }
    assert missing == {f"BE-{n}" for n in POSTINGS if _stands_failed(n)} | {
        f"BE-{n}" for n in APPROVALS
    }
    [billing] = [i for i in body["interfaces"] if i["interface"] == BILLING]
    assert billing["items"] == len(POSTINGS) + sum(not _stands_failed(n) for n in APPROVALS)


def test_the_ocel_export_gives_each_event_its_latest_attempt_s_outcome(
    migrated: Client, state: BusinessState
) -> None:
    request = LogRequest("2026-09", None, datetime.now(UTC))
    pages = log_pages(lambda: migrated, RULES, request, BusinessStateFacts(), shape="json")
    records = [json.loads(text) for page in pages for text in page.records]
    outcomes = {
        r["id"]: {a["name"]: a["value"] for a in r["attributes"]}["outcome"]
        for r in records
        if r["id"] in TIED_EVENTS
    }
    assert {e for e, outcome in outcomes.items() if outcome != sc.SUCCESS} == FAILED
    assert outcomes.keys() == TIED_EVENTS


def test_a_failed_set_up_tied_with_its_success_holds_the_invoice_since_the_tie(
    migrated: Client,
) -> None:
    """A blocker without stored facts (the customer's set-up, a prerequisite: ``BLOCKERS``) is
    read in attempt order too: its success and the failed retry stamped alike leave it failed
    since that instant, as its lineage node says (by instant alone no failure came after the
    success, and the run of failures had no start)."""
    number = 100
    signed, activated, approved, ready, posted = numbered_chain(number)
    failed_posting = replace(
        posted, outcome=sc.FAILED, error_category=sc.MASTER_DATA, error_code="E"
    )
    synced = replace(
        signed,
        event_id=f"customer.synced:CUS-{number}",
        event_type=sc.CUSTOMER_SYNCED,
        objects={sc.CUSTOMER: [f"CUS-{number}"]},
        amount=None,
    )
    events = [signed, activated, approved, ready, failed_posting, *_tied(synced, number, 1)]
    migrated.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.01)
    business = BusinessState(
        lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=timedelta(milliseconds=1)
    )
    business.tick(datetime.now(UTC))
    answers = BlockedInvoiceAnswers(lambda: migrated, RULES, OwnerRouting(), business)
    _, blocked = answers.report(
        period=None, legal_entity=None, as_of=datetime.now(UTC), known_at=None
    )
    nodes = events_by_id(migrated, [synced.event_id], known_at=datetime.now(UTC))
    assert nodes[synced.event_id].failed_since == utc(synced.timestamp)
    [item] = blocked.items
    assert item.object.id == f"BE-{number}"
    assert {(b.event_id, b.failed_since) for b in item.blocked_by} >= {
        (synced.event_id, nodes[synced.event_id].failed_since)
    }
