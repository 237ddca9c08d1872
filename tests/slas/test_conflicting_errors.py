"""A failure re-sent with the same ids and another error is a conflicting version, not the error:
close risk and blocked invoices name the error of the first stored version, as the lineage node
does (warehouse/first_stored.py), whether the step's facts are stored with its item (a time
approval) or read apart (a customer's set-up, ``FAILED_SETUPS``), on the real engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from domain import semconv as sc
from domain.business_event import BusinessEvent
from lineage.impact import BlockedInvoices
from lineage.owners import OwnerRouting
from lineage.queries import events_by_id
from lineage.rules import LineageRules
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.close_state import CloseRiskAnswers
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BlockedInvoiceAnswers
from tests.lineage.events import numbered_chain, span
from warehouse.correlation_rules import CorrelationRules
from warehouse.pool import READERS, ClientPool
from warehouse.rebuild import rebuild
from warehouse.schema import BIZ_EVENTS, OTEL_TRACES, SCHEMA_STATE, business_event_select
from warehouse.schema_state import REBUILD_KEY
from warehouse.spans import OTEL_TRACES_COLUMNS

FIRST = (sc.MASTER_DATA, "E-FIRST")
LATER = (sc.AUTH, "E-LATER")


def _failed(event: BusinessEvent, error: tuple[str, str]) -> BusinessEvent:
    return replace(event, outcome=sc.FAILED, error_category=error[0], error_code=error[1])


def _resent(event: BusinessEvent) -> BusinessEvent:
    """The same span (trace, span and event ids) with ``LATER`` and a start a minute later."""
    return replace(_failed(event, LATER), timestamp=event.timestamp + timedelta(minutes=1))


def _store(client: Client, events: list[BusinessEvent]) -> None:
    client.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.01)  # the next rows are stored at a later millisecond of knowledge time


def _setup(signed: BusinessEvent, n: int) -> BusinessEvent:
    """Chain ``n``'s customer set-up (succeeded), a span of its own."""
    return replace(
        signed,
        event_id=f"customer.synced:CUS-{n}",
        event_type=sc.CUSTOMER_SYNCED,
        objects={sc.CUSTOMER: [f"CUS-{n}"]},
        amount=None,
        span_id=f"{n:016x}".replace("0", "c", 1),
    )


@pytest.fixture
def conflicted(migrated: Client) -> tuple[BusinessState, dict[str, str]]:
    """Three chains, each with one step stored first and re-sent under the same trace, span and
    event ids with ``LATER`` a minute later: chain 1's time approval, failed first with ``FIRST``
    (its billing event waits for it); chain 2's customer set-up, failed first with ``FIRST`` (its
    invoice posting failed too); chain 3's set-up, stored first as a success (its invoice posting
    failed). The business state derived after both versions; the re-sent steps by the billing
    event or invoice they hold, and chain 3's posting."""
    signed, activated, approved, ready, _ = numbered_chain(1)
    approval = _failed(approved, FIRST)
    signed2, activated2, approved2, ready2, posted2 = numbered_chain(2)
    synced = _failed(_setup(signed2, 2), FIRST)
    posting = _failed(posted2, (sc.MASTER_DATA, "E-POSTING"))
    signed3, activated3, approved3, ready3, posted3 = numbered_chain(3)
    synced3 = _setup(signed3, 3)
    posting3 = _failed(posted3, (sc.MASTER_DATA, "E-POSTING"))
    _store(
        migrated,
        [
            signed,
            activated,
            approval,
            ready,
            signed2,
            activated2,
            approved2,
            ready2,
            posting,
            synced,
            signed3,
            activated3,
            approved3,
            ready3,
            posting3,
            synced3,
        ],
    )
    # re-sent a minute later by the clock of the sender: in attempt order the later version
    # comes last, so only the first stored rule keeps its error from counting
    _store(migrated, [_resent(approval), _resent(synced), _resent(synced3)])
    versions = migrated.query(
        "SELECT EventId, uniqExact(ErrorCode) FROM biz_events "
        "WHERE EventId IN {ids:Array(String)} GROUP BY EventId",
        parameters={"ids": [approval.event_id, synced.event_id, synced3.event_id]},
    ).result_rows
    assert sorted(versions) == sorted(
        [(approval.event_id, 2), (synced.event_id, 2), (synced3.event_id, 2)]
    )
    business = BusinessState(
        lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=timedelta(milliseconds=1)
    )
    business.tick(datetime.now(UTC))
    return business, {
        "BE-1": approval.event_id,
        "INV-2": synced.event_id,
        "INV-3": synced3.event_id,
        "INV-3 posting": posting3.event_id,
    }


