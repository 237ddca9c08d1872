"""The ledger in the real engine: a day's facts become the Merkle tree the pure reference computes
from the same fact texts, heads only grow and stay consistent, proofs verify, and the access trail
records downloads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from lineage.facts import CONTENT_NAMES, FACT_NAMES, FACT_TEXTS_SQL, fact_leaf
from lineage.ledger import FactIdentity, Ledger, Requester, SealDuringRebuild, day_end
from lineage.merkle import (
    complete_subtrees,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from lineage.pack_check import check_proofs
from lineage.signing import Signer
from tests.warehouse.test_migrations import forget_migration
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.schema import Topology, ledger_ddl, ledger_point_read_ddl
from warehouse.schema_state import REBUILD_KEY, write_state

DAY = date(2026, 10, 1)
NOON = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)

INSERT_FACTS = """
INSERT INTO biz_events (EventId, EventType, EventTime, TraceId, SpanId, Amount, Currency,
                        StatusMessage, ObjectRefs, IngestedAt)
SELECT concat('ev-', toString(number)), 'time.approved', {event_time:DateTime64(9, 'UTC')},
       lower(hex(number)), lower(hex(number * 7)), toDecimal64(number, 4) / 3, 'EUR',
       {message:String}, [('time_entry', concat('TE-', toString(number)))],
       {ingested_at:DateTime64(3, 'UTC')} + toIntervalMillisecond(number % 5)
FROM numbers({first:UInt64}, {count:UInt64})
"""


@pytest.fixture
def store(migrated: Client) -> Client:
    return migrated


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(Signer.generate())


def add_facts(
    client: Client,
    first: int,
    count: int,
    at: datetime,
    message: str = "ok ∑ \t, 7:",
    *,
    event_time: datetime | None = None,
) -> None:
    """Facts stored at ``at`` (plus up to 4 ms) of events at ``event_time`` (else ``at``), with
    text that needs no escaping to hash."""
    client.command(
        INSERT_FACTS,
        parameters={
            "first": first,
            "count": count,
            "event_time": (event_time or at).replace(tzinfo=None),
            "ingested_at": at.replace(tzinfo=None),
            "message": message,
        },
    )


def reference_root(client: Client, until: datetime) -> tuple[bytes, list[bytes]]:
    """The root the pure code computes from the day's fact texts, in the documented order."""
    rows = client.query(
        f"SELECT {FACT_TEXTS_SQL} FROM biz_events WHERE toDate(IngestedAt) = {{day:Date}} "
        "AND IngestedAt <= {until:DateTime64(3, 'UTC')} "
        "ORDER BY IngestedAt, EventId, TraceId, SpanId",
        parameters={"day": DAY, "until": until.replace(tzinfo=None)},
    ).result_rows
    facts = [dict(zip(FACT_NAMES, row[0], strict=True)) for row in rows]
    seen: set[tuple[str, ...]] = set()
    leaves = []
    for fact in facts:  # a row stored again as it was is no new fact
        content = tuple(fact[name] for name in CONTENT_NAMES)
        if content not in seen:
            seen.add(content)
            leaves.append(leaf_hash(fact_leaf(fact)))
    nodes = complete_subtrees(leaves)
    return root_hash(lambda lv, i: nodes[(lv, i)], len(leaves)), leaves


def assert_proven(answer: dict[str, Any], leaves: list[bytes], root: str) -> None:
    """Every proof's audit path leads from its leaf to ``root``."""
    for proof in answer["proofs"]:
        assert verify_inclusion(
            leaves[proof["leaf_index"]],
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(h) for h in proof["audit_path"]],
            bytes.fromhex(root),
        )


