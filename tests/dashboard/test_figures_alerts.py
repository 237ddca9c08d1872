"""Alert rows from GET /api/v1/alerts, in our field names or Alertmanager's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard.figures.alerts import alert_list, split_alerts, timeline

OURS = [
    {
        "name": "SlaBreached",
        "status": "firing",
        "severity": "error",
        "summary": "time-to-invoice-posting breached",
        "legal_entity": "LE-UK01",
        "started_at": "2026-10-29T09:00:00Z",
        "ended_at": None,
    },
    {
        "name": "CloseAtRisk",
        "status": "resolved",
        "severity": "warning",
        "summary": "close risk high",
        "legal_entity": "LE-DE01",
        "started_at": "2026-10-27T09:00:00Z",
        "ended_at": "2026-10-28T09:00:00Z",
    },
]
ALERTMANAGER = [
    {
        "labels": {"alertname": "SlaAtRisk", "severity": "warning", "legal_entity": "LE-US01"},
        "annotations": {"summary": "75 % of target elapsed"},
        "startsAt": "2026-10-30T08:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "status": {"state": "active"},
    }
]


@pytest.mark.parametrize(
    "answer",
    [OURS, {"firing": [OURS[0]], "resolved": [OURS[1]]}, {"alerts": OURS}],
)
def test_alerts_are_found_in_any_envelope(answer: Any) -> None:
    """A list, an object of firing/resolved lists, or an object with an alerts list."""
    firing, resolved = split_alerts(answer)
    assert [r["alert"] for r in firing] == ["SlaBreached"]
    assert [r["alert"] for r in resolved] == ["CloseAtRisk"]
    assert resolved[0]["ended"] == datetime(2026, 10, 28, 9, 0, tzinfo=UTC)


def test_alertmanager_alerts_read_labels_and_annotations() -> None:
    """Name, severity and entity come from labels; the zero endsAt means still firing."""
    firing, resolved = split_alerts(ALERTMANAGER)
    assert resolved == []
    (row,) = firing
    assert (row["alert"], row["severity"], row["legal_entity"]) == (
        "SlaAtRisk",
        "warning",
        "LE-US01",
    )
    assert row["summary"] == "75 % of target elapsed"
    assert row["ended"] is None


def test_anything_else_is_no_alerts() -> None:
    """An unexpected answer shows as an empty list, not an error."""
    assert alert_list("nope") == []


def test_timeline_bars_run_from_firing_to_resolution_or_now() -> None:
    """A resolved alert's bar ends at its resolution; a firing one at now."""
    now = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)
    firing, resolved = split_alerts(OURS)
    (bars,) = timeline([*firing, *resolved], now).data
    assert list(bars.x) == [24 * 3600 * 1000, 24 * 3600 * 1000]