def test_the_lineage_node_shows_the_first_stored_error(
    migrated: Client, conflicted: tuple[BusinessState, dict[str, str]]
) -> None:
    _, steps = conflicted
    nodes = events_by_id(migrated, sorted(steps.values()), known_at=datetime.now(UTC))
    for held in ("BE-1", "INV-2"):
        node = nodes[steps[held]]
        assert (node.decisive.error_category, node.decisive.error_code) == FIRST
        assert node.conflicts
    assert nodes[steps["INV-3"]].succeeded
    assert nodes[steps["INV-3"]].conflicts


def test_blocked_invoices_name_the_first_stored_error(
    migrated: Client, conflicted: tuple[BusinessState, dict[str, str]]
) -> None:
    state, steps = conflicted
    answers = BlockedInvoiceAnswers(lambda: migrated, LineageRules.default(), OwnerRouting(), state)
    _, blocked = answers.report(
        period=None, legal_entity=None, as_of=datetime.now(UTC), known_at=None
    )
    errors = {
        (item.object.id, b.event_id): (b.error_category, b.error_code)
        for item in blocked.items
        for b in item.blocked_by
    }
    assert errors[("BE-1", steps["BE-1"])] == FIRST
    assert errors[("BE-2", steps["INV-2"])] == FIRST  # the set-up: read with FAILED_SETUPS
    assert LATER not in errors.values()
    # chain 3's set-up succeeded first; its failed re-send holds nothing: only the posting does
    assert {e for item, e in errors if item == "BE-3"} == {steps["INV-3 posting"]}


def test_set_ups_read_beside_the_answer_give_the_same_answer_or_fail_it(
    migrated: Client,
    engine_url: str,
    database: str,
    conflicted: tuple[BusinessState, dict[str, str]],
) -> None:
    """With a client per thread the failed set-ups (``FAILED_SETUPS``) are read on a reader
    thread while the answer's own reads the rest: the same answer as with one client. When that
    read fails, the answer fails with its error, not with a shorter list of blockers."""
    state, steps = conflicted
    caller = threading.current_thread()

    def answer(client: Callable[[], Client]) -> tuple[datetime, BlockedInvoices]:
        answers = BlockedInvoiceAnswers(client, LineageRules.default(), OwnerRouting(), state)
        return answers.report(
            period=None, legal_entity=None, as_of=datetime.now(UTC), known_at=None
        )

    pool = ClientPool(engine_url, database=database)
    # a reader's client that connects and whose every read fails: no tables (a missing database
    # would fail the factory already, before any read)
    migrated.command(f"CREATE DATABASE {database}_empty")
    elsewhere = ClientPool(engine_url, database=f"{database}_empty")
    try:
        read_apart = answer(pool.client)
        assert read_apart == answer(lambda: migrated)
        named = {b.event_id for item in read_apart[1].items for b in item.blocked_by}
        assert steps["INV-2"] in named  # the set-up
        with pytest.raises(DatabaseError, match="UNKNOWN_TABLE"):
            answer(lambda: migrated if threading.current_thread() is caller else elsewhere.client())
    finally:
        pool.close()
        elsewhere.close()
        migrated.command(f"DROP DATABASE IF EXISTS {database}_empty")


def test_set_ups_read_beside_the_answer_do_not_queue_behind_the_process_read_ahead(
    engine_url: str,
    database: str,
    conflicted: tuple[BusinessState, dict[str, str]],
) -> None:
    """Both of the process's read-ahead threads (``READERS``) held, as two OCEL exports' page
    reads hold them for seconds at a quarter's scale: the answer still reads its set-ups beside
    itself, on a thread of its own pool, and ends."""
    state, _ = conflicted
    pool = ClientPool(engine_url, database=database)
    asked: list[str] = []

    def client() -> Client:
        asked.append(threading.current_thread().name)
        return pool.client()

    release = threading.Event()
    held = [READERS.submit(release.wait, 60) for _ in range(2)]
    answered: list[BlockedInvoices] = []
    try:
        answers = BlockedInvoiceAnswers(client, LineageRules.default(), OwnerRouting(), state)
        thread = threading.Thread(
            target=lambda: answered.append(
                answers.report(
                    period=None, legal_entity=None, as_of=datetime.now(UTC), known_at=None
                )[1]
            )
        )
        thread.start()
        thread.join(timeout=30)
        assert answered, "the answer waited for the process's read-ahead threads"
        assert answered[0].items
        assert any(name.startswith("answer-read") for name in asked)
    finally:
        release.set()
        for future in held:
            future.result()
        pool.close()


