"""What ``syncsight sla status`` prints: the SLA summary and one SLA's timers as rich tables, from
the API's response models (the lineage tree's text form is ``lineage.render``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from domain.money import money_text
from slas.models import SlaOut, TimerOut

SUMMARY_STATES = ("met", "breached", "at_risk", "on_track")


def summary_table(slas: Sequence[SlaOut]) -> Table:
    """One row per SLA: target, timers by state, attainment and business-hour percentiles."""
    table = Table(title="Business SLAs")
    for column in ("SLA", "target", "met", "breached", "at risk", "on track", "attainment"):
        table.add_column(column, justify="left" if column in ("SLA", "target") else "right")
    table.add_column("p50 h", justify="right")
    table.add_column("p95 h", justify="right")
    for sla in slas:
        table.add_row(
            sla.name,
            sla.target,
            *(f"{sla.counts.get(state, 0):,}" for state in SUMMARY_STATES),
            _percent(sla.attainment),
            _hours(sla.p50_business_hours),
            _hours(sla.p95_business_hours),
        )
    return table


def timers_table(sla: str, timers: Sequence[TimerOut]) -> Table:
    """One row per timer, in the API's order (the most urgent first)."""
    table = Table(title=f"{sla}: timers, most urgent first")
    table.add_column("key", no_wrap=True)
    for column in ("state", "legal entity", "started", "deadline", "business h", "amount"):
        table.add_column(column, justify="right" if column in ("business h", "amount") else "left")
    for timer in timers:
        state = timer.state + (f" ({timer.breach_reason})" if timer.breach_reason else "")
        amount = (
            ""
            if timer.amount is None
            else f"{money_text(timer.amount, grouped=True)} {timer.currency}"
        )
        table.add_row(
            f"{timer.key.type} {timer.key.id}",
            state,
            timer.legal_entity,
            timer.started_at.strftime("%Y-%m-%d %H:%M"),
            timer.deadline.strftime("%Y-%m-%d %H:%M"),
            f"{timer.business_elapsed_hours:.1f}",
            amount,
        )
    return table


def instants_caption(as_of: datetime | None, known_at: datetime | None) -> str:
    """The instants an answer describes, from its X-Syncsight-As-Of / -Known-At headers: pass
    them back as --as-of and --known-at to get the same answer again."""
    return f"as of {_instant(as_of)} · known at {_instant(known_at)}"


def _instant(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat().replace("+00:00", "Z")


def print_whole(table: Table, console: Console) -> None:
    """Print ``table`` with every cell whole: as wide as it needs where the output is not a
    terminal (a pipe, a file: rich would assume 80 columns and cut "153,728" to "153,7…"), and
    folded rather than cut in a terminal too narrow for it."""
    for column in table.columns:
        column.overflow = "fold"
    if not console.is_terminal:
        needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
        console.width = max(console.width, needed)
    console.print(table)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
