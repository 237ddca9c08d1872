"""Lineage of one object as the auditor reads it: systems as lanes from top to bottom, time from
left to right, each event a hop from its source to its target system, failed hops in red, retries
and replays marked, and arrows from each event to the events it feeds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.money import DANGER, MUTED, SAFE, WARNING, format_money
from lineage.models import LineageNode, LineageOut

SYSTEM_LANES = ("crm", "psa", "erp", "revrec")
OUTCOME_COLOURS = {"success": SAFE, "retrying": WARNING, "failed": DANGER, "dead_lettered": DANGER}


def lanes(nodes: Iterable[LineageNode]) -> list[str]:
    """The four known systems in their usual order, then any other system the events name."""
    seen = {system for n in nodes for system in (n.source_system, n.target_system)}
    extra = sorted(seen - set(SYSTEM_LANES) - {""})
    return [*SYSTEM_LANES, *extra]


def is_failed(node: LineageNode) -> bool:
    return node.outcome != "success"


def was_redelivered(node: LineageNode) -> bool:
    """More than one attempt: retries, or replays of the same event."""
    return node.attempts > 1 or node.replays > 0


def node_label(node: LineageNode) -> str:
    label = node.event_type
    if was_redelivered(node):
        label += f" ↻{node.attempts}"
    return label


def _hover(node: LineageNode) -> str:
    lines = [
        f"<b>{node.event_id}</b>",
        f"{node.source_system} → {node.target_system} · {node.outcome}",
        node.timestamp.strftime("%Y-%m-%d %H:%M:%S UTC"),
        f"attempts {node.attempts}, replays {node.replays}",
    ]
    if node.error_category:
        lines.append(f"error: {node.error_category}")
    if node.amount is not None:
        lines.append(format_money(node.amount, node.currency))
    lines.append(f"trace {node.trace_id} · span {node.span_id}")
    return "<br>".join(lines)


def in_time_order(nodes: Iterable[LineageNode]) -> list[LineageNode]:
    return sorted(nodes, key=lambda n: (n.timestamp, n.event_id))


def lane_graph(lineage: LineageOut, *, true_time: bool = False) -> go.Figure:
    """The lineage as a left-to-right swim-lane graph.

    With ``true_time`` the x axis is the calendar; otherwise events are evenly spaced in time
    order (labelled with their dates), which keeps bursts of events on one day readable.
    """
    nodes = in_time_order(lineage.nodes)
    order = lanes(nodes)
    lane = {name: position for position, name in enumerate(order)}
    x_of: dict[str, Any] = {
        n.event_id: n.timestamp if true_time else position for position, n in enumerate(nodes)
    }
    y_of = {n.event_id: lane.get(n.target_system, 0) for n in nodes}
    figure = go.Figure()
    for failed in (False, True):
        hop_x: list[Any] = []
        hop_y: list[Any] = []
        for node in nodes:
            source = lane.get(node.source_system)
            target = lane.get(node.target_system)
            if is_failed(node) == failed and source is not None and target not in (None, source):
                hop_x += [x_of[node.event_id]] * 2 + [None]
                hop_y += [source, target, None]
        figure.add_trace(
            go.Scatter(
                x=hop_x,
                y=hop_y,
                mode="lines",
                line={"color": DANGER if failed else SAFE, "width": 3 if failed else 2},
                hoverinfo="skip",
                name="failed hop" if failed else "sync hop",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[x_of[n.event_id] for n in nodes],
            y=[y_of[n.event_id] for n in nodes],
            mode="markers+text",
            text=[node_label(n) for n in nodes],
            textposition=[
                "top center" if position % 2 == 0 else "bottom center"
                for position in range(len(nodes))
            ],
            marker={
                "size": [16 if was_redelivered(n) else 12 for n in nodes],
                "color": [OUTCOME_COLOURS.get(n.outcome, DANGER) for n in nodes],
                "symbol": [
                    "x" if is_failed(n) else "circle-dot" if was_redelivered(n) else "circle"
                    for n in nodes
                ],
                "line": {"width": 1, "color": "white"},
            },
            hovertext=[_hover(n) for n in nodes],
            hoverinfo="text",
            name="event",
        )
    )
    for edge in lineage.edges:
        feeder, fed = edge.source, edge.target
        if feeder in x_of and fed in x_of:
            figure.add_annotation(
                x=x_of[fed],
                y=y_of[fed],
                ax=x_of[feeder],
                ay=y_of[feeder],
                xref="x",
                yref="y",
                axref="x",
                ayref="y",
                showarrow=True,
                arrowhead=2,
                arrowsize=1,
                arrowwidth=1,
                arrowcolor=MUTED,
                standoff=7,
                text="",
            )
    xaxis: dict[str, Any] = {"title": "time (UTC)", "type": "date"}
    if not true_time:
        xaxis = {
            "title": "events in time order",
            "tickvals": list(range(len(nodes))),
            "ticktext": [_tick(n) for n in nodes],
            "range": [-0.6, max(len(nodes) - 0.4, 0.6)],
            "zeroline": False,
        }
    figure.update_layout(
        height=160 + 80 * len(order),
        margin={"t": 20, "b": 10, "l": 10, "r": 10},
        xaxis=xaxis,
        yaxis={
            "tickvals": list(range(len(order))),
            "ticktext": order,
            "range": [len(order) - 0.4, -0.8],
            "title": "system",
            "zeroline": False,
        },
        legend={"orientation": "h", "y": -0.3},
    )
    return figure


def _tick(node: LineageNode) -> str:
    return node.timestamp.strftime("%m-%d<br>%H:%M")


def event_rows(lineage: LineageOut) -> list[dict[str, Any]]:
    """The lineage's events for the table, oldest first, with trace and span ids."""
    return [
        {
            "timestamp": n.timestamp,
            "event_type": n.event_type,
            "systems": f"{n.source_system} → {n.target_system}",
            "outcome": n.outcome,
            "attempts": n.attempts,
            "replays": n.replays,
            "error_category": n.error_category,
            "amount": format_money(n.amount, n.currency) if n.amount is not None else "",
            "period": n.period,
            "trace_id": n.trace_id,
            "span_id": n.span_id,
            "event_id": n.event_id,
        }
        for n in in_time_order(lineage.nodes)
    ]


def gap_rows(lineage: LineageOut) -> list[dict[str, Any]]:
    return [
        {
            "kind": gap.kind,
            "event": gap.event_id,
            "message": gap.message,
            "via": f"{gap.via.type} {gap.via.id}" if gap.via else "",
        }
        for gap in lineage.gaps
    ]


def failed_count(lineage: LineageOut) -> int:
    return sum(1 for n in lineage.nodes if is_failed(n))
