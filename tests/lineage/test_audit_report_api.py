"""The report through its REST route and the CLI over the real engine: auditor and admin only, a
signed root that verifies with the published key, the download on the access trail, the ledger
heads of the period's days, and the same numbers in JSON, CSV and the PDF's text."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI
from pypdf import PdfReader

from domain import semconv as sc
from lineage.audit_api import audit_router
from lineage.audit_formats import report_pdf
from lineage.audit_report import root_of
from lineage.evidence import instant_text
from lineage.ledger import Ledger
from lineage.ledger_api import ledger_router
from lineage.rules import LineageRules
from lineage.signing import EVIDENCE_ROOT, Signer, load_public_key, signature_valid
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from syncsight.access import AccessControl, ApiTokens
from tests.lineage.events import chain, span
from tests.service import serving_in_thread
from tests.syncsight.test_cli import run
from warehouse.pool import ClientPool
from warehouse.spans import OTEL_TRACES_COLUMNS

VIEWER = "viewer-token-0123456789abcdef"
AUDITOR = "auditor-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
REPORT = "/api/v1/audit/report"
CLOSE = datetime(2026, 10, 8, tzinfo=UTC)
PARAMS = {"period": "2026-09", "legal_entity": "LE-DE01"}
SIGNED_OUTSIDE = ("root_hash", "signature", "ledger_heads", "generated_at")
"""What the report adds around its body: the root covers everything else."""


@pytest.fixture
def store(migrated: Client) -> Client:
    migrated.insert(
        "otel_traces", [span(e) for e in chain(entries=("TE-1", "TE-2"))],
        column_names=OTEL_TRACES_COLUMNS,
    )  # fmt: skip
    time.sleep(0.01)
    return migrated


@pytest.fixture
def state(store: Client) -> BusinessState:
    """The business state, resolved up to now (the report reads events' dimensions from it)."""
    business_state = BusinessState(
        lambda: store, DEFAULT_SLAS, CalendarBook(), settle=timedelta(milliseconds=1)
    )
    business_state.tick(datetime.now(UTC))
    return business_state


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(Signer.generate())


@pytest.fixture
def api(
    state: BusinessState, engine_url: str, database: str, ledger: Ledger
) -> Iterator[httpx.Client]:
    pool = ClientPool(engine_url, database=database)
    app = FastAPI()
    settle = timedelta(0)
    app.include_router(
        audit_router(
            pool,
            LineageRules.default(),
            ledger,
            lambda entity, period: CLOSE,
            record_pool=pool,
            settle=settle,
            watermark=state.watermark,
        ),
        prefix="/api/v1",
    )
    app.include_router(ledger_router(pool, ledger, settle=settle), prefix="/api/v1")
    tokens = ApiTokens.parse(f"{VIEWER}:viewer,{AUDITOR}:auditor,{ADMIN}:admin")
    app.add_middleware(AccessControl, tokens=tokens)
    try:
        with serving_in_thread(app) as http:
            yield http
    finally:
        pool.close()


def fetch(api: httpx.Client, token: str = AUDITOR, **params: str) -> httpx.Response:
    return api.get(
        REPORT, params={**PARAMS, **params}, headers={"Authorization": f"Bearer {token}"}
    )


def report(api: httpx.Client, **params: str) -> dict[str, Any]:
    response = fetch(api, **params)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def invoices(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(
        i
        for i in document["interfaces"]
        if i["target_type"] == sc.INVOICE_POSTED and i["object_type"] == sc.BILLING_EVENT
    )
    return found


class TestAccess:
    @pytest.mark.parametrize(("token", "status"), [(VIEWER, 403), (AUDITOR, 200), (ADMIN, 200)])
    def test_only_auditors_and_admins_read_reports(
        self, api: httpx.Client, token: str, status: int
    ) -> None:
        """A viewer is refused; auditor and admin get the report."""
        assert fetch(api, token).status_code == status

    @pytest.mark.parametrize(
        ("params", "named"),
        [
            ({"period": "2026-13"}, "period"),
            ({"period": "0000-01"}, "period"),
            ({"period": "\uff12\uff10\uff12\uff16-09"}, "period"),  # fullwidth digits
            ({"legal_entity": ""}, "legal_entity"),
            ({"format": "xlsx"}, "format"),
            ({"known_at": "yesterday"}, "known_at"),
        ],
    )
    def test_bad_parameters_are_refused_by_name(
        self, api: httpx.Client, params: dict[str, str], named: str
    ) -> None:
        """422 naming the parameter."""
        response = fetch(api, **params)
        assert response.status_code == 422
        assert named in response.text

    @pytest.mark.parametrize("legal_entity", ["LE-DE1", "x"], ids=["mistyped", "unknown"])
    def test_a_legal_entity_no_event_names_is_refused_not_signed_empty(
        self, api: httpx.Client, legal_entity: str
    ) -> None:
        """A mistyped entity gets 422 naming it, as the OCEL export refuses it, rather than a
        signed report of zero items everywhere; nothing reaches the access trail."""
        response = fetch(api, legal_entity=legal_entity)
        assert response.status_code == 422, response.text
        assert response.json()["detail"] == (
            f"legal_entity={legal_entity!r}: expected a legal entity some business event names"
        )
        trail = api.get("/api/v1/ledger/downloads", headers={"Authorization": f"Bearer {ADMIN}"})
        assert trail.json()["downloads"] == []


class TestSignedAndRecorded:
    def test_the_root_covers_the_body_and_is_signed(self, api: httpx.Client) -> None:
        """root_hash is the hash of everything but the signature block, heads and download
        time; the signature verifies with the published key."""
        document = report(api)
        body = {k: v for k, v in document.items() if k not in SIGNED_OUTSIDE}
        assert root_of(body) == document["root_hash"]
        pem = api.get("/api/v1/ledger/key", headers={"Authorization": f"Bearer {AUDITOR}"})
        key = load_public_key(pem.json()["public_key_pem"], source="api")
        signature = document["signature"]
        assert signature["statement"] == EVIDENCE_ROOT
        assert signature_valid(
            key, EVIDENCE_ROOT, {"root_hash": document["root_hash"]}, signature["value"]
        )

    def test_the_same_known_at_gives_the_same_root(self, api: httpx.Client) -> None:
        """Two downloads for one known_at: same root, different generated_at."""
        first = report(api)
        time.sleep(0.01)
        again = report(api, known_at=first["known_at"])
        assert again["root_hash"] == first["root_hash"]
        assert again["generated_at"] != first["generated_at"]

    def test_every_download_is_on_the_access_trail(self, api: httpx.Client) -> None:
        """kind report, the auditor's role, the parameters and the signed root."""
        document = report(api)
        trail = api.get("/api/v1/ledger/downloads", headers={"Authorization": f"Bearer {ADMIN}"})
        [entry] = [d for d in trail.json()["downloads"] if d["kind"] == "report"]
        assert entry["role"] == "auditor"
        assert entry["root_hash"] == document["root_hash"]
        assert entry["parameters"] == {**PARAMS, "known_at": document["known_at"], "format": "json"}

    def test_the_sealed_day_of_the_period_is_named(
        self, api: httpx.Client, store: Client, ledger: Ledger
    ) -> None:
        """The facts were stored today: no head before the day is sealed, its head after."""
        today = datetime.now(UTC).date()
        before = report(api)
        assert before["knowledge_days"] == [today.isoformat()]
        assert before["ledger_heads"] == []
        head = ledger.seal_day(store, today, until=datetime.now(UTC), now=datetime.now(UTC))
        after = report(api, known_at=before["known_at"])
        assert after["ledger_heads"] == [head.to_json()]
        assert after["root_hash"] == before["root_hash"]


class TestFormats:
    def test_csv_has_the_summary_and_one_row_per_difference(self, api: httpx.Client) -> None:
        """The # lines carry the hashes and totals; the rows are the JSON's differences."""
        document = report(api)
        response = fetch(api, format="csv", known_at=document["known_at"])
        assert response.headers["content-type"].startswith("text/csv")
        text = response.text
        assert f"# query_sha256: {document['query']['sha256']}" in text
        assert "source count=1 amount=2000.0000 EUR; target count=1 amount=2000.0000 EUR" in text
        rows = list(csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#")))
        assert [(r["kind"], r["object_id"]) for r in rows] == [
            (d["kind"], d["object_id"]) for d in document["differences"]
        ]
        assert rows

    def test_pdf_text_has_the_numbers(self, api: httpx.Client) -> None:
        """The PDF parses back: title, query hash, the invoice interface's totals."""
        document = report(api)
        response = fetch(api, format="pdf", known_at=document["known_at"])
        assert response.headers["content-type"] == "application/pdf"
        text = "\n".join(
            page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages
        )
        assert "Completeness and accuracy report LE-DE01 2026-09" in text
        assert document["query"]["sha256"] in text
        assert "billing.ready -> invoice.posted by billing_event" in text
        assert "2000.0000 EUR" in text
        assert f"Differences ({len(document['differences'])})" in text

    def test_pdf_interface_table_shows_every_count_and_amount_in_full(
        self, api: httpx.Client
    ) -> None:
        """The printable table cuts none of an interface's numbers: each checked kind's count
        is its own column (the invoice interface checks all four), and a second currency gets
        its own line instead of being cut off."""
        document = report(api)
        invoice_hop = invoices(document)
        assert set(invoice_hop["differences"]) == {
            "missing",
            "late",
            "duplicate",
            "amount_mismatch",
        }
        invoice_hop["source"]["amounts"].append({"currency": "CHF", "amount": "98765432.1000"})
        text = "\n".join(
            page.extract_text() for page in PdfReader(io.BytesIO(report_pdf(document))).pages
        )
        table = text[text.index("Interfaces") : text.index("Differences (")]
        assert "..." not in table
        [line] = [
            row
            for row in table.splitlines()
            if row.startswith(invoice_hop["interface"].replace("→", "->"))
        ]
        counts = invoice_hop["differences"]
        kinds = ("missing", "late", "duplicate", "amount_mismatch")
        assert line.endswith(" ".join(str(counts[kind]) for kind in kinds))
        assert "98765432.1000 CHF" in table


class TestCommandLine:
    def test_audit_report_writes_json_csv_and_pdf(self, api: httpx.Client, tmp_path: Path) -> None:
        """`syncsight audit report` through the REST client: the same root as the API's."""
        env = {"SYNCSIGHT_API_URL": str(api.base_url), "SYNCSIGHT_API_TOKEN": AUDITOR}
        known_at = report(api)["known_at"]
        common = ("audit", "report", "--period", "2026-09", "--legal-entity", "LE-DE01")
        result = run(*common, "--known-at", known_at, env=env)
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["root_hash"] == report(api, known_at=known_at)["root_hash"]
        assert invoices(document)["target"]["count"] == 1
        root = document["root_hash"]
        at = ("--known-at", known_at)
        pdf = run(*common, *at, "--format", "pdf", "--output", "r.pdf", env=env, cwd=tmp_path)
        assert pdf.returncode == 0, pdf.stderr
        text = "\n".join(page.extract_text() for page in PdfReader(tmp_path / "r.pdf").pages)
        assert root in text.replace("\n", "")
        csv_run = run(*common, *at, "--format", "csv", env=env)
        assert csv_run.stdout.startswith("# report: syncsight.audit-report/1")
        assert f"# root_hash: {root}\n" in csv_run.stdout

    def test_a_filed_report_is_checked_offline_and_a_changed_count_is_caught(
        self, api: httpx.Client, tmp_path: Path
    ) -> None:
        """`verify-evidence --report` with the published key: exit 0 for the report as written by
        `audit report`; one count changed, exit 1 naming the root; another key, exit 1."""
        env = {"SYNCSIGHT_API_URL": str(api.base_url), "SYNCSIGHT_API_TOKEN": AUDITOR}
        common = ("audit", "report", "--period", "2026-09", "--legal-entity", "LE-DE01")
        written = run(*common, "--output", "report.json", env=env, cwd=tmp_path)
        assert written.returncode == 0, written.stderr
        key = api.get("/api/v1/ledger/key", headers={"Authorization": f"Bearer {VIEWER}"})
        (tmp_path / "key.pem").write_text(key.json()["public_key_pem"], encoding="utf-8")
        (tmp_path / "other.pem").write_text(Signer.generate().public_pem, encoding="utf-8")
        check = ("verify-evidence", "--report", "report.json")
        ok = run(*check, "--key", "key.pem", cwd=tmp_path)
        assert ok.returncode == 0, ok.stderr
        assert "ok: signature" in ok.stdout
        assert run(*check, "--key", "other.pem", cwd=tmp_path).returncode == 1
        document = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
        invoices(document)["target"]["count"] += 1
        (tmp_path / "report.json").write_text(json.dumps(document), encoding="utf-8")
        changed = run(*check, "--key", "key.pem", cwd=tmp_path)
        assert changed.returncode == 1
        assert "the report was changed after it was issued" in changed.stderr

    def test_each_cli_download_is_on_the_trail_with_its_format(
        self, api: httpx.Client, tmp_path: Path
    ) -> None:
        """The CLI asks the service for CSV and PDF, so the trail records those formats."""
        env = {"SYNCSIGHT_API_URL": str(api.base_url), "SYNCSIGHT_API_TOKEN": AUDITOR}
        common = ("audit", "report", "--period", "2026-09", "--legal-entity", "LE-DE01")
        for file_format in ("csv", "pdf", "json"):
            written = run(*common, "--format", file_format, "--output", "r", env=env, cwd=tmp_path)
            assert written.returncode == 0, written.stderr
        trail = api.get("/api/v1/ledger/downloads", headers={"Authorization": f"Bearer {ADMIN}"})
        reports = [d for d in trail.json()["downloads"] if d["kind"] == "report"]
        assert [d["parameters"]["format"] for d in reports] == ["json", "pdf", "csv"]
        assert {d["role"] for d in reports} == {"auditor"}

    def test_a_viewer_token_is_refused_with_the_servers_reason(self, api: httpx.Client) -> None:
        """Exit 2 (the CLI's failure code) with the API's reason."""
        env = {"SYNCSIGHT_API_URL": str(api.base_url), "SYNCSIGHT_API_TOKEN": VIEWER}
        result = run("audit", "report", "--period", "2026-09", "--legal-entity", "X", env=env)
        assert result.returncode == 2
        assert "HTTP 403" in result.stderr
        assert "needs role auditor" in result.stderr


class TestKnowledgeTime:
    def test_known_at_is_capped_at_the_business_state_s_watermark(
        self, api: httpx.Client, state: BusinessState
    ) -> None:
        """The state resolves every event's legal entity and period: a later known_at is answered
        at its watermark, which an answer for it never changes afterwards."""
        document = report(api, known_at="2099-01-01T00:00:00Z")
        assert document["known_at"] == instant_text(state.watermark())
        assert invoices(document)["items"] == 1
