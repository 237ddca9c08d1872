"""The period log's events and object producers, assembled by the engine
(``lineage.ocel_queries``), say what the lineage's own Python reading says of the same stored
facts: retries, a replay under another trace, a later conflicting version and a success
followed by a failure included."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.business_event import BusinessEvent
from domain.objects import ObjectRef
from lineage.graph import Lookup
from lineage.ocel import event_relations, ocel_event
from lineage.ocel_log import LogRequest, first_produced, log_pages, producer_states
from lineage.queries import events_by_id, hop_events
from lineage.rules import LineageRules
from slas.ocel_states import BusinessStateFacts
from tests.lineage.events import Objects, attempt, chain, span
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.spans import OTEL_TRACES_COLUMNS

RULES = LineageRules.default()
DIMENSIONS = ("legal_entity", "customer")
"""Attributes the log resolves beyond what the node shows."""


def insert(client: Client, events: list[BusinessEvent]) -> None:
    client.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.01)  # later rows are stored at a later millisecond of knowledge time


@pytest.fixture
def store(client: Client) -> Client:
    migrate(client, CorrelationRules.default())
    events = chain(entries=("TE-1", "TE-2"))
    invoice_objects: Objects = dict(events[-1].objects)
    billing = events[-2]
    retried = [
        attempt(sc.INVOICE_POSTED, "invoice.posted:INV-1", invoice_objects, hours=70,
                outcome=sc.FAILED, error_category=sc.MASTER_DATA, amount="5"),
        attempt(sc.INVOICE_POSTED, "invoice.posted:INV-1", invoice_objects, hours=71,
                number=2, amount="7"),
    ]  # fmt: skip
    replayed = replace(events[0], trace_id="f" * 32, span_id="e" * 16)
    relapsed = replace(
        billing,
        timestamp=billing.timestamp + timedelta(hours=1),
        outcome=sc.FAILED,
        attempt=2,
        error_category=sc.MASTER_DATA,
        span_id="d" * 16,
    )
    insert(client, [*events[:-1], *retried, relapsed])
    insert(client, [replayed, replace(events[1], amount=Decimal("9999"))])
    return client


def test_every_event_shows_what_its_lineage_node_shows(store: Client) -> None:
    known_at = datetime.now(UTC)
    request = LogRequest("2026-09", None, known_at)
    records = [
        record
        for page in log_pages(lambda: store, RULES, request, BusinessStateFacts(), page_size=3)
        for record in page.events
    ]
    nodes = events_by_id(store, [r["id"] for r in records], known_at=known_at)
    assert len(records) == len(nodes) >= 6
    assert any(len(n.attempts) > 1 and n.replays for n in nodes.values())
    assert any(n.conflicts for n in nodes.values())
    assert any(n.success is not None and not n.succeeded for n in nodes.values())
    for record in records:
        node = nodes[record["id"]]
        relationships, _ = event_relations(node, RULES)
        own = {
            **record,
            "attributes": [a for a in record["attributes"] if a["name"] not in DIMENSIONS],
        }
        assert own == ocel_event(node, relationships)


def test_each_object_takes_the_facts_of_its_first_producer(store: Client) -> None:
    known_at = datetime.now(UTC)
    nodes = events_by_id(
        store,
        [e for (e,) in store.query("SELECT DISTINCT EventId FROM biz_events").result_rows],
        known_at=known_at,
    )
    refs = sorted(
        {ObjectRef(t, i) for n in nodes.values() for t, ids in n.objects.items() for i in ids}
    )
    producers = {**RULES.prerequisites, **RULES.producers}
    read = hop_events(
        store,
        Lookup(frozenset((r, e) for r in refs for e in producers.get(r.type, ()))),
        (),
        known_at=known_at,
    )
    python = first_produced(read.values(), RULES, set(refs).__contains__)
    engine = producer_states(store, RULES, refs, known_at)
    produced = {r: s for r, (_, s) in python.items() if r.type not in DIMENSIONS}
    assert produced, "no object has a producer: the test reads nothing"
    assert {r: s for r, s in engine.items() if r.type not in DIMENSIONS} == produced
