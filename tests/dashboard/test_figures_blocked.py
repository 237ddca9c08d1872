"""Blocked-invoice figures and rankings from GET /api/v1/impact/blocked-invoices answers
(``BlockedItemOut``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dashboard.figures.blocked import (
    blocked_rows,
    by_group_bar,
    currency_bar,
    filter_items,
    newly_blocked,
    root_cause,
    sankey,
    shown_caption,
    top_failures,
    treemap,
)
from dashboard.figures.money import format_money, format_totals, sum_by_currency
from tests.api_answers import blocked_item as item
from tests.api_answers import blocker

AS_OF = datetime(2026, 10, 30, 17, 0, tzinfo=UTC)


CUSTOMER_SYNC = blocker(
    "customer.synced:C1", "master_data", "master data team", "2026-08-03T07:00:00Z"
)
ITEMS = [
    item(
        "BE-1",
        Decimal("1000.00"),
        "EUR",
        "LE-DE01",
        blocker(
            "invoice.posted:INV-BE-1", "master_data", "master data team", "2026-10-28T10:00:00Z"
        ),
        CUSTOMER_SYNC,
    ),
    item("BE-2", Decimal("500.50"), "EUR", "LE-DE01", CUSTOMER_SYNC),
    item(
        "BE-3",
        Decimal("2000.00"),
        "GBP",
        "LE-UK01",
        blocker("invoice.posted:INV-BE-3", "downstream", "platform team", "2026-10-29T09:00:00Z"),
    ),
    item(
        "BE-4",
        None,
        "USD",
        "LE-US01",
        blocker("billing.ready:BE-4", "mapping", "integration team", None),
    ),
]


class TestMoney:
    def test_amounts_are_shown_to_the_cent_with_their_currency(self) -> None:
        """1331142.55 EUR reads EUR 1,331,142.55; no amount reads as a dash."""
        assert format_money(Decimal("1331142.55"), "EUR") == "EUR 1,331,142.55"
        assert format_money(None, "EUR") == "—"

    def test_amounts_keep_every_digit_they_have(self) -> None:
        """An amount with four decimals is shown with four, never rounded to the cent."""
        assert format_money(Decimal("1234567.8912"), "EUR") == "EUR 1,234,567.8912"
        assert format_money(Decimal("2E+3"), "GBP") == "GBP 2,000.00"

    def test_totals_list_the_largest_currency_first(self) -> None:
        """Several currencies are never added up; the largest comes first."""
        totals = {"USD": Decimal("30"), "EUR": Decimal("1200")}
        assert format_totals(totals) == "EUR 1,200.00 · USD 30.00"

    def test_sum_by_currency_skips_unknown_amounts(self) -> None:
        """Items without an amount do not turn a total into nonsense."""
        amounts = [(i.amount, i.currency) for i in ITEMS]
        assert sum_by_currency(amounts) == {"EUR": Decimal("1500.50"), "GBP": Decimal("2000.00")}

    def test_sum_by_currency_of_many_small_amounts_is_exact(self) -> None:
        """A thousand amounts of 0.1 make exactly 100.00 (a float sum makes 99.9999999999986)."""
        total = sum_by_currency([(Decimal("0.1"), "EUR")] * 1000)
        assert format_totals(total) == "EUR 100.00"


class TestShown:
    @pytest.mark.parametrize(
        ("shown", "count", "caption"),
        [
            (0, 0, "0 blocked items"),
            (9566, 9566, "9,566 blocked items"),
            (10_000, 12_345, "the 10,000 largest of 12,345 blocked items"),
        ],
    )
    def test_the_caption_says_when_the_largest_only_are_drawn(
        self, shown: int, count: int, caption: str
    ) -> None:
        """Every item, or the largest of how many when the answer holds more."""
        assert shown_caption(shown, count) == caption


class TestRootCause:
    def test_the_earliest_failure_is_the_root_cause(self) -> None:
        """A failed customer sync from August explains an invoice refused in October."""
        cause = root_cause(ITEMS[0])
        assert cause is not None
        assert cause.event_id == "customer.synced:C1"

    def test_a_failure_without_a_time_is_still_a_cause(self) -> None:
        """An item whose only blocker has no failed_since still names it."""
        cause = root_cause(ITEMS[3])
        assert cause is not None
        assert cause.event_id == "billing.ready:BE-4"


class TestRows:
    def test_rows_carry_the_age_of_the_root_cause_largest_amount_first(self) -> None:
        """Each row ages its root-cause failure against as_of; the biggest money comes first."""
        rows = blocked_rows(ITEMS, AS_OF)
        assert [r["invoice"] for r in rows] == ["INV-BE-3", "INV-BE-1", "INV-BE-2", "INV-BE-4"]
        assert rows[0]["age_days"] == pytest.approx(1.3, abs=0.05)
        assert rows[1]["age_days"] == pytest.approx(88.4, abs=0.05)
        assert rows[1]["system"] == "crm → erp"
        assert rows[3]["age_days"] is None

    @pytest.mark.parametrize(
        ("owners", "expected"),
        [
            ((), ["BE-1", "BE-2", "BE-3", "BE-4"]),
            (("master data team",), ["BE-1", "BE-2"]),
            (("platform team", "integration team"), ["BE-3", "BE-4"]),
            (("nobody",), []),
        ],
    )
    def test_owner_filter_keeps_items_any_of_whose_failures_they_own(
        self, owners: tuple[str, ...], expected: list[str]
    ) -> None:
        """An item is listed for every team that owns one of its failures."""
        kept = filter_items(ITEMS, owners=owners)
        assert [i.object.id for i in kept] == expected


class TestNewlyBlocked:
    def test_only_items_first_failing_in_the_last_seven_days_count(self) -> None:
        """BE-3 failed yesterday; BE-1's root cause is from August, so it is not new."""
        assert newly_blocked(ITEMS, AS_OF) == {"GBP": 2000.0}

    def test_a_failure_after_as_of_is_not_counted(self) -> None:
        """Looking back in time ignores failures that had not happened yet."""
        assert newly_blocked(ITEMS, datetime(2026, 10, 29, 0, 0, tzinfo=UTC)) == {}


