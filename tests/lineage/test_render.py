"""The text tree the CLI prints, from the API's JSON shape."""

from __future__ import annotations

from domain import semconv as sc
from domain.business_event import BusinessEvent
from domain.objects import ObjectRef
from lineage.assembly import assemble
from lineage.graph import DOWNSTREAM, UPSTREAM
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
