"""The text tree the CLI prints, from the API's JSON shape."""

from __future__ import annotations

from dataclasses import replace

from domain import semconv as sc
from domain.business_event import BusinessEvent
from domain.objects import ObjectRef
from lineage.assembly import assemble
from lineage.facts import FACT_NAMES, StoredFact
from lineage.graph import DOWNSTREAM, UPSTREAM, ConflictingVersion
from lineage.models import LineageOut, lineage_out
from lineage.render import render_text
from lineage.rules import LineageRules
from tests.lineage.events import attempt, chain, graph_of

RULES = LineageRules.default()


def rendered(events: list[BusinessEvent], root: str, direction: str = UPSTREAM) -> str:
    lineage = assemble([root], direction, graph_of(events), RULES)
    document = lineage_out(lineage, ObjectRef("event", root)).model_dump(mode="json", by_alias=True)
    return render_text(LineageOut.model_validate(document))


class TestTextTree:
    def test_the_tree_shows_systems_time_outcome_and_amount(self) -> None:
        """Each line names the event, its systems, its time, outcome and money."""
        text = rendered(chain(entries=("TE-1", "TE-2")), "invoice.posted:INV-1")
        lines = text.splitlines()
        assert (
            lines[0]
            == "event invoice.posted:INV-1 · upstream · complete · 6 events, 3 source events"
        )
        assert (
            "invoice.posted  invoice.posted:INV-1  psa→erp  2026-09-04 10:00:00Z  success  2,000.00 EUR"
            in lines
        )
        assert any(line.endswith("project.activated:PRJ-1  (see above)") for line in lines)

    def test_retries_failures_and_gaps_are_spelled_out(self) -> None:
        """A failed posting shows its attempts and category; the gaps follow the tree."""
        events = chain()[3:]
        events.append(
            attempt(
                sc.INVOICE_POSTED, "invoice.posted:INV-1", events[-1].objects, hours=74,
                outcome=sc.FAILED, error_category=sc.MASTER_DATA,
            )
        )  # fmt: skip
        text = rendered(events, "invoice.posted:INV-1")
        assert "failed after 2 attempts, 1 replay (master_data)" in text
        assert "INCOMPLETE" in text.splitlines()[0]
        assert "gaps:" in text

    def test_downstream_trees_grow_towards_the_postings(self) -> None:
        """From an approval the arrows point to what it fed."""
        text = rendered(chain(), "time.approved:TE-1", DOWNSTREAM)
        assert "→ billing_event BE-1: invoice.posted" in text

    def test_conflicting_versions_are_listed_after_the_tree(self) -> None:
        """A later version of an attempt is named with its knowledge time and what differs."""
        graph = graph_of(chain())
        invoice = graph.nodes["invoice.posted:INV-1"]
        first = dict.fromkeys(FACT_NAMES, "") | {
            "trace_id": "t1",
            "span_id": "s1",
            "ingested_at": "2026-10-01 12:00:00.000",
            "amount": "2000.0000",
        }
        later = first | {"ingested_at": "2026-10-01 13:00:00.250", "amount": "2500.0000"}
        version = ConflictingVersion.of(StoredFact(first, 0), StoredFact(later, 0))
        graph.nodes[invoice.event_id] = replace(invoice, conflicts=(version,))
        lineage = assemble([invoice.event_id], UPSTREAM, graph, RULES)
        document = lineage_out(lineage, ObjectRef("invoice", "INV-1")).model_dump(
            mode="json", by_alias=True
        )
        lines = render_text(LineageOut.model_validate(document)).splitlines()
        assert lines[-2:] == [
            "conflicting versions (re-sent later with other content; not counted):",
            "  - invoice.posted:INV-1 span s1, stored 2026-10-01 13:00:00.250Z: "
            "amount '2000.0000' → '2500.0000'",
        ]