class TestSealing:
    def test_the_engine_tree_is_the_reference_tree(self, store: Client, ledger: Ledger) -> None:
        """Leaf hashes and nodes computed in the engine give the root the pure code computes."""
        add_facts(store, 0, 37, NOON)
        head = ledger.seal_day(store, DAY, until=day_end(DAY), now=NOON)
        root, leaves = reference_root(store, day_end(DAY))
        assert head.tree_size == len(leaves) == 37
        assert head.root_hash == root.hex()
        assert head.signature_valid(ledger.signer.public_key)

    def test_a_seal_redone_after_a_crash_pairs_children_stored_twice(
        self, store: Client, ledger: Ledger
    ) -> None:
        """A seal that stored its leaves and leaf nodes but died before the parents and the head
        is done again: the leaf nodes are stored twice until their copies merge, and the redone
        seal computes every parent once from the doubled children, to the reference root."""
        add_facts(store, 0, 37, NOON)
        ledger.seal_day(store, DAY, until=day_end(DAY), now=NOON)
        store.command("TRUNCATE TABLE ledger_heads")  # the crash: no parents, no head
        store.command("ALTER TABLE ledger_nodes DELETE WHERE Level > 0 SETTINGS mutations_sync = 2")
        head = Ledger(ledger.signer).seal_day(store, DAY, until=day_end(DAY), now=NOON)
        assert head.root_hash == reference_root(store, day_end(DAY))[0].hex()
        nodes = store.query(
            "SELECT Level, count(), uniqExact(NodeIndex) FROM ledger_nodes "
            "WHERE Day = {day:Date} GROUP BY Level ORDER BY Level",
            parameters={"day": DAY},
        ).result_rows
        assert [(level, distinct) for level, _, distinct in nodes] == [
            (0, 37),
            (1, 18),
            (2, 9),
            (3, 4),
            (4, 2),
            (5, 1),
        ]
        assert [rows for level, rows, _ in nodes if level > 0] == [18, 9, 4, 2, 1]

    def test_heads_grow_and_each_is_a_prefix_of_the_next(
        self, store: Client, ledger: Ledger
    ) -> None:
        """Facts stored after a head extend the tree; the consistency proof between the two
        heads verifies, and the older head's root is unchanged."""
        add_facts(store, 0, 11, NOON)
        first = ledger.seal_day(store, DAY, until=NOON + timedelta(seconds=1), now=NOON)
        add_facts(store, 11, 20, NOON + timedelta(hours=1))
        second = ledger.seal_day(store, DAY, until=day_end(DAY), now=NOON)
        assert (first.tree_size, second.tree_size) == (11, 31)
        assert second.root_hash == reference_root(store, day_end(DAY))[0].hex()
        proof = [bytes.fromhex(h) for h in ledger.consistency(store, DAY, 11, 31)]
        assert verify_consistency(
            11, 31, bytes.fromhex(first.root_hash), bytes.fromhex(second.root_hash), proof
        )

    def test_a_redelivered_fact_is_one_leaf_a_conflicting_version_another(
        self, store: Client, ledger: Ledger
    ) -> None:
        """A span stored again the same day as it was is the same fact: the tree does not grow.
        Stored again with other content (another event time), it is a version of its own."""
        add_facts(store, 0, 4, NOON)
        first = ledger.seal_day(store, DAY, until=NOON + timedelta(seconds=1), now=NOON)
        add_facts(store, 0, 4, NOON + timedelta(hours=1), event_time=NOON)
        again = ledger.seal_day(store, DAY, until=NOON + timedelta(hours=2), now=NOON)
        add_facts(store, 0, 4, NOON + timedelta(hours=3))
        versions = ledger.seal_day(store, DAY, until=day_end(DAY), now=NOON)
        assert again.tree_size == first.tree_size == 4
        assert again.root_hash == first.root_hash
        assert versions.tree_size == 8
        assert versions.root_hash == reference_root(store, day_end(DAY))[0].hex()

    def test_finished_days_are_sealed_to_their_end_once(
        self, store: Client, ledger: Ledger
    ) -> None:
        """The sealing loop seals every day that is over, and leaves today alone."""
        add_facts(store, 0, 3, NOON)
        add_facts(store, 3, 2, NOON + timedelta(days=1))
        today = NOON + timedelta(days=1, hours=2)
        assert ledger.seal_finished_days(store, now=today, settle=timedelta(seconds=5)) == 1
        assert ledger.seal_finished_days(store, now=today, settle=timedelta(seconds=5)) == 0
        heads = ledger.heads(store, day=None, limit=10)
        assert [(h.day, h.tree_size, h.timestamp) for h in heads] == [(DAY, 3, day_end(DAY))]

    def test_no_day_is_sealed_while_a_rebuild_re_stores_its_facts(
        self, store: Client, ledger: Ledger
    ) -> None:
        """A rebuild empties the business tables and stores their facts again: a head sealed
        meanwhile would leave the facts not yet re-stored out of its day's tree for good. The
        seal is refused and the sealing loop waits until the rebuild is done."""
        add_facts(store, 0, 3, NOON)
        later = NOON + timedelta(days=1, hours=2)
        write_state(store, REBUILD_KEY, "running", at=later - timedelta(minutes=1))
        store.command("TRUNCATE TABLE biz_events")  # what the rebuild does first
        with pytest.raises(SealDuringRebuild, match=r"rebuild .* running since"):
            ledger.seal_day(store, DAY, until=day_end(DAY), now=later)
        assert ledger.seal_finished_days(store, now=later, settle=timedelta(seconds=5)) == 0
        assert ledger.heads(store, day=None, limit=10) == []
        add_facts(store, 0, 3, NOON)  # re-stored with their knowledge time
        write_state(store, REBUILD_KEY, "done", at=later)
        assert ledger.seal_finished_days(store, now=later, settle=timedelta(seconds=5)) == 1
        [head] = ledger.heads(store, day=None, limit=10)
        assert head.tree_size == 3


