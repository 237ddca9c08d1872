"""The lineage swim-lane graph and tables from the shape of GET /api/v1/lineage/{type}/{id}."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dashboard.figures.lineage import event_rows, failed_count, gap_rows, lane_graph, lanes
from tests.api_answers import lineage, lineage_node

node = lineage_node
LINEAGE = lineage(
    ("invoice", "INV-1"),
    node("invoice.posted:INV-1", "2026-10-21T19:32:00Z", "psa", "erp", "dead_lettered", 5),
    node("contract.signed:C1", "2026-08-12T08:21:00Z", "crm", "psa"),
    node("billing.ready:BE-1", "2026-10-16T04:23:00Z", "psa", "erp", attempts=2, replays=1),
    edges=[
        {"from": "contract.signed:C1", "to": "billing.ready:BE-1", "via": {"type": "contract", "id": "C1"}},
        {"from": "billing.ready:BE-1", "to": "invoice.posted:INV-1", "via": {"type": "billing_event", "id": "BE-1"}},
    ],
)  # fmt: skip


def traces_by_name(figure: Any) -> dict[str, Any]:
    return {trace.name: trace for trace in figure.data}


def test_lanes_are_the_four_systems_then_any_other() -> None:
    """Known systems keep their order; an unknown middleware system gets its own lane."""
    assert lanes([node("x:1", "2026-10-01T00:00:00Z", "crm", "hr")]) == [
        "crm",
        "psa",
        "erp",
        "revrec",
        "hr",
    ]


def test_events_sit_on_their_target_lane_in_time_order() -> None:
    """Evenly spaced by default, oldest left; each marker on the lane of its target system."""
    events = traces_by_name(lane_graph(LINEAGE))["event"]
    assert list(events.x) == [0, 1, 2]
    assert list(events.y) == [1, 2, 2]  # psa, erp, erp
    assert list(events.text) == ["contract.signed", "billing.ready ↻2", "invoice.posted ↻5"]


def test_true_time_scale_puts_events_at_their_timestamps() -> None:
    """With the calendar axis the x values are the events' instants."""
    events = traces_by_name(lane_graph(LINEAGE, true_time=True))["event"]
    assert events.x[0] == datetime(2026, 8, 12, 8, 21, tzinfo=UTC)


def test_failed_hops_are_red_and_apart_from_successful_ones() -> None:
    """Only the dead-lettered invoice posting is drawn as a failed hop, from psa to erp."""
    traces = traces_by_name(lane_graph(LINEAGE))
    assert list(traces["failed hop"].y) == [1, 2, None]
    assert traces["failed hop"].line.color == "#d62728"
    assert list(traces["sync hop"].y) == [0, 1, None, 1, 2, None]


def test_failed_and_redelivered_events_have_their_own_markers() -> None:
    """A failed event is an x; a retried or replayed one a larger dotted circle."""
    marker = traces_by_name(lane_graph(LINEAGE))["event"].marker
    assert list(marker.symbol) == ["circle", "circle-dot", "x"]
    assert list(marker.size) == [12, 16, 16]


def test_every_edge_is_an_arrow_from_feeder_to_fed() -> None:
    """Arrows start at the feeding event and point at the event it feeds."""
    arrows = lane_graph(LINEAGE).layout.annotations
    assert [(a.ax, a.ay, a.x, a.y) for a in arrows] == [(0, 1, 1, 2), (1, 2, 2, 2)]


def test_event_table_is_oldest_first_with_trace_and_span_ids() -> None:
    """Auditors find each event's trace and span id next to it."""
    rows = event_rows(LINEAGE)
    assert [r["event_id"] for r in rows] == [
        "contract.signed:C1",
        "billing.ready:BE-1",
        "invoice.posted:INV-1",
    ]
    assert rows[2]["trace_id"] == "trace-invoice.posted:INV-1"
    assert rows[2]["span_id"] == "span-invoice.posted:INV-1"
    assert rows[0]["amount"] == "GBP 100.00"


def test_gaps_and_failures_are_counted() -> None:
    """The incomplete chain reports its gap and its one failed event."""
    assert gap_rows(LINEAGE) == [
        {
            "kind": "posting_failed",
            "event": "invoice.posted:INV-1",
            "message": "has not succeeded",
            "via": "",
        }
    ]
    assert failed_count(LINEAGE) == 1
