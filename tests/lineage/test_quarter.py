"""End to end on the simulator's small quarter: the REST API and the CLI reconcile exactly with the
ground truth (every invoice's sources and chain; blocked items per legal entity and period)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.money import money_text
from tests.quarter import END, LoadedQuarter

pytestmark = pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)

SYNCSIGHT = shutil.which("syncsight", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def quarter(served_quarter: LoadedQuarter) -> LoadedQuarter:
    """The session's small quarter (tests/conftest.py): these tests only read it."""
    return served_quarter


@pytest.fixture(scope="module")
def api(quarter: LoadedQuarter) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=quarter.service.base_url, timeout=120) as client:
        yield client


def cli(quarter: LoadedQuarter, *args: str) -> subprocess.CompletedProcess[str]:
    assert SYNCSIGHT, "the syncsight console script is not installed in this environment"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSIGHT_")}
    return subprocess.run(
        [SYNCSIGHT, *args],
        capture_output=True,
        text=True,
        env={**clean, "SYNCSIGHT_API_URL": quarter.service.base_url},
        timeout=120,
        check=False,
    )


def blocked_key(item: dict[str, Any]) -> tuple[str, str, str, float, str]:
    return (
        item["legal_entity"],
        item["period"],
        item["object"]["id"],
        round(float(item["amount"]), 2),  # the truth file's floats; the API sends exact text
        item["currency"],
    )


class TestReconciliation:
    def test_every_invoice_traces_to_exactly_its_truth_sources_and_chain(
        self, quarter: LoadedQuarter, api: httpx.Client
    ) -> None:
        """Sources = truth source_event_ids; nodes = chain_event_ids + amendments in force."""
        mismatches = []
        for invoice in quarter.truth["invoices"]:
            response = api.get(f"/api/v1/lineage/invoice/{invoice['invoice']}")
            assert response.status_code == 200, response.text
            lineage = response.json()
            nodes = {node["event_id"] for node in lineage["nodes"]}
            expected = {*invoice["chain_event_ids"], *invoice["contract_amended_event_ids"]}
            if set(lineage["source_events"]) != set(invoice["source_event_ids"]):
                mismatches.append((invoice["invoice"], "sources"))
            elif nodes != expected or not lineage["complete"]:
                mismatches.append((invoice["invoice"], "chain"))
        assert len(quarter.truth["invoices"]) > 400
        assert mismatches == []

    def test_blocked_items_match_the_truth_per_entity_and_period(
        self, quarter: LoadedQuarter, api: httpx.Client
    ) -> None:
        """Same items, amounts, stages and blocking events for every (legal entity, period)."""
        truth = quarter.truth["blocked_items"]
        assert truth, "the small quarter has blocked items"
        for legal_entity, period in sorted({(b["legal_entity"], b["period"]) for b in truth}):
            response = api.get(
                "/api/v1/impact/blocked-invoices",
                params={"period": period, "legal_entity": legal_entity},
            )
            got = response.json()["items"]
            expected = [
                b for b in truth if (b["legal_entity"], b["period"]) == (legal_entity, period)
            ]
            assert sorted(map(blocked_key, got)) == sorted(
                (b["legal_entity"], b["period"], b["billing_event"], round(b["amount"], 2), b["currency"])
                for b in expected
            )  # fmt: skip
            blocking = {i["object"]["id"]: {b["event_id"] for b in i["blocked_by"]} for i in got}
            stages = {i["object"]["id"]: i["stage"] for i in got}
            for item in expected:
                assert blocking[item["billing_event"]] == set(item["blocking_event_ids"])
                assert stages[item["billing_event"]] == item["stage"]

    def test_the_blocked_total_matches_the_truth_summary(
        self, quarter: LoadedQuarter, api: httpx.Client
    ) -> None:
        """Blocked invoice value per currency over the whole quarter."""
        total = api.get("/api/v1/impact/blocked-invoices").json()["total"]
        expected = quarter.truth["summary"]["blocked_invoice_value"]
        # the API's exact sums against the truth's cent-rounded float sums
        assert {c: Decimal(v) for c, v in total.items()} == {
            c: Decimal(str(v)) for c, v in expected.items()
        }

    def test_the_pages_of_the_quarters_blocked_items_are_its_every_item_answer(
        self, api: httpx.Client
    ) -> None:
        """Pages of 7 followed by their cursor: the items of one every-item answer at the same
        instants, in its order, none twice, none missing."""
        whole = api.get("/api/v1/impact/blocked-invoices", params={"limit": 100_000})
        instants = {
            "as_of": whole.headers["X-Syncsight-As-Of"],
            "known_at": whole.headers["X-Syncsight-Known-At"],
        }
        page = api.get("/api/v1/impact/blocked-invoices", params={**instants, "limit": 7}).json()
        items = page["items"]
        while page["next_cursor"] is not None:
            params = {"cursor": page["next_cursor"], "limit": 7}
            page = api.get("/api/v1/impact/blocked-invoices", params=params).json()
            items += page["items"]
        assert whole.json()["count"] > 14  # three pages at least
        assert items == whole.json()["items"]

    def test_every_posting_of_a_closed_period_is_traceable(
        self, quarter: LoadedQuarter, api: httpx.Client
    ) -> None:
        """Completeness of September: all invoices and revenue postings complete, no orphan."""
        report = api.get(
            "/api/v1/lineage/completeness",
            params={"period": "2026-09", "as_of": END.isoformat()},
        ).json()
        posted = sum(
            1
            for i in quarter.truth["invoices"]
            if i["status"] == "posted" and i["posted_period"] == "2026-09"
        )
        assert report["invoices"] == {"posted": posted, "complete": posted, "share": 1.0}
        assert report["revenue_postings"]["share"] == 1.0
        assert all(entity["orphans"] == [] for entity in report["by_legal_entity"])


