"""Facts are append-only on the real engine: a span re-sent with other content is kept as a second
version and listed as a conflict while the first stored fact counts, an exact re-send is one fact,
merges change neither, the ledger holds every version, and a replay under a new event id is an
attempt of the original event."""

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
from lineage.evidence import evidence_records
from lineage.facts import CONTENT_NAMES, content_hash, fact_leaf
from lineage.graph import UPSTREAM, EventNode
from lineage.ledger import FactIdentity, Ledger, day_end
from lineage.merkle import leaf_hash, verify_inclusion
from lineage.models import node_out
from lineage.queries import FactReader, events_by_id, raw_spans, stored_facts
from lineage.rules import LineageRules
from lineage.signing import Signer
from lineage.traversal import trace
from tests.lineage.events import attempt, chain, span
from warehouse.queries import events_of_object
from warehouse.spans import OTEL_TRACES_COLUMNS

INVOICE = ObjectRef(sc.INVOICE, "INV-1")


def load(client: Client, events: list[BusinessEvent]) -> datetime:
    """Store the events' spans; the instant just after they were stored."""
    client.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.01)  # the next rows are stored at a later millisecond of knowledge time
    stored = datetime.now(UTC)
    time.sleep(0.01)
    return stored


@pytest.fixture
def store(migrated: Client) -> Client:
    return migrated


def invoice_node(client: Client, invoice: BusinessEvent, **kwargs: datetime) -> EventNode:
    return events_by_id(client, [invoice.event_id], **kwargs)[invoice.event_id]


def merge(client: Client) -> None:
    """Merge every part, as the engine eventually does on its own."""
    for table in ("biz_events", "biz_event_objects"):
        client.command(f"OPTIMIZE TABLE {table} FINAL")


class TestConflictingVersions:
    def test_a_re_sent_span_with_another_amount_is_listed_while_the_first_counts(
        self, store: Client
    ) -> None:
        """Same event, trace and span id, another amount: the node keeps the first amount and
        lists the later version with its knowledge time, content hash and the amounts."""
        events = chain()
        first_stored = load(store, events)
        invoice = events[-1]
        load(store, [replace(invoice, amount=Decimal("9999"))])

        node = invoice_node(store, invoice)
        [conflict] = node.conflicts
        assert node.amount == invoice.amount
        assert len(node.attempts) == 1
        assert [name for name, _, _ in conflict.differs] == ["amount"]
        [(_, first, later)] = conflict.differs
        assert (Decimal(first), Decimal(later)) == (invoice.amount, Decimal("9999"))
        assert conflict.ingested_at > first_stored
        assert conflict.content_hash == content_hash(conflict.fact.texts)
        assert (conflict.trace_id, conflict.span_id) == (invoice.trace_id, invoice.span_id)
        out = node_out(node)
        assert out.amount is not None
        assert Decimal(str(out.amount)) == invoice.amount
        assert [d.field for d in out.conflicts[0].differs] == ["amount"]

    def test_an_exact_re_send_is_one_fact_without_conflict(self, store: Client) -> None:
        """The same span stored twice as it was: one attempt, no conflict."""
        events = chain()
        load(store, events)
        load(store, [events[-1]])
        node = invoice_node(store, events[-1])
        assert (len(node.attempts), node.conflicts) == (1, ())

    def test_merges_keep_every_version_and_the_first_stored_copy(self, store: Client) -> None:
        """After the engine merged its parts the conflicting version is still stored, and an
        exact re-send did not move the fact's knowledge time: an answer for a known_at between
        the first store and the re-sends is what it was."""
        events = chain()
        between = load(store, events)
        invoice = events[-1]
        load(store, [invoice])
        load(store, [replace(invoice, amount=Decimal("9999"))])
        merge(store)

        assert store.query("SELECT count() FROM biz_events").result_rows[0][0] == len(events) + 1
        latest = invoice_node(store, invoice)
        then = invoice_node(store, invoice, known_at=between)
        assert latest.amount == then.amount == invoice.amount
        assert (len(latest.conflicts), then.conflicts) == (1, ())

    def test_an_evidence_pack_for_a_known_at_before_the_conflict_does_not_change(
        self, store: Client
    ) -> None:
        """A version stored after known_at is not in the pack: its records are the same before
        and after the re-send; a later known_at lists the conflict with its stored fact."""
        events = chain()
        moment = load(store, events)
        invoice = events[-1]
        rules = LineageRules.default()

        def records(known_at: datetime) -> list[dict[str, object]]:
            reader = FactReader(store, known_at=known_at)
            lineage = trace(
                store,
                rules,
                INVOICE.type,
                INVOICE.id,
                UPSTREAM,
                known_at=known_at,
                read_nodes=reader,
            )
            facts = reader.facts_of(lineage.nodes)
            spans = raw_spans(store, (fact for versions in facts.values() for fact in versions))
            return evidence_records(lineage, INVOICE, spans, facts, known_at=known_at)

        before = records(moment)
        later = load(store, [replace(invoice, amount=Decimal("9999"))])
        assert records(moment) == before
        [record] = [r for r in records(later) if r.get("event_id") == invoice.event_id]
        [conflict] = record["conflicts"]
        [stored] = record["attempts"]
        assert Decimal(stored["fact"]["amount"]) == invoice.amount
        assert Decimal(conflict["fact"]["amount"]) == Decimal("9999")
        assert [d["field"] for d in conflict["differs"]] == ["amount"]
        assert conflict["content_hash"] != stored["content_hash"]
        assert {name: stored["fact"][name] for name in CONTENT_NAMES if name != "amount"} == {
            name: conflict["fact"][name] for name in CONTENT_NAMES if name != "amount"
        }

    def test_the_events_of_an_object_show_each_attempt_once_in_its_first_version(
        self, store: Client
    ) -> None:
        """The object's event listing (the REST objects route) counts the first stored fact."""
        events = chain()
        load(store, events)
        invoice = events[-1]
        load(store, [replace(invoice, amount=Decimal("9999"))])
        listed, _ = events_of_object(store, object_type=sc.INVOICE, object_id="INV-1", limit=10)
        assert [(e.event_id, e.amount) for e in listed] == [(invoice.event_id, invoice.amount)]


