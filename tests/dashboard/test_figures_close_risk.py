"""Close-risk figures from GET /api/v1/close-risk answers (``CloseRiskOut``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dashboard.figures.close_risk import (
    LEVELS,
    amount_vs_materiality,
    contributor_rows,
    heatmap,
    level_rank,
    levels_for_period,
    risk_rows,
)
from slas import close_risk
from tests.api_answers import risk

RISKS = [
    risk("LE-DE01", "2026-10", "high", Decimal("250000.0"), "EUR"),
    risk("LE-UK01", "2026-10", "low", Decimal("100.0"), "GBP"),
    risk("LE-DE01", "2026-09", "medium", Decimal("1000.0"), "EUR"),
]


def test_the_dashboard_knows_exactly_the_levels_the_api_sends() -> None:
    """Its level words are those slas.close_risk assigns, in the same order of severity."""
    assert close_risk.LEVELS == LEVELS


@pytest.mark.parametrize(
    ("level", "rank"), [("low", 0), ("medium", 1), ("high", 2), ("critical", 3), ("new", 3)]
)
def test_levels_rank_by_severity_and_an_unknown_word_is_not_hidden(level: str, rank: int) -> None:
    """low < medium < high < critical; a word the dashboard does not know ranks as critical."""
    assert level_rank(level) == rank


def test_rows_list_the_most_severe_first() -> None:
    """The table starts with the entity-period that most needs attention."""
    rows = risk_rows(RISKS)
    assert [(r["legal_entity"], r["period"]) for r in rows] == [
        ("LE-DE01", "2026-10"),
        ("LE-DE01", "2026-09"),
        ("LE-UK01", "2026-10"),
    ]
    assert rows[0]["amount_at_risk"] == "EUR 250,000.00"
    assert rows[0]["materiality"] == "50,000.00"


def test_heatmap_places_each_level_in_its_entity_and_period_cell() -> None:
    """Missing cells stay empty; present ones carry their level's rank and label."""
    (trace,) = heatmap(RISKS).data
    assert list(trace.x) == ["2026-09", "2026-10"]
    assert list(trace.y) == ["LE-DE01", "LE-UK01"]
    assert [list(row) for row in trace.z] == [[1, 2], [None, 0]]
    assert trace.text[0][1].startswith("high")
    assert (trace.zmin, trace.zmax) == (0, 3)


def test_materiality_marks_every_currency_of_its_entity() -> None:
    """The level compares each currency's amount with one threshold, so each bar shows it."""
    two_currencies = risk(
        "LE-UK01", "2026-10", "high", Decimal("60000.0"), "GBP", materiality=Decimal("40000")
    )
    two_currencies.amount_at_risk["EUR"] = Decimal("10.00")
    bars, marks = amount_vs_materiality([two_currencies]).data
    assert list(bars.x) == ["LE-UK01 2026-10 (EUR)", "LE-UK01 2026-10 (GBP)"]
    assert list(bars.y) == [10.0, 60000.0]
    assert list(marks.y) == [40000.0, 40000.0]


def test_contributors_read_as_type_and_id_and_are_cut_at_the_limit() -> None:
    """The item reads 'type id'; the list is cut at the limit."""
    many = risk("LE-DE01", "2026-10", "high", Decimal("1000.0"), "EUR")
    many.contributors = many.contributors * 12
    rows = contributor_rows(many)
    assert len(rows) == 10
    assert rows[0]["object"] == "billing_event BE-LE-DE01-1"
    assert (rows[0]["reason"], rows[0]["error_code"]) == ("blocked", "HTTP_503")


def test_overview_levels_are_those_of_one_period() -> None:
    """Only the chosen period's entities appear, most severe first."""
    rows = levels_for_period(RISKS, "2026-10")
    assert [(r.legal_entity, r.level) for r in rows] == [("LE-DE01", "high"), ("LE-UK01", "low")]


def test_among_equal_levels_the_largest_share_of_materiality_comes_first() -> None:
    """Found on the medium quarter, where every entity-period is critical: the close-risk page's
    "At risk in the worst case" showed the oldest (EUR 723,354 of 250,000) rather than the one
    furthest over its materiality (GBP 7,880,649, still ahead of its close)."""
    oldest = risk("LE-DE01", "2026-08", "critical", Decimal("723354.31"), "EUR")
    furthest = risk("LE-UK01", "2026-10", "critical", Decimal("7880649.42"), "GBP")
    between = risk("LE-US01", "2026-09", "critical", Decimal("4738096.8912"), "USD")
    lower = risk("LE-US01", "2026-10", "high", Decimal("9000000"), "USD")
    for row in (oldest, furthest, between, lower):
        row.materiality = Decimal("250000")
    rows = risk_rows([oldest, lower, between, furthest])
    assert [(r["legal_entity"], r["period"]) for r in rows] == [
        ("LE-UK01", "2026-10"),
        ("LE-US01", "2026-09"),
        ("LE-DE01", "2026-08"),
        ("LE-US01", "2026-10"),
    ]
