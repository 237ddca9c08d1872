"""The error-budget table of the SLAs page, from ``ObjectiveOut`` answers."""

from __future__ import annotations

from dashboard.figures.slas import objective_rows
from tests.api_answers import objective


class TestObjectiveRows:
    def test_the_most_overspent_budget_comes_first(self) -> None:
        """Budget left ascending; an entity without timers (no budget figure) last."""
        rows = objective_rows(
            [
                objective("time-to-invoice-posting", "LE-DE01", 99, 1, fast=0.0, slow=0.2),
                objective("time-to-invoice-posting", "LE-US01", 0, 0, fast=0.0, slow=0.0),
                objective("time-to-invoice-posting", "LE-UK01", 90, 10, fast=4.0, slow=2.0),
            ]
        )
        assert [(r["legal_entity"], r["budget_left_%"]) for r in rows] == [
            ("LE-UK01", -100.0),
            ("LE-DE01", 80.0),
            ("LE-US01", None),
        ]

    def test_each_tier_shows_both_windows_and_when_it_fires(self) -> None:
        """'long / short (fires above factor)' per tier, and the tiers burning now."""
        (row,) = objective_rows(
            [objective("time-to-bill-readiness", "LE-UK01", 18, 2, fast=1.5, slow=1.2)]
        )
        assert row["burn_1d"] == "1.5x / 1.5x (fires above 2x)"
        assert row["burn_5d"] == "1.2x / 1.2x (fires above 1x)"
        assert row["burning"] == "5d"
        assert (row["objective_%"], row["attainment_%"]) == (95.0, 90.0)

    def test_the_legal_entity_filter_keeps_only_that_entity(self) -> None:
        """A page filtered to LE-DE01 shows LE-DE01's budgets only."""
        answers = [
            objective("time-to-invoice-posting", entity, 10, 0, fast=0.0, slow=0.0)
            for entity in ("LE-DE01", "LE-UK01")
        ]
        assert [r["legal_entity"] for r in objective_rows(answers, "LE-DE01")] == ["LE-DE01"]
