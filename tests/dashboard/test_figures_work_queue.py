"""The work queue's grouping by owner: money per currency summed exactly, the owners holding the
most money first, the oldest item first within an owner."""

from __future__ import annotations

from decimal import Decimal

from dashboard.figures.work_queue import item_rows, money_text, owner_groups
from slas.work_item_models import OwnerTotalOut
from tests.api_answers import at, work_item


class TestOwnerGroups:
    def test_money_is_summed_per_currency_and_never_converted(self) -> None:
        """Two currencies of one owner stay apart; cents survive the sum."""
        (group,) = owner_groups(
            [
                work_item("wi-1", "erp team", {"EUR": "0.10"}, 1.0),
                work_item("wi-2", "erp team", {"EUR": "0.20", "USD": "5"}, 2.0),
            ]
        )
        assert group.money == {"EUR": Decimal("0.30"), "USD": Decimal("5")}
        assert money_text(group.money) == "USD 5.00 · EUR 0.30"

    def test_owners_with_the_most_money_come_first_then_the_busiest(self) -> None:
        """Largest amount in any currency first; equal money, more items first."""
        groups = owner_groups(
            [
                work_item("wi-1", "small", {"EUR": "10"}, 1.0),
                work_item("wi-2", "big", {"GBP": "900"}, 1.0),
                work_item("wi-3", "busy", {}, 1.0),
                work_item("wi-4", "busy", {}, 1.0),
                work_item("wi-5", "idle", {}, 1.0),
            ]
        )
        assert [g.owner for g in groups] == ["big", "small", "busy", "idle"]

    def test_the_oldest_item_leads_its_group_and_names_its_age(self) -> None:
        """Within an owner, by business age, oldest first; the heading says it."""
        (group,) = owner_groups(
            [
                work_item("wi-1", "erp team", {"EUR": "1"}, 3.0),
                work_item("wi-2", "erp team", {"EUR": "1"}, 41.25),
            ]
        )
        assert [i.id for i in group.items] == ["wi-2", "wi-1"]
        assert group.heading == "erp team · 2 items · EUR 2.00 · oldest 41.2 business h"

    def test_with_the_answer_s_owner_totals_a_group_counts_every_item_not_the_listed(
        self,
    ) -> None:
        """The page lists the oldest 2,000 items; a team's heading read as its total although
        it counted and summed only those listed (found from outside). With the answer's
        ``owners`` each group counts and sums all of its owner's items, and says how many are
        listed; an owner none of whose items is listed still has its group."""
        totals = [
            OwnerTotalOut(
                owner="erp team",
                items=1234,
                money_blocked={"EUR": Decimal("9000.50")},
                oldest_since=at("2026-10-01T09:00:00Z"),
                oldest_business_hours=300.0,
            ),
            OwnerTotalOut(
                owner="crm team",
                items=7,
                money_blocked={},
                oldest_since=at("2026-10-20T09:00:00Z"),
                oldest_business_hours=20.0,
            ),
        ]
        erp, crm = owner_groups(
            [
                work_item("wi-1", "erp team", {"EUR": "1"}, 3.0),
                work_item("wi-2", "erp team", {"EUR": "1"}, 41.25),
            ],
            totals,
        )
        assert erp.heading == (
            "erp team · 1,234 items (2 listed) · EUR 9,000.50 · oldest 300.0 business h"
        )
        assert [i.id for i in erp.items] == ["wi-2", "wi-1"]
        assert (crm.owner, crm.count, crm.items) == ("crm team", 7, ())

    def test_rows_name_the_kind_and_a_resolution(self) -> None:
        """A breached timer reads as one; a resolved item says how it was resolved."""
        item = work_item("wi-1", "billing", {}, 1.0, kind="breached_timer", state="resolved")
        resolved = item.model_copy(update={"resolution": "automatic"})
        (row,) = item_rows([resolved])
        assert (row["kind"], row["state"], row["money blocked"]) == (
            "breached SLA timer",
            "resolved (automatic)",
            "—",
        )