class TestApi:
    @pytest.mark.parametrize(
        ("path", "message"),
        [
            ("/api/v1/lineage/invoice/INV-NOPE", "no business event references invoice"),
            ("/api/v1/lineage/deal/D-1", "unknown lineage type 'deal'; known types: contract"),
            ("/api/v1/lineage/customer/CUS-1", "customer is a dimension"),
        ],
    )
    def test_unknown_ids_and_types_are_404(
        self, api: httpx.Client, path: str, message: str
    ) -> None:
        """The detail says what was not found and, for types, which ones exist."""
        response = api.get(path)
        assert response.status_code == 404
        assert message in response.json()["detail"]

    def test_a_malformed_period_is_rejected(self, api: httpx.Client) -> None:
        """period must be YYYY-MM."""
        response = api.get("/api/v1/impact/blocked-invoices", params={"period": "2026-13"})
        assert response.status_code == 422


class TestCommandLine:
    def test_the_text_tree_shows_systems_times_outcomes_and_amounts(
        self, quarter: LoadedQuarter
    ) -> None:
        """`syncsight lineage invoice ID` prints the tree from the invoice to its sources."""
        invoice = quarter.truth["invoices"][0]
        result = cli(quarter, "lineage", "invoice", invoice["invoice"])
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith(f"invoice {invoice['invoice']} · upstream · complete")
        assert any(invoice["contract_signed_event_id"] in line for line in lines)
        shown = money_text(Decimal(str(invoice["amount"])), grouped=True)
        assert any(f"{shown} {invoice['currency']}" in line for line in lines)

    def test_an_evidence_pack_verifies_and_a_tampered_one_does_not(
        self, quarter: LoadedQuarter, tmp_path: Path
    ) -> None:
        """verify-evidence exits 0 for the exported pack, non-zero naming the altered record."""
        invoice = quarter.truth["invoices"][0]["invoice"]
        result = cli(quarter, "lineage", "invoice", invoice, "--format", "evidence")
        assert result.returncode == 0, result.stderr
        pack_path = tmp_path / "evidence.json"
        pack_path.write_text(result.stdout, encoding="utf-8")
        assert cli(quarter, "verify-evidence", str(pack_path)).returncode == 0
        pack = json.loads(result.stdout)
        spans = [a["span"] for r in pack["records"] for a in r["record"].get("attempts", [])]
        assert spans
        assert all(span is not None for span in spans)
        pack["records"][2]["record"]["outcome"] = "success-ish"
        pack_path.write_text(json.dumps(pack), encoding="utf-8")
        tampered = cli(quarter, "verify-evidence", str(pack_path))
        assert tampered.returncode == 1
        assert "record 2" in tampered.stderr

    def test_the_ocel_export_opens_in_pm4py(self, quarter: LoadedQuarter, tmp_path: Path) -> None:
        """`--format ocel` writes an OCEL 2.0 JSON log a process-mining tool reads."""
        pm4py = pytest.importorskip("pm4py")
        invoice = quarter.truth["invoices"][0]
        result = cli(quarter, "lineage", "invoice", invoice["invoice"], "--format", "ocel")
        assert result.returncode == 0, result.stderr
        path = tmp_path / "lineage.jsonocel"
        path.write_text(result.stdout, encoding="utf-8")
        log = pm4py.read_ocel2_json(str(path))
        assert set(log.events["ocel:eid"]) == set(invoice["chain_event_ids"])

    def test_an_unreachable_api_is_one_clear_error(self, quarter: LoadedQuarter) -> None:
        """Without a service the CLI says where it looked and how to start one."""
        result = cli(quarter, "lineage", "invoice", "X", "--api-url", "http://127.0.0.1:9")
        assert result.returncode == 2
        assert "cannot reach the syncsight API at http://127.0.0.1:9" in result.stderr


