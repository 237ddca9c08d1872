"""Close-risk figures from the shape of GET /api/v1/close-risk."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.figures.close_risk import (
    amount_vs_materiality,
    contributor_rows,
    heatmap,
    level_rank,
    levels_for_period,
    materiality,
    risk_rows,
)


def risk(entity: str, period: str, level: str, **extra: Any) -> dict[str, Any]:
    return {
        "legal_entity": entity,
        "period": period,
        "close_date": "2026-11-06",
        "business_days_left": 4,
        "amount_at_risk": {"EUR": 1000.0},
        "level": level,
        "contributors": [],
        **extra,
    }


RISKS = [
    risk("LE-DE01", "2026-10", "high", amount_at_risk={"EUR": 250000.0}),
    risk("LE-UK01", "2026-10", "low", amount_at_risk={"GBP": 100.0}),
    risk("LE-DE01", "2026-09", "medium"),
]


@pytest.mark.parametrize(
    ("level", "rank"),
    [("none", 0), ("low", 1), ("Medium", 2), ("HIGH", 3), ("critical", 4), ("whatever", 1)],
)
def test_levels_rank_by_severity_case_insensitively(level: str, rank: int) -> None:
    """Known words order the heatmap; an unknown word sits just above low."""
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


def test_heatmap_places_each_level_in_its_entity_and_period_cell() -> None:
    """Missing cells stay empty; present ones carry their level's rank and label."""
    (trace,) = heatmap(RISKS).data
    assert list(trace.x) == ["2026-09", "2026-10"]
    assert list(trace.y) == ["LE-DE01", "LE-UK01"]
    assert [list(row) for row in trace.z] == [[2, 3], [None, 1]]
    assert trace.text[0][1].startswith("high")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"EUR": 50000.0}, {"EUR": 50000.0}),
        (50000, {"EUR": 50000.0}),
        (None, {}),
    ],
)
def test_materiality_is_read_per_currency_or_as_a_number(given: Any, expected: Any) -> None:
    """A bare number takes the currency of the amount at risk."""
    assert materiality(risk("LE-DE01", "2026-10", "high", materiality=given)) == expected


def test_amount_bars_show_materiality_markers_when_given() -> None:
    """Bars carry each amount at risk; a second trace marks materiality where it is known."""
    with_limit = [risk("LE-DE01", "2026-10", "high", materiality={"EUR": 50000.0})]
    bars, marks = amount_vs_materiality(with_limit).data
    assert list(bars.y) == [1000.0]
    assert list(marks.y) == [50000.0]
    assert len(amount_vs_materiality(RISKS).data) == 1


def test_contributors_are_flattened_for_a_table() -> None:
    """Nested object references read as 'type id'; the list is cut at the limit."""
    contributors = [
        {"object": {"type": "billing_event", "id": f"BE-{n}"}, "amount": n, "reason": "blocked"}
        for n in range(12)
    ]
    rows = contributor_rows(risk("LE-DE01", "2026-10", "high", contributors=contributors))
    assert len(rows) == 10
    assert rows[0] == {"object": "billing_event BE-0", "amount": 0, "reason": "blocked"}


def test_overview_levels_are_those_of_one_period() -> None:
    """Only the chosen period's entities appear, most severe first."""
    rows = levels_for_period(RISKS, "2026-10")
    assert [(r["legal_entity"], r["level"]) for r in rows] == [
        ("LE-DE01", "high"),
        ("LE-UK01", "low"),
    ]
