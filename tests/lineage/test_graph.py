"""The pure lineage core: attempts become nodes, hops become edges, assembly judges completeness."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain import semconv as sc
from domain.objects import ObjectRef
from lineage.assembly import (
    MISSING_LINK,
    NOT_A_SOURCE,
    NOT_POSTED,
    POSTING_FAILED,
    SOURCE_FAILED,
    assemble,
    nearest_legal_entity,
)
from lineage.graph import (
    DOWNSTREAM,
    UPSTREAM,
    Edge,
    Lookup,
    group_attempts,
    link_upstream,
    upstream_lookup,
)
from lineage.rules import LineageRules
from tests.lineage.events import at, attempt, chain, graph_of

RULES = LineageRules.default()


class TestNodes:
    def test_retries_and_replays_of_one_event_are_one_node(self) -> None:
        """Three attempts over two traces (a replay) group into one node with its history."""
        attempts = [
            attempt(sc.INVOICE_POSTED, "inv", {sc.INVOICE: "I"}, hours=1, outcome=sc.RETRYING),
            attempt(sc.INVOICE_POSTED, "inv", {sc.INVOICE: "I"}, hours=1.1, outcome=sc.FAILED),
            attempt(sc.INVOICE_POSTED, "inv", {sc.INVOICE: "I"}, hours=5, replay_of="inv"),
        ]
        node = group_attempts(reversed(attempts))["inv"]
        assert (len(node.attempts), node.deliveries, node.replays) == (3, 3, 2)
        assert node.outcome == sc.SUCCESS
        assert node.timestamp == at(5)

    def test_the_latest_attempt_decides_the_outcome(self) -> None:
        """A failure after earlier retries stands failed since its first failing attempt."""
        attempts = [
            attempt(sc.BILLING_READY, "b", {}, hours=1, outcome=sc.RETRYING, trace_id="t" * 32),
            attempt(
                sc.BILLING_READY,
                "b",
                {},
                hours=2,
                outcome=sc.DEAD_LETTERED,
                trace_id="t" * 32,
                error_category=sc.MAPPING,
            ),
        ]
        node = group_attempts(attempts)["b"]
        assert not node.succeeded
        assert node.failed_since == at(1)
        assert node.error_category == sc.MAPPING
        assert node.replays == 0

    def test_a_failure_after_a_success_shows_the_counted_attempts_facts(self) -> None:
        """A re-post refused as a duplicate after the invoice posted: the node stands failed (its
        latest attempt) but shows the amount the business state counts, the first success's."""
        attempts = [
            attempt(sc.INVOICE_POSTED, "p", {sc.INVOICE: "I"}, hours=1, amount="100.00"),
            attempt(
                sc.INVOICE_POSTED,
                "p",
                {sc.INVOICE: "I"},
                hours=2,
                outcome=sc.FAILED,
                number=2,
                amount="999.00",
                error_category=sc.DUPLICATE,
            ),
        ]
        node = group_attempts(attempts)["p"]
        assert not node.succeeded
        assert node.amount == Decimal("100.00")
        assert node.decisive is attempts[0]
        assert node.timestamp == at(2)


class TestLinks:
    def test_dimensions_are_never_hops(self) -> None:
        """Two invoices of the same customer and entity are not linked to each other."""
        nodes = group_attempts(
            [*chain(), *chain(contract="CTR-2", project="PRJ-2", billing_event="BE-2")]
        )
        lookup = upstream_lookup(nodes.values(), RULES)
        assert not {ref.type for ref in lookup.refs} & set(sc.DIMENSION_OBJECT_TYPES)
        edges = link_upstream(nodes.values(), nodes.values(), RULES)
        assert all(edge.via.type not in sc.DIMENSION_OBJECT_TYPES for edge in edges)

    def test_a_lookup_asks_each_object_type_only_for_its_own_event_types(self) -> None:
        """Upstream of a billing event: time entries want approvals, the project its activation;
        the project is not asked for approvals (every time entry of a project references it)."""
        nodes = group_attempts(chain(entries=("TE-1", "TE-2")))
        lookup = upstream_lookup([nodes["billing.ready:BE-1"]], RULES)
        assert lookup.pairs == [
            (sc.PROJECT, sc.PROJECT_ACTIVATED),
            (sc.TIME_ENTRY, sc.TIME_APPROVED),
        ]
        assert (ObjectRef(sc.PROJECT, "PRJ-1"), sc.TIME_APPROVED) not in lookup.wanted
        assert (ObjectRef(sc.TIME_ENTRY, "TE-2"), sc.TIME_APPROVED) in lookup.wanted

    def test_a_lookup_of_refs_and_types_wants_every_type_for_every_object(self) -> None:
        """A lookup built from refs and types alone asks for every combination."""
        lookup = Lookup.every(
            {ObjectRef(sc.INVOICE, "INV-1"), ObjectRef(sc.BILLING_EVENT, "BE-1")},
            {sc.INVOICE_POSTED, sc.BILLING_READY},
        )
        assert len(lookup.wanted) == 4
        assert {event for ref, event in lookup.wanted if ref.type == sc.INVOICE} == {
            sc.INVOICE_POSTED,
            sc.BILLING_READY,
        }

    def test_an_invoice_of_several_time_entries_is_fed_by_each(self) -> None:
        """The billing event links every time entry it bills, and each entry links its project."""
        graph = graph_of(chain(entries=("TE-1", "TE-2", "TE-3")))
        feeding = {e.source for e in graph.edges if e.target == "billing.ready:BE-1"}
        assert feeding == {
            "time.approved:TE-1",
            "time.approved:TE-2",
            "time.approved:TE-3",
            "project.activated:PRJ-1",
        }


