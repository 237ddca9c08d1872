"""SLA figures from GET /api/v1/slas, its trend and its timers (``SlaOut``, ``TrendPointOut``,
``TimerOut``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.figures.slas import (
    attainment_label,
    attainment_trend,
    breaches_over_time,
    duration_histogram,
    open_at_risk_rows,
    sla_rows,
    target_hours,
    trend_snapshots,
)
from tests.api_answers import sla, timer, trend_point

AS_OF = datetime(2026, 10, 30, 17, 0, tzinfo=UTC)
DAY_MS = 24 * 3600 * 1000


@pytest.mark.parametrize(
    ("target", "hours"),
    [("2d", 48.0), ("1d 4h", 28.0), ("36h", 36.0), ("90m", 1.5), ("soon", None)],
)
def test_target_is_read_in_business_hours(target: str, hours: float | None) -> None:
    """A business day is 24 business hours; text the dashboard cannot read gives no target line."""
    assert target_hours(target) == hours


@pytest.mark.parametrize(("share", "label"), [(0.9123, "91.2 %"), (1.0, "100.0 %"), (None, "—")])
def test_attainment_share_reads_as_a_percentage(share: float | None, label: str) -> None:
    """The API's share met / (met + breached) is shown in percent; none yet is a dash."""
    assert attainment_label(share) == label


def test_trend_has_one_line_per_sla_in_time_order() -> None:
    """Points answered in any order become time-ordered points in percent."""
    points = [
        trend_point("2026-10-30T17:00:00Z", ("a", 0.9)),
        trend_point("2026-10-23T17:00:00Z", ("a", 0.8)),
    ]
    snapshots = trend_snapshots(points)
    (line,) = attainment_trend(snapshots).data
    assert line.name == "a"
    assert list(line.x) == [datetime(2026, 10, 23, 17, tzinfo=UTC), AS_OF]
    assert list(line.y) == pytest.approx([80.0, 90.0])


def test_table_rows_show_counts_and_attainment_percent() -> None:
    """Each SLA row has its counts and attainment in percent."""
    (row,) = sla_rows([sla("time-to-invoice-posting", 0.9123, 10, 3)])
    assert row["attainment_%"] == 91.2
    assert (row["met"], row["breached"], row["at_risk"]) == (90, 10, 3)


def test_histogram_stacks_states_and_marks_the_target() -> None:
    """One histogram per state (met first) and a dashed line at the target."""
    timers = [
        timer("BE-1", "breached", 80, "2026-10-22T09:00:00Z", stopped=True),
        timer("BE-2", "met", 10, "2026-10-22T09:00:00Z", stopped=True),
    ]
    figure = duration_histogram(timers, 48.0)
    assert [t.name for t in figure.data] == ["met", "breached"]
    assert figure.layout.shapes[0].x0 == 48.0


class TestBreachesByWeek:
    def test_breaches_and_at_risk_are_counted_per_week_of_deadline(self) -> None:
        """Met timers are left out; deadlines in one week share a bar that starts on Monday."""
        timers = [
            timer("BE-1", "breached", 80, "2026-10-20T09:00:00Z", stopped=True),
            timer("BE-2", "breached", 90, "2026-10-22T09:00:00Z", stopped=True),
            timer("BE-3", "at_risk", 30, "2026-10-31T09:00:00Z"),
            timer("BE-4", "met", 10, "2026-10-22T09:00:00Z", stopped=True),
        ]
        breached, at_risk = breaches_over_time(timers).data
        assert list(breached.x) == [datetime(2026, 10, 19, tzinfo=UTC)]
        assert list(breached.y) == [2]
        assert list(at_risk.y) == [1]
        assert breached.offset == 0
        assert breached.width == 6 * DAY_MS

    def test_a_single_week_is_labelled_by_its_date_not_in_sub_second_ticks(self) -> None:
        """One week of data: one tick per week, a date label, a range of one whole week."""
        timers = [timer("BE-1", "breached", 80, "2026-10-20T09:00:00Z", stopped=True)]
        axis = breaches_over_time(timers).layout.xaxis
        monday = datetime(2026, 10, 19, tzinfo=UTC)
        assert (axis.type, axis.tickformat, axis.dtick) == ("date", "%d %b %Y", 7 * DAY_MS)
        assert axis.tick0 == monday
        assert list(axis.range) == [monday - timedelta(days=1), monday + timedelta(days=8)]

    def test_a_quarter_labels_every_second_week_so_labels_do_not_collide(self) -> None:
        """Thirteen weeks: a tick every two weeks, the range covering all thirteen."""
        first = datetime(2026, 7, 6, 9, tzinfo=UTC)
        timers = [
            timer(f"BE-{n}", "breached", 80, (first + timedelta(weeks=n)).isoformat(), stopped=True)
            for n in range(13)
        ]
        axis = breaches_over_time(timers).layout.xaxis
        assert axis.dtick == 14 * DAY_MS
        assert axis.tickformat == "%d %b %Y"
        start, end = axis.range
        assert (end - start) == timedelta(weeks=13, days=2)

    def test_the_count_axis_shows_whole_timers(self) -> None:
        """A bar of one timer is not labelled 0.5, 1.5."""
        timers = [timer("BE-1", "breached", 80, "2026-10-20T09:00:00Z", stopped=True)]
        axis = breaches_over_time(timers).layout.yaxis
        assert (axis.tickformat, axis.rangemode) == (",d", "tozero")


def test_open_at_risk_timers_are_listed_soonest_deadline_first() -> None:
    """Stopped or other-state timers are left out; hours to deadline count from as_of."""
    timers = [
        timer("BE-1", "at_risk", 30, "2026-11-02T17:00:00Z"),
        timer("BE-2", "at_risk", 40, "2026-10-31T17:00:00Z"),
        timer("BE-3", "at_risk", 50, "2026-10-31T12:00:00Z", stopped=True),
        timer("BE-4", "on_track", 5, "2026-11-05T17:00:00Z"),
    ]
    rows = open_at_risk_rows(timers, AS_OF)
    assert [r["hours_to_deadline"] for r in rows] == [24.0, 72.0]
    assert rows[0]["key"] == "billing_event BE-2"