class TestProofs:
    def test_facts_are_proven_against_their_days_head(self, store: Client, ledger: Ledger) -> None:
        """Each fact's audit path leads to the head's root; facts of an unsealed day are listed
        as unproven."""
        add_facts(store, 0, 13, NOON)
        add_facts(store, 13, 2, NOON + timedelta(days=1))
        head = ledger.seal_day(store, DAY, until=day_end(DAY), now=NOON)
        _, leaves = reference_root(store, day_end(DAY))
        rows = store.query(
            "SELECT EventId, TraceId, SpanId, IngestedAt FROM biz_events ORDER BY EventId"
        ).result_rows
        facts = [FactIdentity(str(e), str(t), str(s), at) for e, t, s, at in rows]
        answer = ledger.proofs(store, facts)
        assert len(answer["proofs"]) == 13
        assert len(answer["unproven"]) == 2
        assert answer["heads"] == [head.to_json()]
        assert_proven(answer, leaves, head.root_hash)

    def test_a_fact_visible_only_after_its_day_was_sealed_past_it_is_said_to_be_uncovered(
        self, store: Client, ledger: Ledger
    ) -> None:
        """A fact stored at noon that became visible after the day was sealed to its end is in no
        tree, and never will be: its reason says so rather than "not sealed yet", and the
        verifier, holding that head, does not pass it."""
        add_facts(store, 0, 3, NOON)
        head = ledger.seal_day(store, DAY, until=day_end(DAY), now=NOON)
        add_facts(store, 3, 1, NOON)
        rows = store.query(
            "SELECT EventId, TraceId, SpanId, IngestedAt FROM biz_events ORDER BY EventId"
        ).result_rows
        answer = ledger.proofs(
            store, [FactIdentity(str(e), str(t), str(s), a) for e, t, s, a in rows]
        )
        [late] = answer["unproven"]
        assert "without this fact" in late["reason"]
        assert "became visible after the seal" in late["reason"]
        ledger_section = {"heads": [head.to_json()], "proofs": [], "unproven": [late]}
        [check] = [c for c in check_proofs({"ledger": ledger_section}, [], None) if c.failed]
        assert late["event_id"] in check.message

    def test_proofs_verify_against_each_later_head_of_a_growing_day(
        self, store: Client, ledger: Ledger
    ) -> None:
        """Subtrees remembered from the proofs against a day's first head serve the proofs
        against its next, larger head: every audit path leads to that head's root, and a ledger
        that remembers nothing gives the same answer."""
        add_facts(store, 0, 8, NOON)
        rows = store.query(
            "SELECT EventId, TraceId, SpanId, IngestedAt FROM biz_events ORDER BY EventId"
        ).result_rows
        first_facts = [FactIdentity(str(e), str(t), str(s), at) for e, t, s, at in rows]
        ledger.seal_day(store, DAY, until=NOON + timedelta(seconds=1), now=NOON)
        assert len(ledger.proofs(store, first_facts)["proofs"]) == 8
        add_facts(store, 8, 13, NOON + timedelta(hours=1))
        head = ledger.seal_day(store, DAY, until=day_end(DAY), now=NOON)
        _, leaves = reference_root(store, day_end(DAY))
        answer = ledger.proofs(store, first_facts)
        assert [p["tree_size"] for p in answer["proofs"]] == [21] * 8
        assert_proven(answer, leaves, head.root_hash)
        assert answer == Ledger(Signer.generate()).proofs(store, first_facts)


