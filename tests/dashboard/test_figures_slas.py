"""SLA figures from the shapes of GET /api/v1/slas and /api/v1/slas/{name}/timers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard.figures.slas import (
    attainment_share,
    attainment_trend,
    breaches_over_time,
    duration_histogram,
    open_at_risk_rows,
    sla_rows,
    target_hours,
    trend_snapshots,
)

AS_OF = datetime(2026, 10, 30, 17, 0, tzinfo=UTC)


def sla(name: str, attainment: float, target: Any = "2d") -> dict[str, Any]:
    return {
        "name": name,
        "target": target,
        "counts": {"met": 90, "breached": 10, "at_risk": 3, "on_track": 5},
        "attainment": attainment,
        "p50_business_hours": 20.0,
        "p95_business_hours": 60.0,
    }


def timer(state: str, hours: float, deadline: str, stopped: str | None = None) -> dict[str, Any]:
    return {
        "key": {"type": "contract", "id": f"CTR-{state}-{hours}"},
        "state": state,
        "started_at": "2026-10-20T09:00:00Z",
        "stopped_at": stopped,
        "deadline": deadline,
        "business_elapsed_hours": hours,
        "legal_entity": "LE-UK01",
        "amount": 100.0,
    }


@pytest.mark.parametrize(
    ("given", "hours"),
    [
        ({"target": "2d"}, 48.0),
        ({"target": "1d 4h"}, 28.0),
        ({"target": "90m"}, 1.5),
        ({"target": 36}, 36.0),
        ({"target": "2d", "target_business_hours": 16.0}, 16.0),
        ({"target": "soon"}, None),
    ],
)
def test_target_is_read_in_business_hours(given: dict[str, Any], hours: float | None) -> None:
    """A business day is 24 business hours; an explicit hour field wins over the text."""
    assert target_hours(given) == hours


@pytest.mark.parametrize(("given", "share"), [(0.9, 0.9), (90.0, 0.9), (1, 1.0), (None, None)])
def test_attainment_is_a_share_whether_given_as_share_or_percent(
    given: float | None, share: float | None
) -> None:
    """0.9 and 90 both mean 90 %."""
    assert attainment_share({"attainment": given}) == share


def test_trend_has_one_line_per_sla_in_time_order() -> None:
    """Snapshots taken in any order become time-ordered points in percent."""
    later = datetime(2026, 10, 30, tzinfo=UTC)
    earlier = datetime(2026, 10, 23, tzinfo=UTC)
    figure = attainment_trend([(later, [sla("a", 0.9)]), (earlier, [sla("a", 0.8)])])
    (line,) = figure.data
    assert line.name == "a"
    assert list(line.x) == [earlier, later]
    assert list(line.y) == pytest.approx([80.0, 90.0])


def test_trend_points_become_snapshots_oldest_first() -> None:
    """GET /slas/trend points, in any order, as (moment, SLAs); unreadable times are left out."""
    points = [
        {"as_of": "2026-10-30T17:00:00Z", "slas": [sla("a", 0.9)]},
        {"as_of": "not a time", "slas": [sla("a", 0.1)]},
        {"as_of": "2026-10-23T17:00:00Z", "slas": [sla("a", 0.8)]},
    ]
    snapshots = trend_snapshots(points)
    assert [moment for moment, _ in snapshots] == [
        datetime(2026, 10, 23, 17, tzinfo=UTC),
        datetime(2026, 10, 30, 17, tzinfo=UTC),
    ]
    assert [attainment_share(slas[0]) for _, slas in snapshots] == [0.8, 0.9]


def test_table_rows_show_counts_and_attainment_percent() -> None:
    """Each SLA row has its counts and attainment in percent."""
    (row,) = sla_rows([sla("time-to-invoice-posting", 0.9123)])
    assert row["attainment_%"] == 91.2
    assert (row["met"], row["breached"], row["at_risk"]) == (90, 10, 3)


def test_histogram_stacks_states_and_marks_the_target() -> None:
    """One histogram per state (met first) and a dashed line at the target."""
    timers = [
        timer("breached", 80, "2026-10-22T09:00:00Z"),
        timer("met", 10, "2026-10-22T09:00:00Z"),
    ]
    figure = duration_histogram(timers, 48.0)
    assert [t.name for t in figure.data] == ["met", "breached"]
    assert figure.layout.shapes[0].x0 == 48.0


def test_breaches_and_at_risk_are_counted_per_week_of_deadline() -> None:
    """Met timers are left out; deadlines in one week share a bar."""
    timers = [
        timer("breached", 80, "2026-10-20T09:00:00Z"),
        timer("breached", 90, "2026-10-22T09:00:00Z"),
        timer("at_risk", 30, "2026-10-31T09:00:00Z"),
        timer("met", 10, "2026-10-22T09:00:00Z"),
    ]
    breached, at_risk = breaches_over_time(timers).data
    assert list(breached.x) == [datetime(2026, 10, 19, tzinfo=UTC)]
    assert list(breached.y) == [2]
    assert list(at_risk.y) == [1]


def test_open_at_risk_timers_are_listed_soonest_deadline_first() -> None:
    """Stopped or other-state timers are left out; hours to deadline count from as_of."""
    timers = [
        timer("at_risk", 30, "2026-11-02T17:00:00Z"),
        timer("at_risk", 40, "2026-10-31T17:00:00Z"),
        timer("at_risk", 50, "2026-10-31T12:00:00Z", stopped="2026-10-30T12:00:00Z"),
        timer("on_track", 5, "2026-11-05T17:00:00Z"),
    ]
    rows = open_at_risk_rows(timers, AS_OF)
    assert [r["hours_to_deadline"] for r in rows] == [24.0, 72.0]
    assert rows[0]["key"] == "contract CTR-at_risk-40"
