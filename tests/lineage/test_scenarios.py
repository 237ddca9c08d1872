"""Hand-written scenarios through the real engine: spans into otel_traces, the derived business
tables, then the query layer (traversal, impact, completeness, raw span evidence)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.business_event import BusinessEvent
from domain.objects import ObjectRef
from lineage import traversal
from lineage.completeness import completeness
from lineage.graph import DOWNSTREAM, UPSTREAM, Lookup
from lineage.impact import BlockedInvoices
from lineage.owners import OwnerRouting
from lineage.queries import FactReader, hop_events, raw_spans
from lineage.rules import EVENT, LineageRules
from lineage.traversal import UnknownLineageType, UnknownRoot, trace
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BlockedInvoiceAnswers
from tests.lineage.events import at, attempt, chain, span
from warehouse.spans import OTEL_TRACES_COLUMNS

RULES = LineageRules.default()
OWNERS = OwnerRouting()


@pytest.fixture
def store(migrated: Client) -> Client:
    return migrated


def load(client: Client, events: list[BusinessEvent]) -> None:
    client.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)


def business_state(client: Client) -> BusinessState:
    return BusinessState(
        lambda: client, DEFAULT_SLAS, CalendarBook(), rules=RULES, settle=timedelta(0)
    )


def blocked_invoices(
    client: Client,
    rules: LineageRules,
    owners: OwnerRouting,
    *,
    period: str | None = None,
    legal_entity: str | None = None,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
) -> BlockedInvoices:
    """The blocked items once the business state has seen everything stored (a service's
    evaluator tick), as the API answers them."""
    state = business_state(client)
    time.sleep(0.002)
    state.tick(datetime.now(UTC))
    _, result = BlockedInvoiceAnswers(lambda: client, rules, owners, state).report(
        period=period,
        legal_entity=legal_entity,
        as_of=as_of or datetime.now(UTC),
        known_at=known_at,
    )
    return result


def failed(event: BusinessEvent, category: str, *, hours: float) -> BusinessEvent:
    """A failed attempt of ``event`` at ``hours`` after T0."""
    return attempt(
        event.event_type,
        event.event_id,
        event.objects,
        hours=hours,
        outcome=sc.FAILED,
        amount=str(event.amount) if event.amount is not None else None,
        period=event.period,
        error_category=category,
    )


def failed_setup(customer: str) -> BusinessEvent:
    """The customer's sync to the ERP, failed for master data before its chain began."""
    return attempt(
        sc.CUSTOMER_SYNCED,
        f"customer.synced:{customer}",
        {sc.CUSTOMER: customer, sc.LEGAL_ENTITY: "LE-DE01"},
        hours=-10,
        outcome=sc.FAILED,
        error_category=sc.MASTER_DATA,
    )


