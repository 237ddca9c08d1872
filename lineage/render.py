"""The text form of a lineage: a tree from the root with systems, times, outcomes and amounts.

Upstream the children of an event are the events that fed it; downstream, the events it fed. An
event reached again through another path is shown once in full, then as ``(see above)``.
"""

from __future__ import annotations

from domain.money import money_text
from lineage.models import LineageEdge, LineageNode, LineageOut


def _amount(node: LineageNode) -> str:
    if node.amount is None:
        return ""
    return f"  {money_text(node.amount, grouped=True)} {node.currency}".rstrip()


def describe(node: LineageNode) -> str:
    """One line: type, id, systems, time, outcome with attempts, amount."""
    systems = f"{node.source_system or '?'}→{node.target_system or '?'}"
    when = node.timestamp.strftime("%Y-%m-%d %H:%M:%SZ")
    outcome = node.outcome
    if node.attempts > 1 or node.replays:
        outcome += f" after {node.attempts} attempts"
        if node.replays:
            outcome += f", {node.replays} replay{'s' if node.replays > 1 else ''}"
    if node.error_category and node.outcome != "success":
        outcome += f" ({node.error_category})"
    return f"{node.event_type}  {node.event_id}  {systems}  {when}  {outcome}{_amount(node)}"


def _children(lineage: LineageOut, upstream: bool) -> dict[str, list[LineageEdge]]:
    children: dict[str, list[LineageEdge]] = {}
    for edge in lineage.edges:
        parent = edge.target if upstream else edge.source
        children.setdefault(parent, []).append(edge)
    return children


def _tree(
    lineage: LineageOut,
    roots: list[str],
    upstream: bool,
) -> list[str]:
    nodes = {node.event_id: node for node in lineage.nodes}
    children = _children(lineage, upstream)
    shown: set[str] = set()
    lines: list[str] = []

    def visit(event_id: str, prefix: str, connector: str, via: str) -> None:
        node = nodes[event_id]
        label = f"{via}{describe(node)}"
        if event_id in shown:
            lines.append(f"{prefix}{connector}{via}{node.event_type}  {event_id}  (see above)")
            return
        shown.add(event_id)
        lines.append(f"{prefix}{connector}{label}")
        below = sorted(
            children.get(event_id, []),
            key=lambda e: (nodes[e.source if upstream else e.target].timestamp, e.via.id),
        )
        extension = prefix + ("" if not connector else ("   " if connector == "└─ " else "│  "))
        for index, edge in enumerate(below):
            last = index == len(below) - 1
            following = edge.source if upstream else edge.target
            arrow = "←" if upstream else "→"
            visit(
                following,
                extension,
                "└─ " if last else "├─ ",
                f"{arrow} {edge.via.type} {edge.via.id}: ",
            )

    for root in roots:
        visit(root, "", "", "")
    return lines


def render_text(lineage: LineageOut) -> str:
    """The whole lineage as a readable tree, with its completeness and gaps."""
    state = "complete" if lineage.complete else "INCOMPLETE"
    if lineage.truncated:
        state += " · TRUNCATED at the node limit (max_nodes)"
    lines = [
        f"{lineage.root.type} {lineage.root.id} · {lineage.direction} · {state} · "
        f"{len(lineage.nodes)} events, {len(lineage.source_events)} source events"
    ]
    roots = [node.event_id for node in lineage.nodes if node.event_id in lineage.root_events]
    if lineage.direction in ("upstream", "both"):
        lines += ["", "upstream (← fed by):", *_tree(lineage, roots, upstream=True)]
    if lineage.direction in ("downstream", "both"):
        lines += ["", "downstream (→ feeds):", *_tree(lineage, roots, upstream=False)]
    if lineage.gaps:
        lines += ["", "gaps:", *(f"  - {gap.message}" for gap in lineage.gaps)]
    conflicts = [
        f"  - {node.event_id} span {conflict.span_id}, stored "
        f"{conflict.ingested_at.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}Z: "
        + ", ".join(f"{d.field} {d.first!r} → {d.conflicting!r}" for d in conflict.differs)
        for node in lineage.nodes
        for conflict in node.conflicts
    ]
    if conflicts:
        lines += ["", "conflicting versions (re-sent later with other content; not counted):"]
        lines += conflicts
    return "\n".join(lines)