class TestLedger:
    def test_every_stored_version_is_a_proven_leaf_and_an_exact_re_send_is_none(
        self, store: Client
    ) -> None:
        """Sealing the day takes in the conflicting version as a fact of its own; the re-send as
        it was adds nothing; both versions are proven against the day's head."""
        events = chain()
        load(store, events)
        invoice = events[-1]
        load(store, [invoice])
        load(store, [replace(invoice, amount=Decimal("9999"))])
        ledger = Ledger(Signer.generate())
        now = datetime.now(UTC) + timedelta(seconds=1)
        head = ledger.seal_day(store, now.date(), until=now, now=now)
        assert head.tree_size == len(events) + 1

        versions = stored_facts(store, [invoice.event_id], known_at=now)[
            (invoice.event_id, invoice.trace_id, invoice.span_id)
        ]
        assert len(versions) == 2
        identities = [
            FactIdentity(
                invoice.event_id,
                invoice.trace_id,
                invoice.span_id,
                datetime.fromisoformat(v["ingested_at"]).replace(tzinfo=UTC),
            )
            for v in (version.texts for version in versions)
        ]
        proofs = ledger.proofs(store, identities)
        assert proofs["unproven"] == []
        for version, proof in zip(versions, proofs["proofs"], strict=True):
            path = [bytes.fromhex(h) for h in proof["audit_path"]]
            root = bytes.fromhex(head.root_hash)
            leaf = leaf_hash(fact_leaf(version.texts))
            assert verify_inclusion(leaf, proof["leaf_index"], head.tree_size, path, root)
        assert day_end(now.date()) > now


class TestReplays:
    def test_a_replay_under_a_new_event_id_is_another_attempt_of_the_original(
        self, store: Client
    ) -> None:
        """Middleware replays the failed invoice posting under a new event id naming the original
        in biz.replay.of: the lineage has one invoice node with two attempts that succeeded."""
        events = chain()
        invoice = events[-1]
        failed = replace(invoice, outcome=sc.FAILED, error_category="master_data")
        replayed = attempt(
            sc.INVOICE_POSTED,
            "invoice.posted:INV-1:replay-1",
            {t: list(ids) for t, ids in invoice.objects.items()},
            hours=80,
            amount=str(invoice.amount),
            replay_of=invoice.event_id,
        )
        load(store, [*events[:-1], failed, replayed])

        lineage = trace(store, LineageRules.default(), INVOICE.type, INVOICE.id, UPSTREAM)
        posted = [n for n in lineage.nodes if n.event_type == sc.INVOICE_POSTED]
        assert [n.event_id for n in posted] == [invoice.event_id]
        [node] = posted
        assert [a.span_id for a in node.attempts] == [invoice.span_id, replayed.span_id]
        assert (node.succeeded, node.replays) == (True, 1)
        assert lineage.complete