class TestTraversal:
    def test_an_invoice_of_several_time_entries_traces_to_every_source(self, store: Client) -> None:
        """Upstream of the invoice: each approval, the project and the signed contract."""
        load(store, chain(entries=("TE-1", "TE-2", "TE-3")))
        lineage = trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM)
        assert lineage.complete
        assert set(lineage.source_events) == {
            "time.approved:TE-1", "time.approved:TE-2", "time.approved:TE-3",
            "contract.signed:CTR-1",
        }  # fmt: skip
        assert {n.event_type for n in lineage.nodes} >= {sc.BILLING_READY, sc.PROJECT_ACTIVATED}

    def test_each_object_is_read_once_per_traversal(
        self, store: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The project is reached from the billing event and again from each time entry: it is
        read once, and the lineage is the same as with every level read afresh."""
        load(store, chain(entries=("TE-1", "TE-2", "TE-3")))
        asked: list[str] = []
        original = traversal.hop_events

        def counting(client: Client, lookup: Lookup, known: object, **kwargs: bool) -> object:
            asked.extend(f"{ref.type}:{ref.id}" for ref in lookup.refs)
            return original(client, lookup, known, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(traversal, "hop_events", counting)
        lineage = trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM)
        assert asked.count(f"{sc.PROJECT}:PRJ-1") == 1
        assert asked.count(f"{sc.CONTRACT}:CTR-1") == 1
        assert lineage.complete
        assert {n.event_id for n in lineage.nodes} == {
            "invoice.posted:INV-1", "billing.ready:BE-1", "project.activated:PRJ-1",
            "contract.signed:CTR-1", "time.approved:TE-1", "time.approved:TE-2",
            "time.approved:TE-3",
        }  # fmt: skip

    def test_an_amended_contract_feeds_only_later_invoices(self, store: Client) -> None:
        """An amendment before invoice 2 is in its lineage, not in invoice 1's (raised before)."""
        first = chain()
        second = chain(entries=("TE-2",), billing_event="BE-2", invoice="INV-2")[2:]
        second = [
            attempt(e.event_type, e.event_id, e.objects, hours=200 + i, amount="500")
            for i, e in enumerate(second)
        ]
        amendment = attempt(
            sc.CONTRACT_AMENDED,
            "contract.amended:CTR-1-A1",
            {sc.CONTRACT: "CTR-1", sc.OBLIGATION: "POB-CTR-1"},
            hours=150,
            amount="20000",
        )
        load(store, [*first, *second, amendment])
        early = trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM)
        late = trace(store, RULES, sc.INVOICE, "INV-2", UPSTREAM)
        assert "contract.amended:CTR-1-A1" not in {n.event_id for n in early.nodes}
        assert "contract.amended:CTR-1-A1" in {n.event_id for n in late.nodes}
        assert late.complete
        downstream = trace(store, RULES, sc.CONTRACT, "CTR-1", DOWNSTREAM)
        assert {"invoice.posted:INV-1", "invoice.posted:INV-2"} <= {
            n.event_id for n in downstream.nodes
        }

    def test_retries_of_one_event_come_back_as_one_node(self, store: Client) -> None:
        """A failed attempt and its successful replay form one node that succeeded."""
        events = chain()
        events.append(failed(events[-1], sc.TIMEOUT, hours=72.9))
        load(store, events)
        node = trace(store, RULES, EVENT, "invoice.posted:INV-1", UPSTREAM).node(
            "invoice.posted:INV-1"
        )
        assert (len(node.attempts), node.outcome) == (2, sc.SUCCESS)

    def test_a_redelivered_span_counts_once(self, store: Client) -> None:
        """The same span stored twice is still one attempt."""
        events = chain()
        load(store, events)
        load(store, events[-1:])
        node = trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM).node("invoice.posted:INV-1")
        assert len(node.attempts) == 1

    def test_unknown_ids_and_types_are_refused(self, store: Client) -> None:
        """An id no event carries and a dimension type each raise a precise error."""
        load(store, chain())
        with pytest.raises(UnknownRoot, match="invoice 'INV-404'"):
            trace(store, RULES, sc.INVOICE, "INV-404", UPSTREAM)
        with pytest.raises(UnknownLineageType, match=r"customer is a dimension.*known types"):
            trace(store, RULES, sc.CUSTOMER, "CUS-1", UPSTREAM)

    def test_raw_span_facts_are_read_for_every_attempt(self, store: Client) -> None:
        """Evidence reads each attempt's stored fact with the traversal's nodes, then its span
        from otel_traces by the table's sort key: the copy the fact was derived from."""
        load(store, chain())
        reader = FactReader(store, known_at=datetime.now(UTC))
        lineage = trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM, read_nodes=reader)
        keys = [(a.trace_id, a.span_id) for n in lineage.nodes for a in n.attempts]
        facts = reader.facts_of(lineage.nodes)
        assert sorted((trace_id, span_id) for _, trace_id, span_id in facts) == sorted(keys)
        spans = raw_spans(store, (fact for versions in facts.values() for fact in versions))
        assert [key[:2] for key in sorted(spans)] == sorted(keys)
        invoice = lineage.node("invoice.posted:INV-1").latest
        [fact] = facts[(invoice.event_id, invoice.trace_id, invoice.span_id)]
        raw = spans[(invoice.trace_id, invoice.span_id, fact.raw_span_hash)]
        assert raw["attributes"][sc.EVENT_ID] == "invoice.posted:INV-1"
        assert raw["service_name"] == "mw-test"
        assert raw["start"][:19] == fact.texts["event_time"][:19]


class TestAttempts:
    def test_a_retry_without_the_hops_object_is_still_an_attempt_of_its_node(
        self, store: Client
    ) -> None:
        """A billing.ready first sent without its billing event id (unmapped), then with it: the
        invoice's lineage, which reaches the node through that id, shows both attempts."""
        events = chain()
        ready = next(e for e in events if e.event_type == sc.BILLING_READY)
        unmapped = attempt(
            sc.BILLING_READY,
            ready.event_id,
            {sc.PROJECT: "PRJ-1"},
            hours=30,
            outcome=sc.FAILED,
            error_category=sc.MAPPING,
        )
        load(store, [*events, unmapped])
        lineage = trace(store, RULES, sc.INVOICE, "INV-1", UPSTREAM)
        node = lineage.node(ready.event_id)
        assert [a.outcome for a in node.attempts] == [sc.FAILED, sc.SUCCESS]
        assert lineage.complete