@pytest.mark.parametrize("from_sums", [True, False], ids=["summed", "oracle"])
def test_close_risk_names_the_first_stored_error(
    migrated: Client, conflicted: tuple[BusinessState, dict[str, str]], from_sums: bool
) -> None:
    state, _ = conflicted
    answers = CloseRiskAnswers(lambda: migrated, CalendarBook(), state, from_sums=from_sums)
    _, report = answers.report(period=None, as_of=datetime.now(UTC), known_at=None)
    errors = {
        (c["object"]["id"], c["failed_event_type"]): (c["error_category"], c["error_code"])
        for risk in report
        for c in risk["contributors"]
        if c["error_code"]
    }
    assert errors[("BE-1", sc.TIME_APPROVED)] == FIRST
    assert LATER not in errors.values()


@pytest.mark.parametrize("rebuilt", ["the same facts", "new facts, by another process"])
def test_close_risk_errors_kept_for_a_knowledge_time_follow_a_rebuild(
    migrated: Client, conflicted: tuple[BusinessState, dict[str, str]], rebuilt: str
) -> None:
    """The summed answer keeps the blocking events' attempts per knowledge time
    (``slas.error_attempts``). A rebuild that derives every fact again as it was keeps their
    knowledge time: asked again at the knowledge time before it, the answer names the errors it
    named. Facts stored anew, known later (what a rebuild under rules that change every fact
    stores; here written by another process, seen through the state's reading of the rebuild
    record), were not known then: the answer names no error, as the oracle reads it, not the
    errors it kept."""
    state = BusinessState(
        lambda: migrated,
        DEFAULT_SLAS,
        CalendarBook(),
        settle=timedelta(milliseconds=1),
        answer_watermarks_seconds=0,
    )
    answers = CloseRiskAnswers(lambda: migrated, CalendarBook(), state)
    oracle = CloseRiskAnswers(lambda: migrated, CalendarBook(), state, from_sums=False)
    as_of = datetime.now(UTC)

    def errors(report: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str]]:
        return {
            (c["object"]["id"], c["failed_event_type"]): (c["error_category"], c["error_code"])
            for risk in report
            for c in risk["contributors"]
            if c["failed_event_type"]
        }

    known, before = answers.report(period=None, as_of=as_of, known_at=None)
    assert errors(before)[("BE-1", sc.TIME_APPROVED)] == FIRST
    if rebuilt == "the same facts":
        rebuild(migrated, CorrelationRules.default())
    else:
        migrated.command(f"TRUNCATE TABLE {BIZ_EVENTS}")
        migrated.command(
            f"INSERT INTO {BIZ_EVENTS}\n"
            f"{business_event_select(CorrelationRules.default(), OTEL_TRACES)}"
        )
        migrated.insert(
            SCHEMA_STATE,
            [[REBUILD_KEY, "done", datetime.now(UTC)]],
            column_names=["Key", "Value", "UpdatedAt"],
        )
    _, after = answers.report(period=None, as_of=as_of, known_at=known)
    _, read = oracle.report(period=None, as_of=as_of, known_at=known)
    assert errors(after) == errors(read)
    known_then = FIRST if rebuilt == "the same facts" else (None, None)
    assert errors(after)[("BE-1", sc.TIME_APPROVED)] == known_then


def test_answers_at_a_known_at_before_a_rebuild_are_what_they_were(
    migrated: Client, conflicted: tuple[BusinessState, dict[str, str]]
) -> None:
    """A rebuild under the same rules keeps every fact's knowledge time: blocked invoices (their
    failed set-ups, read from the business rows) and close risk (its errors) asked again at the
    knowledge time before it are the answers given then, and the tick after it writes no
    version."""
    state, steps = conflicted
    blocked = BlockedInvoiceAnswers(lambda: migrated, LineageRules.default(), OwnerRouting(), state)
    risk = CloseRiskAnswers(lambda: migrated, CalendarBook(), state)
    as_of = datetime.now(UTC)
    known, blocked_before = blocked.report(
        period=None, legal_entity=None, as_of=as_of, known_at=None
    )
    _, risk_before = risk.report(period=None, as_of=as_of, known_at=known)
    assert steps["INV-2"] in {b.event_id for item in blocked_before.items for b in item.blocked_by}
    rebuild(migrated, CorrelationRules.default())
    assert state.tick(datetime.now(UTC)).versions == 0
    after = blocked.report(period=None, legal_entity=None, as_of=as_of, known_at=known)
    assert after == (known, blocked_before)
    assert risk.report(period=None, as_of=as_of, known_at=known) == (known, risk_before)