class TestTopFailures:
    def test_failures_are_ranked_by_the_money_they_hold(self) -> None:
        """The customer sync holds two EUR items; the GBP posting holds more in its currency."""
        ranked = top_failures(ITEMS, limit=3)
        assert [f.event_id for f in ranked] == [
            "invoice.posted:INV-BE-3",
            "customer.synced:C1",
            "invoice.posted:INV-BE-1",
        ]
        assert ranked[1].blocked == {"EUR": 1500.5}
        assert ranked[1].items == 2

    def test_limit_cuts_the_ranking(self) -> None:
        """Only the requested number of failures is returned."""
        assert len(top_failures(ITEMS, limit=2)) == 2


class TestCharts:
    def test_currency_bar_splits_new_from_earlier_blocks(self) -> None:
        """The stacked parts add up to the API's total per currency."""
        figure = currency_bar(
            {"EUR": Decimal("1500.50"), "GBP": Decimal("2000.00")}, {"GBP": Decimal("2000.00")}
        )
        earlier, recent = figure.data
        assert list(earlier.x) == ["GBP", "EUR"]
        assert [a + b for a, b in zip(earlier.y, recent.y, strict=True)] == [2000.0, 1500.5]

    def test_bars_hover_with_the_exact_amount(self) -> None:
        """The bar's height is a float for plotly; its hover text is the exact amount."""
        figure = currency_bar({"EUR": Decimal("1234567.8912")}, {})
        earlier, _ = figure.data
        assert list(earlier.customdata) == ["1,234,567.8912"]

    def test_treemap_nests_currency_category_system_entity_with_totals(self) -> None:
        """Every level's value is the sum of its children, currencies kept apart."""
        (trace,) = treemap(blocked_rows(ITEMS, AS_OF)).data
        values = dict(zip(trace.ids, trace.values, strict=True))
        assert values["EUR"] == 1500.5
        assert values["EUR/master_data/crm → erp/LE-DE01"] == 1500.5
        assert values["GBP/downstream/erp"] == 2000.0
        assert not any(key.startswith("USD") for key in values)

    def test_sankey_flows_category_to_system_to_entity_in_one_currency(self) -> None:
        """Flow widths are the blocked amounts of the chosen currency only."""
        (trace,) = sankey(blocked_rows(ITEMS, AS_OF), "GBP").data
        labels = list(trace.node.label)
        links = {
            (labels[s], labels[t]): v
            for s, t, v in zip(trace.link.source, trace.link.target, trace.link.value, strict=True)
        }
        assert links == {("downstream", "erp"): 2000.0, ("erp", "LE-UK01"): 2000.0}

    def test_group_bar_stacks_categories_per_owner(self) -> None:
        """One bar trace per error category, summed per owner."""
        figure = by_group_bar(blocked_rows(ITEMS, AS_OF), "owner", "EUR")
        assert [t.name for t in figure.data] == ["master_data"]
        assert list(figure.data[0].x) == ["master data team"]
        assert list(figure.data[0].y) == [1500.5]