class TestAssembly:
    def test_a_clean_chain_is_complete_and_ends_at_its_sources(self) -> None:
        """Upstream of the invoice: every node of the chain, the sources, and no gap."""
        lineage = assemble(["invoice.posted:INV-1"], UPSTREAM, graph_of(chain()), RULES)
        assert lineage.complete
        assert set(lineage.source_events) == {"time.approved:TE-1", "contract.signed:CTR-1"}
        assert len(lineage.nodes) == 5
        assert nearest_legal_entity(lineage) == "LE-DE01"

    def test_a_missing_link_is_a_gap_naming_the_object(self) -> None:
        """A billed time entry without its approval event leaves the lineage incomplete."""
        events = [e for e in chain(entries=("TE-1", "TE-2")) if e.event_id != "time.approved:TE-2"]
        lineage = assemble(["invoice.posted:INV-1"], UPSTREAM, graph_of(events), RULES)
        assert not lineage.complete
        (gap,) = lineage.gaps
        assert (gap.kind, gap.via) == (MISSING_LINK, ObjectRef(sc.TIME_ENTRY, "TE-2"))
        assert "TE-2" in gap.message

    def test_a_path_ending_at_a_non_source_is_a_gap(self) -> None:
        """An invoice.posted that carries no billing event cannot be traced."""
        event = attempt(sc.INVOICE_POSTED, "inv", {sc.INVOICE: "I"}, hours=1)
        lineage = assemble(["inv"], UPSTREAM, graph_of([event]), RULES)
        assert [gap.kind for gap in lineage.gaps] == [NOT_A_SOURCE]

    def test_a_failed_source_makes_the_lineage_incomplete(self) -> None:
        """A path must end at a source event that succeeded."""
        events = chain()
        events[0] = attempt(
            sc.CONTRACT_SIGNED, "contract.signed:CTR-1", {sc.CONTRACT: "CTR-1"}, hours=0,
            outcome=sc.FAILED,
        )  # fmt: skip
        lineage = assemble(["invoice.posted:INV-1"], UPSTREAM, graph_of(events), RULES)
        assert [gap.kind for gap in lineage.gaps] == [SOURCE_FAILED]

    @pytest.mark.parametrize(
        ("amended_at_hours", "in_lineage"), [(50, True), (100, False)], ids=["before", "after"]
    )
    def test_an_amendment_counts_only_for_invoices_raised_after_it(
        self, amended_at_hours: float, in_lineage: bool
    ) -> None:
        """The amendment in force when the invoice was raised is upstream of it; a later one not."""
        amendment = attempt(
            sc.CONTRACT_AMENDED,
            "contract.amended:CTR-1-A1",
            {sc.CONTRACT: "CTR-1", sc.OBLIGATION: "POB-CTR-1"},
            hours=amended_at_hours,
        )
        graph = graph_of([*chain(), amendment])
        lineage = assemble(["invoice.posted:INV-1"], UPSTREAM, graph, RULES)
        assert ("contract.amended:CTR-1-A1" in {n.event_id for n in lineage.nodes}) is in_lineage
        assert lineage.complete
        assert "contract.amended:CTR-1-A1" not in lineage.source_events

    def test_downstream_is_complete_only_when_every_path_posted(self) -> None:
        """From an approval, a failed invoice is a gap; a succeeded one closes the path."""
        events = chain()
        graph = graph_of(events)
        assert assemble(["time.approved:TE-1"], DOWNSTREAM, graph, RULES).complete
        events[-1] = attempt(
            sc.INVOICE_POSTED, "invoice.posted:INV-1", events[-1].objects, hours=73,
            outcome=sc.FAILED,
        )  # fmt: skip
        lineage = assemble(["time.approved:TE-1"], DOWNSTREAM, graph_of(events), RULES)
        assert [gap.kind for gap in lineage.gaps] == [POSTING_FAILED]

    def test_downstream_of_an_unbilled_approval_has_not_posted(self) -> None:
        """An approval that no billing event picked up ends its path unposted."""
        events = chain(entries=("TE-1",))
        extra = attempt(sc.TIME_APPROVED, "time.approved:TE-9", {sc.TIME_ENTRY: "TE-9"}, hours=30)
        lineage = assemble(["time.approved:TE-9"], DOWNSTREAM, graph_of([*events, extra]), RULES)
        assert [gap.kind for gap in lineage.gaps] == [NOT_POSTED]

    def test_edges_point_from_feeder_to_fed(self) -> None:
        """Data flows source → target in both directions of traversal."""
        lineage = assemble(["invoice.posted:INV-1"], UPSTREAM, graph_of(chain()), RULES)
        assert (
            Edge("billing.ready:BE-1", "invoice.posted:INV-1", ObjectRef(sc.BILLING_EVENT, "BE-1"))
            in lineage.edges
        )

    def test_an_unknown_direction_is_refused(self) -> None:
        """The message names the value and the choices."""
        with pytest.raises(ValueError, match=r"sideways.*upstream, downstream or both"):
            assemble(["invoice.posted:INV-1"], "sideways", graph_of(chain()), RULES)
