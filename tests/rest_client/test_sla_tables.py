"""The tables `syncsight sla status` prints, from the API's response models."""

from __future__ import annotations

import io
from decimal import Decimal

from rich.console import Console

from rest_client.sla_tables import print_whole, summary_table, timers_table
from tests.api_answers import sla, timer


def printed(table: object) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_the_summary_shows_each_slas_counts_attainment_and_percentiles() -> None:
    """One row per SLA; a missing attainment reads as a dash, not 0 %."""
    text = printed(
        summary_table([sla("time-to-invoice-posting", 0.9123, 1234, 5), sla("x", None, 0, 0)])
    )
    row = next(line for line in text.splitlines() if "time-to-invoice-posting" in line)
    cells = [cell.strip() for cell in row.split("│")[2:10]]
    assert cells == ["1d", "90", "1,234", "5", "4", "91.2 %", "12.5", "30.0"]
    row = next(line for line in text.splitlines() if line.startswith("│ x "))
    assert row.split("│")[7].strip() == "-"


def test_the_timers_table_names_key_state_reason_and_amount() -> None:
    """A breached timer says why; its amount keeps its currency."""
    text = printed(
        timers_table("time-to-invoice-posting", [timer("BE-2", "breached", 40.0, "2026-10-29T09:00:00Z", stopped=True)])
    )  # fmt: skip
    assert "billing_event BE-2" in text
    assert "breached (late)" in text
    assert "1,000.00 GBP" in text
    assert "2026-10-29 09:00" in text


def test_the_timers_table_shows_every_digit_of_the_amount() -> None:
    """An amount with four decimals is printed with four, never rounded to the cent."""
    exact = timer("BE-3", "at_risk", 20.0, "2026-10-31T09:00:00Z").model_copy(
        update={"amount": Decimal("1234567.8912")}
    )
    assert "1,234,567.8912 GBP" in printed(timers_table("time-to-invoice-posting", [exact]))


def test_a_table_printed_into_a_pipe_keeps_every_name_and_count_whole() -> None:
    """Found piping `syncsight sla status` on the medium quarter: rich assumed 80 columns and
    printed every SLA as "time-…" and 153,728 met timers as "153,7…"."""
    slas = [sla(name, 0.8612, 153_728, 24_780) for name in ("time-to-bill-readiness", "time-to-revenue-posting")]  # fmt: skip
    pipe = io.StringIO()
    print_whole(summary_table(slas), Console(file=pipe, width=80))
    text = pipe.getvalue()
    assert "…" not in text
    for name in ("time-to-bill-readiness", "time-to-revenue-posting"):
        row = next(line for line in text.splitlines() if name in line)
        assert all(whole in row for whole in ("153,728", "24,780", "86.1 %")), row


def test_a_narrow_terminal_folds_cells_rather_than_cutting_them() -> None:
    """In a terminal of 60 columns a cell may wrap onto the next line, never lose characters."""
    terminal = Console(width=60, record=True, force_terminal=True)
    print_whole(summary_table([sla("time-to-bill-readiness", 0.8612, 153_728, 24_780)]), terminal)
    text = terminal.export_text()
    assert "…" not in text
    assert "".join(
        line.split("│")[1].strip() for line in text.splitlines() if line.count("│") > 2
    ).startswith("time-to-bill-readiness")
