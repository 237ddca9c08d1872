"""An evidence pack read the short way (the traversal's last read keeps every stored version,
raw spans found through the sort key of ``otel_traces``) holds the same records, root hash and
proofs as the pack read the long way: nodes by id, the versions in a read of their own and every
raw copy of the attempts' spans by their ids. Checked with redelivered spans, a conflicting
version, and facts stored before migration 13 (which do not know their raw copy)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.objects import ObjectRef
from lineage.evidence import evidence_records, seal
from lineage.graph import BOTH, UPSTREAM
from lineage.ledger import FactIdentity, Ledger
from lineage.queries import (
    RAW_SPAN_COLUMNS,
    RAW_SPAN_SELECT,
    FactReader,
    raw_spans,
    stored_facts,
)
from lineage.rules import LineageRules
from lineage.signing import Signer
from lineage.traversal import trace
from tests.lineage.events import chain
from tests.lineage.test_conflicts import load

RULES = LineageRules.default()
INVOICE = ObjectRef(sc.INVOICE, "INV-1")


@pytest.fixture
def store(migrated: Client) -> Client:
    return migrated


def every_copy(client: Client, spans: set[tuple[str, str]]) -> dict[tuple[str, str, int], Any]:
    """Every raw copy of the spans, found by their ids in the whole table (the reference)."""
    rows = client.query(
        f"{RAW_SPAN_SELECT} WHERE (TraceId, SpanId) IN {{spans:Array(Tuple(String, String))}}",
        parameters={"spans": sorted(spans)},
    ).result_rows
    return {
        (str(row[0]), str(row[1]), int(row[-1])): dict(zip(RAW_SPAN_COLUMNS, row[:-1], strict=True))
        for row in rows
    }


def pack_read_once(client: Client, direction: str, known_at: datetime) -> dict[str, Any]:
    reader = FactReader(client, known_at=known_at)
    lineage = trace(
        client, RULES, INVOICE.type, INVOICE.id, direction, known_at=known_at, read_nodes=reader
    )
    facts = reader.facts_of(lineage.nodes)
    spans = raw_spans(client, (fact for versions in facts.values() for fact in versions))
    return {
        "facts": facts,
        **seal(evidence_records(lineage, INVOICE, spans, facts, known_at=known_at)),
    }


def pack_read_the_long_way(client: Client, direction: str, known_at: datetime) -> dict[str, Any]:
    lineage = trace(client, RULES, INVOICE.type, INVOICE.id, direction, known_at=known_at)
    facts = stored_facts(client, [node.event_id for node in lineage.nodes], known_at=known_at)
    spans = every_copy(client, {(a.trace_id, a.span_id) for n in lineage.nodes for a in n.attempts})
    return {
        "facts": facts,
        **seal(evidence_records(lineage, INVOICE, spans, facts, known_at=known_at)),
    }


def proofs(client: Client, ledger: Ledger, facts: dict[Any, Any]) -> dict[str, Any]:
    identities = [
        FactIdentity(e, t, s, datetime.fromisoformat(f.texts["ingested_at"]).replace(tzinfo=UTC))
        for (e, t, s), versions in facts.items()
        for f in versions
    ]
    return ledger.proofs(client, identities)


def stored_with_versions(client: Client) -> tuple[datetime, datetime]:
    """A chain whose invoice span was redelivered as it was and then re-sent with another amount:
    the instant before the conflicting version and the one after it."""
    events = chain()
    load(client, events)
    invoice = events[-1]
    before = load(client, [invoice, events[0]])  # redeliveries: the same facts stored again
    after = load(client, [replace(invoice, amount=Decimal("9999"))])
    return before, after


class TestSamePacks:
    @pytest.mark.parametrize("direction", [UPSTREAM, BOTH])
    def test_the_pack_read_once_is_the_pack_read_the_long_way(
        self, store: Client, direction: str
    ) -> None:
        """Records, root hash and proofs agree for a known_at before and after the conflict."""
        before, after = stored_with_versions(store)
        ledger = Ledger(Signer.generate())
        now = datetime.now(UTC) + timedelta(seconds=1)
        ledger.seal_day(store, now.date(), until=now, now=now)
        for known_at in (before, after):
            short = pack_read_once(store, direction, known_at)
            long = pack_read_the_long_way(store, direction, known_at)
            assert short["records"] == long["records"]
            assert short["root_hash"] == long["root_hash"]
            assert proofs(store, ledger, short["facts"]) == proofs(store, ledger, long["facts"])
        [record] = [
            r["record"]
            for r in pack_read_once(store, direction, after)["records"]
            if r["record"].get("event_id") == "invoice.posted:INV-1"
        ]
        [conflict] = record["conflicts"]
        assert conflict["span"]["attributes"][sc.AMOUNT] == "9999"
        assert record["attempts"][0]["span"]["attributes"][sc.AMOUNT] != "9999"

    def test_facts_stored_before_migration_13_show_the_same_raw_copy(self, store: Client) -> None:
        """Facts without their raw copy's hash get the copy with the smallest hash both ways."""
        _, after = stored_with_versions(store)
        store.command(
            "ALTER TABLE biz_events UPDATE RawSpanHash = 0 WHERE 1",
            settings={"mutations_sync": 2},
        )
        assert store.query("SELECT max(RawSpanHash) FROM biz_events").result_rows[0][0] == 0
        short = pack_read_once(store, UPSTREAM, after)
        assert short["records"] == pack_read_the_long_way(store, UPSTREAM, after)["records"]
        assert all(
            attempt["span"] is not None
            for r in short["records"]
            if r["record"]["kind"] == "event"
            for attempt in r["record"]["attempts"]
        )
