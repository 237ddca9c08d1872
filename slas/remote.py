"""``syncsight sla status``: the SLA summary and timers read through the REST API (in embedded
mode the service process owns the chdb data), rendered as tables or JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from rich.table import Table

from lineage.remote import LineageRequestError, get_json

SlaRequestError = LineageRequestError
"""The CLI's REST failures: one error type for every command that reads through the API."""


def fetch_status(
    api_url: str,
    *,
    token: str | None = None,
    as_of: datetime | None = None,
    sla: str | None = None,
    state: str | None = None,
    legal_entity: str | None = None,
    limit: int = 50,
    output: str = "table",
) -> Table | str:
    """The SLA summary, or with ``sla`` that SLA's timers, as a rich table or JSON text."""
    if output not in ("table", "json"):
        raise SlaRequestError(f"--format {output!r}: expected table or json")
    params = {"as_of": as_of.isoformat()} if as_of else {}
    if sla is None:
        rows = get_json(api_url, "/api/v1/slas", params, token)
        return json.dumps(rows, indent=2) if output == "json" else summary_table(rows)
    params["limit"] = str(limit)
    if state:
        params["state"] = state
    if legal_entity:
        params["legal_entity"] = legal_entity
    rows = get_json(api_url, f"/api/v1/slas/{quote(sla, safe='')}/timers", params, token)
    return json.dumps(rows, indent=2) if output == "json" else timers_table(sla, rows)


def summary_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Business SLAs")
    for column in ("SLA", "target", "met", "breached", "at risk", "on track", "attainment"):
        table.add_column(column, justify="left" if column in ("SLA", "target") else "right")
    table.add_column("p50 h", justify="right")
    table.add_column("p95 h", justify="right")
    for row in rows:
        counts = row["counts"]
        table.add_row(
            row["name"],
            row["target"],
            f"{counts['met']:,}",
            f"{counts['breached']:,}",
            f"{counts['at_risk']:,}",
            f"{counts['on_track']:,}",
            _percent(row["attainment"]),
            _hours(row["p50_business_hours"]),
            _hours(row["p95_business_hours"]),
        )
    return table


def timers_table(sla: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{sla}: timers, most urgent first")
    table.add_column("key", no_wrap=True)
    for column in ("state", "legal entity", "started", "deadline", "business h", "amount"):
        table.add_column(column, justify="right" if column in ("business h", "amount") else "left")
    for row in rows:
        state = row["state"] + (f" ({row['breach_reason']})" if row.get("breach_reason") else "")
        amount = "" if row["amount"] is None else f"{row['amount']:,.2f} {row['currency']}"
        table.add_row(
            f"{row['key']['type']} {row['key']['id']}",
            state,
            row["legal_entity"],
            row["started_at"][:16].replace("T", " "),
            row["deadline"][:16].replace("T", " "),
            f"{row['business_elapsed_hours']:.1f}",
            amount,
        )
    return table


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
