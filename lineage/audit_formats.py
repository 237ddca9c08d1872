"""The report document as CSV and as a printable PDF (pure: document in, text or bytes out). The API
and the CLI render with these, so a report reads the same whoever wrote the file.

CSV: ``#`` comment lines carry the report's parameters, hashes, signature and each interface's
totals; then one row per difference under a header row (``pandas.read_csv(..., comment="#")``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import zip_longest
from typing import Any, Final

from fpdf import FPDF

DIFFERENCE_COLUMNS: Final = (
    "interface",
    "kind",
    "object_type",
    "object_id",
    "source_event_ids",
    "target_event_ids",
    "currency",
    "source_amount",
    "target_amount",
    "target_at",
    "lineage_url",
)


def _amounts(side: Mapping[str, Any]) -> str:
    return "; ".join(f"{a['amount']} {a['currency']}" for a in side["amounts"]) or "-"


def _summary_lines(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    signature = document.get("signature", {})
    heads = document.get("ledger_heads", [])
    return [
        ("report", document["format"]),
        ("period", document["period"]),
        ("legal_entity", document["legal_entity"]),
        ("known_at", document["known_at"]),
        ("close_deadline", document["close_deadline"]),
        ("query_sha256", document["query"]["sha256"]),
        ("root_hash", document.get("root_hash", "")),
        (
            "signature",
            f"{signature.get('algorithm', '')} {signature.get('key_id', '')} "
            f"{signature.get('value', '')}".strip(),
        ),
        ("ledger_heads", ", ".join(f"{h['day']}/{h['tree_size']}/{h['root_hash']}" for h in heads)),
        ("generated_at", document.get("generated_at", "")),
        ("truncated", str(document["truncated"]).lower()),
    ]


def _differences_text(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


def report_csv(document: Mapping[str, Any]) -> str:
    """The report as CSV: its summary and totals as ``#`` lines, then one row per difference."""
    out = io.StringIO()
    for key, value in _summary_lines(document):
        out.write(f"# {key}: {value}\n")
    for interface in document["interfaces"]:
        counts = ", ".join(f"{k}={v}" for k, v in interface["differences"].items()) or "counts only"
        out.write(
            f"# interface: {interface['interface']}; items={interface['items']}; "
            f"source count={interface['source']['count']} amount={_amounts(interface['source'])}; "
            f"target count={interface['target']['count']} amount={_amounts(interface['target'])}; "
            f"{counts}\n"
        )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DIFFERENCE_COLUMNS)
    for difference in document["differences"]:
        writer.writerow([_differences_text(difference[c]) for c in DIFFERENCE_COLUMNS])
    return out.getvalue()


def _latin(text: str) -> str:
    """The PDF's core fonts are Latin-1: arrows become ASCII, anything else a question mark."""
    return text.replace("→", "->").encode("latin-1", "replace").decode("latin-1")


class _ReportPdf(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="landscape", format="A4")
        self.report_title = title
        self.set_auto_page_break(auto=True, margin=12)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("Helvetica", size=7)
        self.cell(0, 5, _latin(f"{self.report_title} - page {self.page_no()}"), align="C")


ROW_HEIGHT: Final = 4.0