class TestKnowledgeTime:
    def test_a_lineage_known_at_an_instant_leaves_out_every_row_stored_after_it(
        self, store: Client
    ) -> None:
        """Attempts of the chain's events and a whole event stored after ``known_at`` are not in
        the lineage as known then, through the root, the hops and the read of the nodes."""
        events = chain()
        load(store, events)
        time.sleep(0.01)
        moment = datetime.now(UTC)
        time.sleep(0.01)
        retried = [e for e in events if e.event_type in (sc.PROJECT_ACTIVATED, sc.INVOICE_POSTED)]
        later = [
            *(attempt(e.event_type, e.event_id, e.objects, hours=100, number=2) for e in retried),
            attempt(
                sc.INVOICE_POSTED, "invoice.posted:INV-2", {sc.BILLING_EVENT: "BE-1"}, hours=101
            ),
        ]
        load(store, later)

        for direction, root in (
            (UPSTREAM, (sc.INVOICE, "INV-1")),
            (DOWNSTREAM, (sc.PROJECT, "PRJ-1")),
        ):
            then = trace(store, RULES, *root, direction, known_at=moment)
            now = trace(store, RULES, *root, direction)
            for event in retried:
                assert len(then.node(event.event_id).attempts) == 1
                assert len(now.node(event.event_id).attempts) == 2
            ids_then = {node.event_id for node in then.nodes}
            ids_now = {node.event_id for node in now.nodes}
            assert ids_now - ids_then == (
                {"invoice.posted:INV-2"} if direction == DOWNSTREAM else set()
            )

    def test_a_hop_reads_only_the_events_not_yet_known(self, store: Client) -> None:
        """A traversal step returns the events of the objects it asks for, less the known ones."""
        load(store, chain(entries=("TE-1", "TE-2")))
        lookup = Lookup.every([ObjectRef(sc.PROJECT, "PRJ-1")], [sc.TIME_APPROVED])
        assert set(hop_events(store, lookup, (), every_attempt=False)) == {
            "time.approved:TE-1", "time.approved:TE-2",
        }  # fmt: skip
        found = hop_events(store, lookup, {"time.approved:TE-1"}, every_attempt=False)
        assert set(found) == {"time.approved:TE-2"}


class TestBlockedInvoices:
    def test_a_failure_replayed_successfully_does_not_block(self, store: Client) -> None:
        """billing.ready failed, then a replay succeeded and the invoice posted: nothing held."""
        events = chain()
        events.insert(3, failed(events[3], sc.MAPPING, hours=60))
        load(store, events)
        assert blocked_invoices(store, RULES, OWNERS).items == ()

    def test_a_failure_never_recovered_blocks_the_item_with_its_owner(self, store: Client) -> None:
        """A billing.ready that only failed holds its amount, in its entity and period."""
        events = chain(entries=("TE-1", "TE-2"))[:-1]
        events[-1] = failed(events[-1], sc.MAPPING, hours=72)
        load(store, events)
        result = blocked_invoices(store, RULES, OWNERS)
        (item,) = result.items
        assert (item.object.id, item.stage, item.amount) == ("BE-1", sc.BILLING_READY, 2000)
        assert (item.legal_entity, item.period) == ("LE-DE01", "2026-09")
        (blocker,) = item.blocked_by
        assert (blocker.event_id, blocker.owner) == ("billing.ready:BE-1", "integration team")
        assert blocker.failed_since == at(72)
        assert result.total == {"EUR": Decimal(2000)}

    def test_a_failed_posting_names_the_failed_customer_setup(self, store: Client) -> None:
        """An invoice refused for master data is held by itself and the customer's sync."""
        events = chain()
        events[-1] = failed(events[-1], sc.MASTER_DATA, hours=73)
        load(store, [*events, failed_setup("CUS-1")])
        (item,) = blocked_invoices(store, RULES, OWNERS, period="2026-09").items
        assert item.invoice == "INV-1"
        assert [b.event_id for b in item.blocked_by] == [
            "invoice.posted:INV-1",
            "customer.synced:CUS-1",
        ]
        assert {b.owner for b in item.blocked_by} == {"master data team"}

    def test_an_upstream_failure_blocks_everything_below_it_not_yet_posted(
        self, store: Client
    ) -> None:
        """A failed approval holds the billing event that waits on it, not the one that posted."""
        events = chain(entries=("TE-1",))
        waiting = [
            attempt(
                sc.TIME_APPROVED,
                "time.approved:TE-2",
                {sc.TIME_ENTRY: "TE-2", sc.PROJECT: "PRJ-1"},
                hours=100,
                amount="700",
            ),
            attempt(
                sc.BILLING_READY,
                "billing.ready:BE-2",
                {sc.BILLING_EVENT: "BE-2", sc.PROJECT: "PRJ-1", sc.TIME_ENTRY: "TE-2"},
                hours=120,
                amount="700",
            ),
        ]
        rejected = failed(waiting[0], sc.VALIDATION, hours=130)  # a re-sync the PSA refused
        load(store, [*events, *waiting, rejected])
        (item,) = blocked_invoices(store, RULES, OWNERS).items
        assert item.object.id == "BE-2"
        assert [b.event_id for b in item.blocked_by] == ["time.approved:TE-2"]
        assert item.blocked_by[0].owner == "finance operations"

    def test_filters_keep_one_entity_and_period(self, store: Client) -> None:
        """legal_entity and period select the items; others are left out."""
        events = chain()[:-1]
        events[-1] = failed(events[-1], sc.MAPPING, hours=72)
        load(store, events)
        assert len(blocked_invoices(store, RULES, OWNERS, legal_entity="LE-DE01").items) == 1
        assert blocked_invoices(store, RULES, OWNERS, legal_entity="LE-US01").items == ()
        assert blocked_invoices(store, RULES, OWNERS, period="2026-10").items == ()


