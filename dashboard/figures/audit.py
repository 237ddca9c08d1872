"""The completeness-and-accuracy report as the Audit page's tables: one row per interface with
both sides' counts and money and its differences by kind, one row per listed difference, the
ledger's tree heads of the report's knowledge days, and the access trail."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from dashboard.figures.money import format_money, format_totals
from lineage.audit_models import AuditReportOut, DifferenceOut, SideOut
from lineage.ledger_models import DownloadOut

NOT_SEALED = "not sealed yet"
NOT_CHECKED = "—"
"""A difference kind an interface is not checked for, an amount or instant that is not there."""


def side_money(side: SideOut) -> str:
    """A side's amounts per currency on one line (never added across currencies)."""
    return format_totals({a.currency: Decimal(a.amount) for a in side.amounts})


def difference_kinds(report: AuditReportOut) -> list[str]:
    """Every kind some interface is checked for, in the order the report names them."""
    kinds: list[str] = []
    for interface in report.interfaces:
        kinds.extend(kind for kind in interface.checks if kind not in kinds)
    return kinds


def interface_rows(report: AuditReportOut) -> list[dict[str, Any]]:
    """One row per interface; a kind the interface is not checked for shows a dash, apart from a
    checked kind with no difference (0). The kinds' counts are text, so that a column holding
    both reads as the amounts' do (a table cell left None shows a grey "None")."""
    kinds = difference_kinds(report)
    return [
        {
            "interface": i.interface,
            "items": i.items,
            "source events": i.source.count,
            "source amount": side_money(i.source),
            "target events": i.target.count,
            "target amount": side_money(i.target),
            **{
                kind: f"{i.differences.get(kind, 0):,}" if kind in i.checks else NOT_CHECKED
                for kind in kinds
            },
        }
        for i in report.interfaces
    ]


def _amount(text: str, currency: str) -> str:
    return format_money(Decimal(text), currency) if text else NOT_CHECKED


def filter_differences(
    differences: Iterable[DifferenceOut],
    *,
    kinds: Sequence[str] = (),
    interfaces: Sequence[str] = (),
) -> list[DifferenceOut]:
    """The differences of the chosen kinds and interfaces (an empty choice keeps all)."""
    return [
        d
        for d in differences
        if (not kinds or d.kind in kinds) and (not interfaces or d.interface in interfaces)
    ]


def difference_rows(differences: Iterable[DifferenceOut]) -> list[dict[str, Any]]:
    """One row per difference, as listed in the report."""
    return [
        {
            "kind": d.kind,
            "object": f"{d.object_type} {d.object_id}",
            "interface": d.interface,
            "source amount": _amount(d.source_amount, d.currency),
            "target amount": _amount(d.target_amount, d.currency),
            "target at": d.target_at or NOT_CHECKED,
            "source events": ", ".join(d.source_event_ids),
            "target events": ", ".join(d.target_event_ids),
        }
        for d in differences
    ]


def head_rows(report: AuditReportOut) -> list[dict[str, Any]]:
    """The latest signed head of each day the report's facts were stored on; a day without one
    says it is not sealed yet (the service seals each day once it is over)."""
    heads = {head.day: head for head in report.ledger_heads}
    rows = []
    for day in report.knowledge_days:
        head = heads.get(day)
        rows.append(
            {
                "day": day,
                "tree size": head.tree_size if head else None,
                "root hash": head.root_hash if head else NOT_SEALED,
                "sealed up to": head.timestamp if head else "",
                "key id": head.key_id if head else "",
            }
        )
    return rows


def download_rows(downloads: Iterable[DownloadOut]) -> list[dict[str, Any]]:
    """The access trail, newest first as the API lists it."""
    return [
        {
            "at": d.at,
            "token": d.token_name,
            "role": d.role,
            "kind": d.kind,
            "parameters": json.dumps(d.parameters, sort_keys=True, ensure_ascii=False),
            "root hash": d.root_hash,
        }
        for d in downloads
    ]