class TestAccessTrail:
    def test_downloads_are_listed_newest_first(self, store: Client, ledger: Ledger) -> None:
        """Every recorded download comes back with who, what, parameters and root."""
        who = Requester("sha256:0123456789ab", "auditor")
        for minute in range(3):
            ledger.record_download(
                store,
                who,
                kind="evidence",
                path="/api/v1/lineage/invoice/INV-1/evidence",
                parameters={"minute": minute},
                at=NOON + timedelta(minutes=minute),
                root_hash=f"root-{minute}",
                signature="sig",
            )
        trail = ledger.downloads(store, before=NOON + timedelta(hours=1), limit=2)
        assert [d.parameters for d in trail] == [{"minute": 2}, {"minute": 1}]
        assert trail[0].token_name == who.token_name
        assert trail[0].role == "auditor"
        assert trail[0].key_id == ledger.signer.key_id


def ledger_rows(client: Client) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the ledger's leaves and subtrees, in key order."""
    return {
        table: [
            tuple(row) for row in client.query(f"SELECT * FROM {table} ORDER BY ALL").result_rows
        ]
        for table in ("ledger_leaves", "ledger_nodes")
    }


def table_ddl(client: Client, table: str) -> str:
    return str(
        client.query(
            "SELECT create_table_query FROM system.tables "
            "WHERE database = currentDatabase() AND name = {name:String}",
            parameters={"name": table},
        ).result_rows[0][0]
    )


class TestPointReadLayout:
    @pytest.fixture
    def sealed_before_22(self, store: Client, ledger: Ledger) -> Client:
        """A ledger laid out as migration 11 created it (8,192-row granules), a day sealed in
        it, and migration 22 not applied yet."""
        for table in ("ledger_leaves", "ledger_nodes"):
            store.command(f"DROP TABLE {table} SYNC")
        for statement in ledger_ddl(Topology()):
            store.command(statement)  # IF NOT EXISTS: only the dropped two are created
        assert "index_granularity = 8192" in table_ddl(store, "ledger_nodes")
        forget_migration(store, 22)
        add_facts(store, 0, 300, NOON)
        add_facts(store, 300, 5, NOON + timedelta(hours=1))
        ledger.seal_day(store, DAY, until=day_end(DAY), now=NOON)
        return store

    def facts(self, client: Client) -> list[FactIdentity]:
        rows = client.query(
            "SELECT EventId, TraceId, SpanId, IngestedAt FROM biz_events ORDER BY ALL"
        ).result_rows
        return [FactIdentity(str(e), str(t), str(s), at) for e, t, s, at in rows]

    def test_migration_22_keeps_every_leaf_subtree_and_proof(
        self, sealed_before_22: Client, ledger: Ledger
    ) -> None:
        """Migration 22 re-lays the sealed ledger out for point reads: the same rows, and a
        fresh ledger (nothing remembered) proves every fact with the same audit paths."""
        client = sealed_before_22
        rows = ledger_rows(client)
        proofs = Ledger(ledger.signer).proofs(client, self.facts(client))
        assert len(proofs["proofs"]) == 305

        migrate(client, CorrelationRules.default())

        for table in ("ledger_leaves", "ledger_nodes"):
            ddl = table_ddl(client, table)
            assert "index_granularity = 256" in ddl
            assert "min_compress_block_size = 2048" in ddl
        assert ledger_rows(client) == rows
        assert Ledger(ledger.signer).proofs(client, self.facts(client)) == proofs
        leftovers = client.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND name LIKE '%relayout%'"
        ).result_rows
        assert leftovers == []

    def test_a_cut_short_migration_22_run_again_keeps_every_row(
        self, sealed_before_22: Client
    ) -> None:
        """Cut short after the leaves were swapped and before their copy was dropped: running it
        again ends with every row once."""
        client = sealed_before_22
        rows = ledger_rows(client)
        statements = ledger_point_read_ddl(Topology())
        for statement in statements[: statements.index("DROP TABLE ledger_leaves_relayout SYNC")]:
            client.command(statement)
        migrate(client, CorrelationRules.default())
        assert ledger_rows(client) == rows
