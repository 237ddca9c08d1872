"""Poison batches end to end, as an operator meets them: a running service sets refused rows aside,
keeps storing later spans, says `degraded`, and `syncsight quarantine` lists, retries and drops."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from collector.spool import Spool
from domain import semconv as sc
from tests.service import running_service
from tests.syncsight.test_access import otlp_invoice_body
from tests.syncsight.test_cli import run
from tests.warehouse.spans import span_row
from warehouse.client import describe_database
from warehouse.span_batch import SpanBatch, encode_rows

UNPARSABLE = SpanBatch(b'["not a timestamp","x"]', 1)


def invoice_rows(invoice_id: str) -> SpanBatch:
    attributes = {
        sc.EVENT_TYPE: sc.INVOICE_POSTED,
        sc.EVENT_ID: f"{invoice_id}-post",
        sc.object_id_key(sc.INVOICE): invoice_id,
    }
    return encode_rows([span_row(attributes, span_id="00000000000000a1")])


def wait_for(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def events_of(base_url: str, invoice_id: str) -> int:
    return httpx.get(
        f"{base_url}/api/v1/objects/invoice/{invoice_id}/events", timeout=30
    ).status_code


class TestQuarantineEndToEnd:
    def test_refused_batches_are_set_aside_listed_retried_and_dropped(self, tmp_path: Path) -> None:
        """Poison in the spool: later spans land, /readyz degrades, the CLI clears it up."""
        url = f"chdb://{tmp_path / 'data'}"
        env = {"SYNCSIGHT_CLICKHOUSE_URL": url}
        left_behind = Spool(
            tmp_path / "data" / "syncsight-spool", max_bytes=10**7, database=describe_database(url)
        )
        left_behind.append(UNPARSABLE)
        left_behind.quarantine_batch(invoice_rows("INV-FIXED"), "refused by an older version")
        with running_service(tmp_path, env={"SYNCSIGHT_BATCH_MAX_WAIT_MS": "20"}) as service:
            later = httpx.post(
                f"{service.base_url}/v1/traces",
                content=otlp_invoice_body("INV-LATER"),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            assert later.status_code == 200, later.text
            # acknowledged from the journal: queryable once inserted behind the answer
            wait_for(lambda: events_of(service.base_url, "INV-LATER") == 200)
            ready = httpx.get(f"{service.base_url}/readyz").json()
            assert ready["status"] == "degraded"
            assert ready["quarantine"].startswith("2 batch(es) refused by ClickHouse")
            metrics = httpx.get(f"{service.base_url}/metrics").text
            assert 'syncsight_quarantined_batches_total{source="spool"} 1.0' in metrics
            assert "syncsight_quarantine_files 2.0" in metrics

            listed = run("quarantine", "list", env=env)
            assert listed.returncode == 0, listed.stderr
            assert "Cannot parse input" in listed.stdout
            assert "refused by an older version" in listed.stdout
            quarantined = tmp_path / "data" / "syncsight-spool" / "quarantine"
            poison, fixed = sorted(path.name for path in quarantined.glob("*.spool"))  # spool order

            retried = run("quarantine", "retry", fixed, env=env)
            assert retried.returncode == 0, retried.stderr
            wait_for(lambda: events_of(service.base_url, "INV-FIXED") == 200)

            dropped = run("quarantine", "drop", "--all", env=env)
            assert dropped.returncode == 0, dropped.stderr
            assert f"{poison}: dropped" in dropped.stdout
            wait_for(lambda: httpx.get(f"{service.base_url}/readyz").json()["status"] == "ok")
        assert run("quarantine", "list", env=env).stdout.startswith("no quarantined batches")

    def test_retry_of_an_unknown_batch_names_it(self, tmp_path: Path) -> None:
        result = run(
            "quarantine",
            "retry",
            "00000000000000000042.spool",
            env={"SYNCSIGHT_SPOOL_DIR": str(tmp_path)},
        )
        assert result.returncode == 2
        assert "no quarantined batch '00000000000000000042.spool'" in result.stderr

    def test_retry_needs_names_or_all(self, tmp_path: Path) -> None:
        result = run("quarantine", "drop", env={"SYNCSIGHT_SPOOL_DIR": str(tmp_path)})
        assert result.returncode == 2
        assert "name one or more quarantined batches, or give --all" in result.stderr


class TestSpoolOfAnotherDatabase:
    def test_serve_refuses_a_spool_written_for_another_database(self, tmp_path: Path) -> None:
        """Start-up stops with one line naming both databases, before anything is replayed."""
        spool_dir = tmp_path / "spool"
        Spool(spool_dir, max_bytes=10**7, database=describe_database("chdb:///srv/other")).append(
            invoice_rows("INV-OTHER")
        )
        result = run(
            "serve",
            env={
                "SYNCSIGHT_CLICKHOUSE_URL": f"chdb://{tmp_path / 'data'}",
                "SYNCSIGHT_SPOOL_DIR": str(spool_dir),
            },
        )
        assert result.returncode == 2
        assert "written for the database chdb:///srv/other" in result.stderr
        assert f"not for chdb://{tmp_path / 'data'}" in result.stderr
