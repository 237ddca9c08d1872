"""Builders of business-event attempts for lineage tests: as ``BusinessEvent`` values for the pure
core, and as exporter-shaped ``otel_traces`` rows for the tests that go through ClickHouse."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain import semconv as sc
from domain.business_event import BusinessEvent
from lineage.graph import Graph, group_attempts, link_downstream, link_upstream
from lineage.rules import LineageRules
from tests.warehouse.spans import span_row

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)

Objects = dict[str, str | list[str]]


def at(hours: float) -> datetime:
    """``hours`` after T0."""
    return T0 + timedelta(hours=hours)


def attempt(
    event_type: str,
    event_id: str,
    objects: Objects,
    *,
    hours: float,
    outcome: str = sc.SUCCESS,
    number: int = 1,
    trace_id: str | None = None,
    amount: str | None = None,
    period: str = "2026-09",
    error_category: str = "",
    replay_of: str = "",
) -> BusinessEvent:
    """One attempt of a business event, ``hours`` after T0."""
    serial = next(_ids)
    refs = {t: [ids] if isinstance(ids, str) else list(ids) for t, ids in objects.items()}
    return BusinessEvent(
        event_id=event_id,
        event_type=event_type,
        timestamp=at(hours),
        source_system=sc.PSA,
        target_system=sc.ERP,
        outcome=outcome,
        attempt=number,
        amount=Decimal(amount) if amount else None,
        currency="EUR" if amount else "",
        period=period,
        legal_entity=(refs.get(sc.LEGAL_ENTITY) or [""])[0],
        error_category=error_category,
        error_code="E" if error_category else "",
        replay_of=replay_of,
        service_name="mw-test",
        trace_id=trace_id or f"{serial:032x}",
        span_id=f"{serial:016x}",
        objects=refs,
    )


def span(event: BusinessEvent) -> tuple[Any, ...]:
    """The exporter row of an attempt (the derived tables turn it back into the attempt)."""
    attributes = {
        sc.EVENT_TYPE: event.event_type,
        sc.EVENT_ID: event.event_id,
        sc.SOURCE_SYSTEM: event.source_system,
        sc.TARGET_SYSTEM: event.target_system,
        sc.OUTCOME: event.outcome,
        sc.ATTEMPT: str(event.attempt),
        sc.PERIOD: event.period,
    }
    if event.amount is not None:
        attributes[sc.AMOUNT] = str(event.amount)
        attributes[sc.CURRENCY] = event.currency
    if event.error_category:
        attributes[sc.ERROR_CATEGORY] = event.error_category
        attributes[sc.ERROR_CODE] = event.error_code
    if event.replay_of:
        attributes[sc.REPLAY_OF] = event.replay_of
    for object_type, ids in event.objects.items():
        value = ids[0] if len(ids) == 1 else "[" + ",".join(f'"{i}"' for i in ids) + "]"
        attributes[sc.object_id_key(object_type)] = value
    start_ns = int((event.timestamp - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10**9
    start_ns += event.timestamp.microsecond * 1000
    return span_row(
        attributes,
        trace_id=event.trace_id,
        span_id=event.span_id,
        start_ns=start_ns,
        status_code="Error" if event.outcome != sc.SUCCESS else "Unset",
        service_name=event.service_name,
    )


def chain(
    *,
    contract: str = "CTR-1",
    project: str = "PRJ-1",
    entries: tuple[str, ...] = ("TE-1",),
    billing_event: str = "BE-1",
    invoice: str = "INV-1",
    entity: str = "LE-DE01",
    customer: str = "CUS-1",
) -> list[BusinessEvent]:
    """A clean professional-services chain: signed → activated → time → billing → invoice."""
    events = [
        attempt(
            sc.CONTRACT_SIGNED,
            f"contract.signed:{contract}",
            {
                sc.CONTRACT: contract,
                sc.CUSTOMER: customer,
                sc.LEGAL_ENTITY: entity,
                sc.OBLIGATION: f"POB-{contract}",
            },
            hours=0,
            amount="100000",
            period="",
        ),
        attempt(
            sc.PROJECT_ACTIVATED,
            f"project.activated:{project}",
            {sc.PROJECT: project, sc.CONTRACT: contract, sc.LEGAL_ENTITY: entity},
            hours=2,
            period="",
        ),
    ]
    for number, entry in enumerate(entries):
        events.append(
            attempt(
                sc.TIME_APPROVED,
                f"time.approved:{entry}",
                {sc.TIME_ENTRY: entry, sc.PROJECT: project},
                hours=24 + number,
                amount="1000",
            )
        )
    events.append(
        attempt(
            sc.BILLING_READY,
            f"billing.ready:{billing_event}",
            {sc.BILLING_EVENT: billing_event, sc.PROJECT: project, sc.TIME_ENTRY: list(entries)},
            hours=72,
            amount=str(1000 * len(entries)),
        )
    )
    events.append(
        attempt(
            sc.INVOICE_POSTED,
            f"invoice.posted:{invoice}",
            {
                sc.INVOICE: invoice,
                sc.BILLING_EVENT: billing_event,
                sc.PROJECT: project,
                sc.CUSTOMER: customer,
                sc.LEGAL_ENTITY: entity,
            },
            hours=73,
            amount=str(1000 * len(entries)),
        )
    )
    return events


def numbered_chain(number: int) -> list[BusinessEvent]:
    """``chain`` with every id numbered ``number`` (contract, project, entry, billing event,
    invoice, customer): signed, activated, approved, ready, posted, each succeeded."""
    return chain(
        contract=f"CTR-{number}",
        project=f"PRJ-{number}",
        entries=(f"TE-{number}",),
        billing_event=f"BE-{number}",
        invoice=f"INV-{number}",
        customer=f"CUS-{number}",
    )


def graph_of(events: Iterable[BusinessEvent], rules: LineageRules | None = None) -> Graph:
    """Every edge the rules allow among the events (what a traversal would collect)."""
    rules = rules or LineageRules.default()
    nodes = group_attempts(events)
    edges = set(link_upstream(nodes.values(), nodes.values(), rules))
    edges |= set(link_downstream(nodes.values(), nodes.values(), rules))
    return Graph(nodes, edges)
