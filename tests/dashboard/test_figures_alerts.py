"""Alert rows and timeline from GET /api/v1/alerts answers (``AlertOut``)."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.figures.alerts import split_alerts, timeline
from tests.api_answers import alert

ALERTS = [
    alert("SlaBreached", "firing", "LE-UK01", "2026-10-29T09:00:00Z"),
    alert("CloseAtRisk", "resolved", "LE-DE01", "2026-10-27T09:00:00Z", "2026-10-28T09:00:00Z"),
    alert("SlaAtRisk", "firing", "LE-US01", "2026-10-30T08:00:00Z"),
]


def test_alerts_split_into_firing_and_resolved_newest_first() -> None:
    """Name, severity, entity and owner come from the labels, the summary from the annotations."""
    firing, resolved = split_alerts(ALERTS)
    assert [r["alert"] for r in firing] == ["SlaAtRisk", "SlaBreached"]
    assert [r["alert"] for r in resolved] == ["CloseAtRisk"]
    assert firing[1] | {"started": None} == {
        "alert": "SlaBreached",
        "status": "firing",
        "severity": "error",
        "summary": "SlaBreached in LE-UK01",
        "legal_entity": "LE-UK01",
        "owner": "billing team",
        "started": None,
        "ended": None,
    }
    assert resolved[0]["ended"] == datetime(2026, 10, 28, 9, 0, tzinfo=UTC)


def test_timeline_bars_run_from_firing_to_resolution_or_now() -> None:
    """A resolved alert's bar ends at its resolution; a firing one at now."""
    now = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)
    firing, resolved = split_alerts(ALERTS[:2])
    (bars,) = timeline([*firing, *resolved], now).data
    assert list(bars.x) == [24 * 3600 * 1000, 24 * 3600 * 1000]
