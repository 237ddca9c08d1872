"""OCEL 2.0 export, read back by a real OCEL 2.0 reader (PM4Py's JSON importer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from domain import semconv as sc
from lineage.assembly import assemble
from lineage.graph import UPSTREAM
from lineage.ocel import DERIVED_FROM, DIMENSION, INPUT, SUBJECT, ocel_object_id, to_ocel
from lineage.rules import LineageRules
from tests.lineage.events import attempt, chain, graph_of

pm4py = pytest.importorskip("pm4py")

RULES = LineageRules.default()


@pytest.fixture
def document() -> dict[str, Any]:
    events = chain(entries=("TE-1", "TE-2"))
    events.insert(
        -1,
        attempt(
            sc.INVOICE_POSTED,
            "invoice.posted:INV-1",
            events[-1].objects,
            hours=72.5,
            outcome=sc.FAILED,
            error_category=sc.MASTER_DATA,
        ),
    )
    lineage = assemble(["invoice.posted:INV-1"], UPSTREAM, graph_of(events), RULES)
    return to_ocel(lineage, RULES)


class TestOcelExport:
    def test_the_document_has_the_four_ocel_sections(self, document: dict[str, Any]) -> None:
        """objectTypes, eventTypes, objects and events, with typed event attributes."""
        assert set(document) == {"objectTypes", "eventTypes", "objects", "events"}
        invoice_type = next(t for t in document["eventTypes"] if t["name"] == sc.INVOICE_POSTED)
        assert {"name": "attempts", "type": "integer"} in invoice_type["attributes"]

    def test_pm4py_reads_events_objects_and_both_kinds_of_link(
        self, document: dict[str, Any], tmp_path: Path
    ) -> None:
        """A process-mining tool opens the export: events, objects, E2O and O2O relations."""
        path = tmp_path / "lineage.jsonocel"
        path.write_text(json.dumps(document), encoding="utf-8")
        log = pm4py.read_ocel2_json(str(path))
        assert sorted(log.events["ocel:eid"]) == sorted(e["id"] for e in document["events"])
        assert set(log.objects["ocel:type"]) == {
            sc.CONTRACT, sc.CUSTOMER, sc.LEGAL_ENTITY, sc.OBLIGATION, sc.PROJECT,
            sc.TIME_ENTRY, sc.BILLING_EVENT, sc.INVOICE,
        }  # fmt: skip
        e2o = set(
            zip(log.relations["ocel:eid"], log.relations["ocel:oid"], log.relations["ocel:qualifier"], strict=True)
        )  # fmt: skip
        billing = "billing.ready:BE-1"
        assert (billing, ocel_object_id(sc.BILLING_EVENT, "BE-1"), SUBJECT) in e2o
        assert (billing, ocel_object_id(sc.TIME_ENTRY, "TE-2"), INPUT) in e2o
        assert ("invoice.posted:INV-1", ocel_object_id(sc.CUSTOMER, "CUS-1"), DIMENSION) in e2o
        o2o = set(
            zip(log.o2o["ocel:oid"], log.o2o["ocel:oid_2"], log.o2o["ocel:qualifier"], strict=True)
        )
        assert (
            ocel_object_id(sc.INVOICE, "INV-1"),
            ocel_object_id(sc.BILLING_EVENT, "BE-1"),
            DERIVED_FROM,
        ) in o2o

    def test_retries_are_one_event_with_their_count(self, document: dict[str, Any]) -> None:
        """The failed then successful invoice posting is one OCEL event with attempts = 2."""
        invoice = next(e for e in document["events"] if e["id"] == "invoice.posted:INV-1")
        values = {a["name"]: a["value"] for a in invoice["attributes"]}
        assert values["attempts"] == 2
        assert values["outcome"] == sc.SUCCESS