class TestAuditReport:
    def test_the_invoice_interface_reconciles_with_the_truth(
        self, quarter: LoadedQuarter, api: httpx.Client
    ) -> None:
        """Per legal entity and period of the truth's invoices: the invoice interface's target
        side is exactly the posted invoices (count and amount in the entity's currency), every
        failed invoice's billing event is missing, and no posted one is."""
        truth = quarter.truth["invoices"]
        pairs = sorted({(i["legal_entity"], i["period"]) for i in truth})
        assert len(pairs) >= 6
        for legal_entity, period in pairs:
            response = api.get(
                "/api/v1/audit/report", params={"period": period, "legal_entity": legal_entity}
            )
            assert response.status_code == 200, response.text
            report = response.json()
            [interface] = [
                i
                for i in report["interfaces"]
                if i["target_type"] == "invoice.posted" and i["object_type"] == "billing_event"
            ]
            mine = [i for i in truth if (i["legal_entity"], i["period"]) == (legal_entity, period)]
            posted = [i for i in mine if i["status"] == "posted"]
            failed = {i["billing_event"] for i in mine if i["status"] == "failed"}
            assert interface["target"]["count"] == len(posted), (legal_entity, period)
            [amount] = interface["target"]["amounts"] or [{"currency": "", "amount": "0"}]
            if posted:
                assert amount["currency"] == posted[0]["currency"]
                expected = round(sum(i["amount"] for i in posted), 2)
                assert round(float(amount["amount"]), 2) == expected, (legal_entity, period)
            missing = {
                d["object_id"]
                for d in report["differences"]
                if d["kind"] == "missing" and d["interface"] == interface["interface"]
            }
            assert failed <= missing, (legal_entity, period)
            assert not missing & {i["billing_event"] for i in posted}, (legal_entity, period)
            assert not [d for d in report["differences"] if d["kind"] == "duplicate"]

    def test_the_command_line_writes_a_pdf(self, quarter: LoadedQuarter, tmp_path: Path) -> None:
        """`syncsight audit report --format pdf --output` on the quarter."""
        invoice = quarter.truth["invoices"][0]
        target = tmp_path / "report.pdf"
        result = cli(
            quarter,
            "audit", "report", "--period", invoice["period"],
            "--legal-entity", invoice["legal_entity"], "--format", "pdf", "--output", str(target),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert target.read_bytes().startswith(b"%PDF")
