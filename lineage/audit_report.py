"""The completeness-and-accuracy report of a period and legal entity: for every interface (a hop of
the lineage rules) the count and amount on the source and target side and the differences item by
item, with the query text, its parameters and their hash, so that an auditor can run it again.

``build_report`` reads (one query, ``lineage.audit_queries``); the rest is pure: which checks an
interface takes, how rows become the report document and its hashed, signed body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from urllib.parse import quote

from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.instants import utc
from lineage.audit_queries import (
    ENGINE_MATERIALIZES_CTES,
    INTERFACE_TOTALS,
    INTERFACE_TOTALS_ONCE,
    MAX_DIFFERENCES_PER_KIND,
)
from lineage.evidence import canonical_json, instant_text
from lineage.rules import DEFAULT_HOPS, Hop, LineageRules

REPORT_FORMAT: Final = "syncsight.audit-report/1"

MISSING: Final = "missing"
LATE: Final = "late"
DUPLICATE: Final = "duplicate"
AMOUNT_MISMATCH: Final = "amount_mismatch"
ALL_CHECKS: Final = (MISSING, LATE, DUPLICATE, AMOUNT_MISMATCH)

ITEM_CHECKS: Final[Mapping[tuple[str, str], tuple[str, ...]]] = {
    (sc.INVOICE_POSTED, sc.BILLING_EVENT): ALL_CHECKS,
    (sc.BILLING_READY, sc.MILESTONE): ALL_CHECKS,
    (sc.BILLING_READY, sc.TIME_ENTRY): (MISSING, LATE, DUPLICATE),
    (sc.BILLING_READY, sc.EXPENSE): (MISSING, LATE, DUPLICATE),
    (sc.PROJECT_ACTIVATED, sc.CONTRACT): (MISSING, DUPLICATE),
    (sc.REVENUE_SCHEDULED, sc.CONTRACT): (MISSING,),
    (sc.REVENUE_POSTED, sc.REVENUE_SCHEDULE): (MISSING, LATE),
    (sc.REVENUE_POSTED, sc.INVOICE): (MISSING, LATE),
}
"""Which differences an item of a default interface can have. One billing event bills many time
entries and expenses (its amount is their sum, so an item's amount is not compared), a contract
has several revenue schedules, a schedule posts every month; a project or an obligation feeds many
events of each kind, so those hops report counts and amounts only. An interface a site adds in its
``[lineage]`` table takes every check when it is required, none when it is optional."""

_KIND_COLUMNS: Final = {
    MISSING: "missing",
    LATE: "late",
    DUPLICATE: "duplicate",
    AMOUNT_MISMATCH: "mismatch",
}


def checks_of(hop: Hop) -> tuple[str, ...]:
    """The differences an item of ``hop`` is checked for."""
    if not hop.required:
        return ()
    if hop in DEFAULT_HOPS:
        return ITEM_CHECKS.get((hop.event_type, hop.object_type), ())
    return ALL_CHECKS


def interface_name(hop: Hop) -> str:
    return f"{' | '.join(hop.upstream_types)} → {hop.event_type} by {hop.object_type}"


def lineage_url(object_type: str, object_id: str) -> str:
    """Where the API shows an item's lineage both ways."""
    return (
        f"/api/v1/lineage/{quote(object_type, safe='')}/{quote(object_id, safe='')}?direction=both"
    )


def query_hash(sql: str, parameters: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of (query text, parameters)."""
    return hashlib.sha256(canonical_json({"parameters": parameters, "sql": sql})).hexdigest()


@dataclass(frozen=True)
class ReportRequest:
    period: str
    legal_entity: str
    known_at: datetime
    close_deadline: datetime


def query_parameters(rules: LineageRules, request: ReportRequest) -> dict[str, Any]:
    """The query's parameters as quoted in the report (text and JSON values only)."""
    hops = [
        [number, hop.event_type, hop.object_type, list(hop.upstream_types)]
        for number, hop in enumerate(rules.hops, start=1)
    ]
    event_types = sorted({t for hop in rules.hops for t in (hop.event_type, *hop.upstream_types)})
    return {
        "period": request.period,
        "legal_entity": request.legal_entity,
        "known_at": instant_text(request.known_at),
        "close_deadline": instant_text(request.close_deadline),
        "event_types": event_types,
        "source_types": sorted({t for hop in rules.hops for t in hop.upstream_types}),
        "hops": hops,
    }


def engine_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The quoted parameters as the engine binds them (instants as naive UTC, hops as tuples)."""
    known_at = utc(datetime.fromisoformat(parameters["known_at"]))
    deadline = utc(datetime.fromisoformat(parameters["close_deadline"]))
    return {
        **parameters,
        "known_at": known_at.replace(tzinfo=None),
        "close_deadline": deadline.replace(tzinfo=None),
        "hops": [tuple(hop) for hop in parameters["hops"]],
    }


def report_query(client: Client) -> str:
    """The report's query text for ``client``'s engine: its parts used twice computed once where
    the engine can (``lineage.audit_queries``)."""
    materializes = client.query(ENGINE_MATERIALIZES_CTES).result_rows[0][0]
    return INTERFACE_TOTALS_ONCE if materializes else INTERFACE_TOTALS


def build_report(client: Client, rules: LineageRules, request: ReportRequest) -> dict[str, Any]:
    """The report body (everything its root hash covers) as known at ``request.known_at``."""
    parameters = query_parameters(rules, request)
    sql = report_query(client)
    rows = client.query(sql, parameters=engine_parameters(parameters)).named_results()
    return report_body(rules, request, parameters, list(rows), sql=sql)


def report_body(
    rules: LineageRules,
    request: ReportRequest,
    parameters: dict[str, Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    sql: str = INTERFACE_TOTALS,
) -> dict[str, Any]:
    """The report from the rows of the query ``sql`` (one per interface that has items)."""
    by_hop = {int(row["hop"]): row for row in rows}
    interfaces = []
    differences: list[dict[str, Any]] = []
    truncated = False
    for number, hop in enumerate(rules.hops, start=1):
        row = by_hop.get(number, {})
        checks = checks_of(hop)
        counts = {kind: int(row.get(f"{_KIND_COLUMNS[kind]}_count", 0)) for kind in checks}
        name = interface_name(hop)
        interfaces.append(
            {
                "interface": name,
                "target_type": hop.event_type,
                "object_type": hop.object_type,
                "source_types": list(hop.upstream_types),
                "required": hop.required,
                "checks": list(checks),
                "items": int(row.get("items", 0)),
                "source": side_totals(row, "source"),
                "target": side_totals(row, "target"),
                "differences": counts,
            }
        )
        for kind in checks:
            listed = row.get(_KIND_COLUMNS[kind], [])
            truncated |= counts[kind] > len(listed)
            differences.extend(_differences(kind, name, hop.object_type, listed))
    differences.sort(key=lambda d: (d["interface"], d["kind"], d["object_id"]))
    days = sorted({day for row in rows for day in row["stored_days"]})
    return {
        "format": REPORT_FORMAT,
        "period": request.period,
        "legal_entity": request.legal_entity,
        "known_at": instant_text(request.known_at),
        "close_deadline": instant_text(request.close_deadline),
        "query": {
            "sql": sql,
            "parameters": parameters,
            "sha256": query_hash(sql, parameters),
        },
        "interfaces": interfaces,
        "differences": differences,
        "truncated": truncated,
        "knowledge_days": [day.isoformat() for day in days],
        "max_differences_per_kind": MAX_DIFFERENCES_PER_KIND,
    }


def side_totals(row: Mapping[str, Any], side: str) -> dict[str, Any]:
    """A side's count of distinct events and their amounts per currency (never summed across
    currencies), as the query totals them (``lineage.audit_queries``)."""
    return {
        "count": int(row.get(f"{side}_count", 0)),
        "amounts": [
            {"currency": str(currency), "amount": _money(total)}
            for currency, total in row.get(f"{side}_amounts", [])
        ],
    }


def _money(value: Any) -> str:
    return format(Decimal(value), "f") if value is not None else ""


def _differences(
    kind: str, interface: str, object_type: str, rows: Iterable[Sequence[Any]]
) -> Iterable[dict[str, Any]]:
    for row in rows:
        object_id, sources = row[0], sorted(row[1])
        difference: dict[str, Any] = {
            "interface": interface,
            "kind": kind,
            "object_type": object_type,
            "object_id": object_id,
            "source_event_ids": sources,
            "target_event_ids": [],
            "source_amount": "",
            "target_amount": "",
            "currency": "",
            "target_at": "",
            "lineage_url": lineage_url(object_type, object_id),
        }
        if kind == MISSING:
            currencies = [c for c in row[3] if c]
            difference |= {
                "source_amount": _money(row[2]) if len(currencies) == 1 else "",
                "currency": currencies[0] if len(currencies) == 1 else "",
            }
        elif kind == LATE:
            difference |= {"target_event_ids": [row[2]], "target_at": instant_text(utc(row[3]))}
        elif kind == DUPLICATE:
            difference |= {"target_event_ids": sorted(row[2])}
        else:
            source_currency, target_currency = row[4], row[6]
            difference |= {
                "target_event_ids": [row[2]],
                "source_amount": _money(row[3]),
                "target_amount": _money(row[5]),
                "currency": source_currency
                if source_currency == target_currency
                else f"{source_currency}/{target_currency}",
            }
        yield difference


def root_of(body: Mapping[str, Any]) -> str:
    """SHA-256 of the report body's canonical JSON: what the signature covers."""
    return hashlib.sha256(canonical_json(body)).hexdigest()
