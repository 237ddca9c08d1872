"""Lineage of one object as the auditor reads it: systems as lanes from top to bottom, time from
left to right, each event a hop from its source to its target system, failed hops in red, retries
and replays marked, and arrows from each event to the events it feeds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.blocked import parse_time
from dashboard.figures.money import DANGER, MUTED, SAFE, WARNING, format_money

Node = Mapping[str, Any]

SYSTEM_LANES = ("crm", "psa", "erp", "revrec")
OUTCOME_COLOURS = {"success": SAFE, "retrying": WARNING, "failed": DANGER, "dead_lettered": DANGER}


def lanes(nodes: Iterable[Node]) -> list[str]:
    """The four known systems in their usual order, then any other system the events name."""
    seen = {str(n.get(side) or "") for n in nodes for side in ("source_system", "target_system")}
    extra = sorted(seen - set(SYSTEM_LANES) - {""})
    return [*SYSTEM_LANES, *extra]


def is_failed(node: Node) -> bool:
    return str(node.get("outcome", "")) != "success"


def was_redelivered(node: Node) -> bool:
    """More than one attempt: retries, or replays of the same event."""
    return int(node.get("attempts") or 1) > 1 or int(node.get("replays") or 0) > 0


def node_label(node: Node) -> str:
    label = str(node.get("event_type", ""))
    if was_redelivered(node):
        label += f" ↻{int(node.get('attempts') or 1)}"
    return label


def _hover(node: Node) -> str:
    amount = node.get("amount")
    lines = [
        f"<b>{node.get('event_id')}</b>",
        f"{node.get('source_system')} → {node.get('target_system')} · {node.get('outcome')}",
        f"{node.get('timestamp')}",
        f"attempts {node.get('attempts')}, replays {node.get('replays', 0)}",
    ]
    if node.get("error_category"):
        lines.append(f"error: {node.get('error_category')}")
    if amount is not None:
        lines.append(format_money(float(amount), str(node.get("currency", ""))))
    lines.append(f"trace {node.get('trace_id')} · span {node.get('span_id')}")
    return "<br>".join(lines)


def in_time_order(nodes: Iterable[Node]) -> list[Node]:
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(nodes, key=lambda n: (parse_time(n.get("timestamp")) or far, str(n["event_id"])))


def lane_graph(lineage: Mapping[str, Any], *, true_time: bool = False) -> go.Figure:
    """The lineage as a left-to-right swim-lane graph.

    With ``true_time`` the x axis is the calendar; otherwise events are evenly spaced in time
    order (labelled with their dates), which keeps bursts of events on one day readable.
    """
    nodes = in_time_order(lineage.get("nodes") or [])
    order = lanes(nodes)
    lane = {name: position for position, name in enumerate(order)}
    x_of: dict[str, Any] = {
        str(n["event_id"]): parse_time(n.get("timestamp")) if true_time else position
        for position, n in enumerate(nodes)
    }
    y_of = {str(n["event_id"]): lane.get(str(n.get("target_system")), 0) for n in nodes}
    figure = go.Figure()
    for failed in (False, True):
        hop_x: list[Any] = []
        hop_y: list[Any] = []
        for node in nodes:
            source = lane.get(str(node.get("source_system")))
            target = lane.get(str(node.get("target_system")))
            if is_failed(node) == failed and source is not None and target not in (None, source):
                hop_x += [x_of[str(node["event_id"])]] * 2 + [None]
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
            x=[x_of[str(n["event_id"])] for n in nodes],
            y=[y_of[str(n["event_id"])] for n in nodes],
            mode="markers+text",
            text=[node_label(n) for n in nodes],
            textposition=[
                "top center" if position % 2 == 0 else "bottom center"
                for position in range(len(nodes))
            ],
            marker={
                "size": [16 if was_redelivered(n) else 12 for n in nodes],
                "color": [OUTCOME_COLOURS.get(str(n.get("outcome")), DANGER) for n in nodes],
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
    for edge in lineage.get("edges") or []:
        feeder, fed = str(edge.get("from")), str(edge.get("to"))
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


def _tick(node: Node) -> str:
    moment = parse_time(node.get("timestamp"))
    return moment.strftime("%m-%d<br>%H:%M") if moment else "?"


def event_rows(lineage: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The lineage's events for the table, oldest first, with trace and span ids."""
    return [
        {
            "timestamp": parse_time(n.get("timestamp")),
            "event_type": n.get("event_type", ""),
            "systems": f"{n.get('source_system')} → {n.get('target_system')}",
            "outcome": n.get("outcome", ""),
            "attempts": n.get("attempts"),
            "replays": n.get("replays", 0),
            "error_category": n.get("error_category", ""),
            "amount": format_money(n["amount"], str(n.get("currency", "")))
            if n.get("amount") is not None
            else "",
            "period": n.get("period", ""),
            "trace_id": n.get("trace_id", ""),
            "span_id": n.get("span_id", ""),
            "event_id": n.get("event_id", ""),
        }
        for n in in_time_order(lineage.get("nodes") or [])
    ]


def gap_rows(lineage: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "kind": gap.get("kind", ""),
            "event": gap.get("event_id", ""),
            "message": gap.get("message", ""),
            "via": f"{(gap.get('via') or {}).get('type', '')} {(gap.get('via') or {}).get('id', '')}".strip(),
        }
        for gap in lineage.get("gaps") or []
    ]


def failed_count(lineage: Mapping[str, Any]) -> int:
    return sum(1 for n in lineage.get("nodes") or [] if is_failed(n))