def _fitted(pdf: FPDF, text: str, width: float) -> str:
    """``text`` cut to one line of ``width`` mm (ending in ``...`` when cut): the PDF is the
    printable summary, the JSON and CSV carry every id in full."""
    text = _latin(text)
    room = width - 1.5
    if pdf.get_string_width(text) <= room:
        return text
    while text and pdf.get_string_width(text + "...") > room:
        text = text[: max(len(text) * 9 // 10, len(text) - 1)]
    return text + "..."


def _table(
    pdf: FPDF, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]
) -> None:
    """One line per row, the header again on every page: thousands of rows render in a second,
    where a wrapping table layout takes milliseconds per row."""

    def heading() -> None:
        pdf.set_font("Helvetica", style="B", size=7)
        for cell, width in zip(header, widths, strict=True):
            pdf.cell(width, ROW_HEIGHT, _fitted(pdf, cell, width), border=1)
        pdf.ln(ROW_HEIGHT)
        pdf.set_font("Helvetica", size=7)

    heading()
    for cells in rows:
        if pdf.get_y() + ROW_HEIGHT > pdf.page_break_trigger:
            pdf.add_page()
            heading()
        for cell, width in zip(cells, widths, strict=True):
            pdf.cell(width, ROW_HEIGHT, _fitted(pdf, cell, width), border=1)
        pdf.ln(ROW_HEIGHT)


PDF_KIND_HEADERS: Final = {
    "missing": "missing",
    "late": "late",
    "duplicate": "duplicate",
    "amount_mismatch": "mismatch",
}
"""The interface table's count columns (a kind an interface is not checked for reads ``-``)."""


def _interface_rows(interface: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """An interface's line of the PDF table, and one more line per further currency: each cell
    holds one number, so nothing an auditor files is cut to fit its column."""
    differences = interface["differences"]
    counts = [str(differences[k]) if k in differences else "-" for k in PDF_KIND_HEADERS]
    source = [f"{a['amount']} {a['currency']}" for a in interface["source"]["amounts"]] or ["-"]
    target = [f"{a['amount']} {a['currency']}" for a in interface["target"]["amounts"]] or ["-"]
    first = (
        interface["interface"],
        str(interface["items"]),
        str(interface["source"]["count"]),
        source[0],
        str(interface["target"]["count"]),
        target[0],
        *counts,
    )
    more = [
        ("", "", "", source_amount, "", target_amount, "", "", "", "")
        for source_amount, target_amount in zip_longest(source[1:], target[1:], fillvalue="")
    ]
    return [first, *more]


def report_pdf(document: Mapping[str, Any]) -> bytes:
    """A printable report: title, parameters and hashes, the per-interface table and the
    differences table. Its creation date is the report's ``generated_at``."""
    title = f"Completeness and accuracy report {document['legal_entity']} {document['period']}"
    pdf = _ReportPdf(title)
    generated = document.get("generated_at", "")
    if generated:
        pdf.set_creation_date(datetime.fromisoformat(generated.replace("Z", "+00:00")))
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.cell(0, 8, _latin(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Courier", size=7)
    for key, value in _summary_lines(document):
        pdf.multi_cell(0, 3.5, _latin(f"{key}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", style="B", size=10)
    pdf.cell(0, 6, "Interfaces", new_x="LMARGIN", new_y="NEXT")
    _table(
        pdf,
        ("interface", "items", "source count", "source amount", "target count", "target amount",
         *PDF_KIND_HEADERS.values()),
        [row for i in document["interfaces"] for row in _interface_rows(i)],
        (95, 14, 18, 36, 18, 36, 15, 15, 15, 15),
    )  # fmt: skip
    pdf.ln(3)
    pdf.set_font("Helvetica", style="B", size=10)
    pdf.cell(0, 6, f"Differences ({len(document['differences'])})", new_x="LMARGIN", new_y="NEXT")
    if document["differences"]:
        _table(
            pdf,
            ("interface", "kind", "object", "source events", "target events", "source amount",
             "target amount", "target at"),
            [
                (
                    d["interface"],
                    d["kind"],
                    f"{d['object_type']} {d['object_id']}",
                    _differences_text(d["source_event_ids"]),
                    _differences_text(d["target_event_ids"]),
                    f"{d['source_amount']} {d['currency']}".strip(),
                    f"{d['target_amount']} {d['currency']}".strip() if d["target_amount"] else "",
                    d["target_at"],
                )
                for d in document["differences"]
            ],
            (55, 22, 35, 45, 45, 25, 25, 30),
        )  # fmt: skip
    pdf.ln(3)
    pdf.set_font("Helvetica", style="B", size=10)
    pdf.cell(0, 6, "Query (re-run it with these parameters)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Courier", size=6)
    pdf.multi_cell(0, 3, _latin(document["query"]["sql"].strip()), new_x="LMARGIN", new_y="NEXT")
    parameters = json.dumps(document["query"]["parameters"], sort_keys=True, ensure_ascii=False)
    pdf.multi_cell(0, 3, _latin(f"parameters: {parameters}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