class TestBlockedInvoicesOverTime:
    def test_a_recovery_clears_the_item_from_the_next_tick_and_the_past_stays(
        self, store: Client
    ) -> None:
        """A replay that posts the item clears it once the state has seen it; the answer for the
        earlier knowledge time still shows it held."""
        *upstream, posting = chain()
        load(store, [*upstream, failed(posting, sc.MAPPING, hours=73)])
        held = blocked_invoices(store, RULES, OWNERS)
        assert [i.object.id for i in held.items] == ["BE-1"]
        assert blocked_invoices(store, RULES, OWNERS, period="2026-10").items == ()
        amount = str(posting.amount) if posting.amount is not None else None
        replay = attempt(
            posting.event_type,
            posting.event_id,
            posting.objects,
            hours=90,
            number=2,
            amount=amount,
            period=posting.period,
        )
        known_before = business_state(store).watermark()
        load(store, [replay])
        assert blocked_invoices(store, RULES, OWNERS).items == ()
        before = blocked_invoices(store, RULES, OWNERS, known_at=known_before)
        assert [i.object.id for i in before.items] == ["BE-1"]
        as_of_before_replay = blocked_invoices(store, RULES, OWNERS, as_of=at(80))
        assert [i.object.id for i in as_of_before_replay.items] == ["BE-1"]


class TestCompleteness:
    def test_a_posting_with_a_missing_link_is_an_orphan(self, store: Client) -> None:
        """An invoice whose billing event has no billing.ready is posted without a source."""
        good = chain()
        orphan = attempt(
            sc.INVOICE_POSTED,
            "invoice.posted:INV-9",
            {sc.INVOICE: "INV-9", sc.BILLING_EVENT: "BE-9", sc.LEGAL_ENTITY: "LE-DE01"},
            hours=80,
            amount="5000",
        )
        load(store, [*good, orphan])
        report = completeness(store, RULES, period="2026-09", as_of=at(100))
        (entity,) = report.entities
        share = entity.by_posting_type[sc.INVOICE_POSTED]
        assert (share.posted, share.complete, share.share) == (2, 1, 0.5)
        (found,) = entity.orphans
        assert found.event_id == "invoice.posted:INV-9"
        assert "BE-9" in found.gaps[0].message

    def test_an_old_source_that_never_posted_is_stuck(self, store: Client) -> None:
        """An approval older than the allowed age that no invoice posted is listed as stuck."""
        unbilled = attempt(
            sc.TIME_APPROVED,
            "time.approved:TE-7",
            {sc.TIME_ENTRY: "TE-7", sc.PROJECT: "PRJ-1"},
            hours=30,
            amount="800",
        )
        load(store, [*chain(), unbilled])
        as_of = at(30) + timedelta(days=20)
        (entity,) = completeness(store, RULES, period="2026-09", as_of=as_of).entities
        assert [s.event_id for s in entity.stuck_sources] == ["time.approved:TE-7"]
        assert entity.legal_entity == "LE-DE01"
        assert entity.stuck_sources[0].age_days == 20
