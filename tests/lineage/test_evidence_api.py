"""Evidence packs through the REST routes over the real engine: reproducible for a known_at,
signed, proven against the ledger's tree heads, checked offline, and every download on the access
trail (which only admins may list)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI

from domain import semconv as sc
from domain.business_event import BusinessEvent
from lineage.api import lineage_router
from lineage.evidence import canonical_json, instant_text, seal
from lineage.ledger import Ledger
from lineage.ledger_api import ledger_router
from lineage.owners import OwnerRouting
from lineage.pack_check import check_consistency, check_pack
from lineage.rules import LineageRules
from lineage.signing import Signer, load_public_key
from lineage.tree_head import TreeHead
from syncsight.access import AccessControl, ApiTokens
from tests.lineage.events import chain, span
from tests.service import serving_in_thread
from tests.syncsight.test_cli import run
from warehouse.pool import ClientPool
from warehouse.spans import OTEL_TRACES_COLUMNS

VIEWER = "viewer-token-0123456789abcdef"
AUDITOR = "auditor-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
EVIDENCE = "/api/v1/lineage/invoice/INV-1/evidence"


def load(client: Client, events: list[BusinessEvent]) -> None:
    client.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.01)  # the next rows are stored at a later millisecond of knowledge time


@pytest.fixture
def store(migrated: Client) -> Client:
    load(migrated, chain())
    return migrated


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(Signer.generate())


@pytest.fixture
def api(store: Client, engine_url: str, database: str, ledger: Ledger) -> Iterator[httpx.Client]:
    pool = ClientPool(engine_url, database=database)
    app = FastAPI()
    settle = timedelta(0)
    rules, owners = LineageRules.default(), OwnerRouting()
    app.include_router(
        lineage_router(
            pool, rules, owners, ledger, record_pool=pool, settle=settle, max_nodes=10_000
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


def get(api: httpx.Client, path: str, token: str = AUDITOR, **params: str) -> Any:
    response = api.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


def retry_of_the_invoice() -> BusinessEvent:
    invoice = next(e for e in chain() if e.event_type == sc.INVOICE_POSTED)
    return replace(invoice, attempt=2, span_id="00000000000000ff")


class TestReproducible:
    def test_the_same_known_at_gives_the_same_bytes_after_more_spans(
        self, api: httpx.Client, store: Client
    ) -> None:
        """A pack for a known_at has the same records and root hash after a retry of the
        invoice arrived; a pack for now shows the retry and has another root."""
        known_at = instant_text(datetime.now(UTC))
        time.sleep(0.01)
        first = get(api, EVIDENCE, known_at=known_at)
        load(store, [retry_of_the_invoice()])
        again = get(api, EVIDENCE, known_at=known_at)
        assert json.dumps(again["records"]) == json.dumps(first["records"])
        assert again["root_hash"] == first["root_hash"]
        assert again["known_at"] == first["known_at"] == first["records"][0]["record"]["known_at"]
        latest = get(api, EVIDENCE)
        assert latest["root_hash"] != first["root_hash"]
        attempts = [
            len(r["record"]["attempts"])
            for r in latest["records"]
            if r["record"].get("event_id") == "invoice.posted:INV-1"
        ]
        assert attempts == [2]

    def test_the_download_time_is_outside_the_chain(self, api: httpx.Client) -> None:
        """generated_at differs between two downloads; nothing chained does."""
        known_at = instant_text(datetime.now(UTC))
        first = get(api, EVIDENCE, known_at=known_at)
        time.sleep(0.01)
        second = get(api, EVIDENCE, known_at=known_at)
        assert first["generated_at"] != second["generated_at"]
        assert first["root_hash"] == second["root_hash"]
        assert "generated_at" not in first["records"][0]["record"]

    def test_a_known_at_before_any_fact_finds_nothing(self, api: httpx.Client) -> None:
        """Before the spans were stored the invoice was unknown: 404, as for any unknown id."""
        response = api.get(
            EVIDENCE,
            params={"known_at": "2020-01-01T00:00:00Z"},
            headers={"Authorization": f"Bearer {AUDITOR}"},
        )
        assert response.status_code == 404

    def test_a_known_at_before_1970_is_refused_by_name(self, api: httpx.Client) -> None:
        """Nothing can have been stored before 1970: such a known_at was answered as of
        1970-01-01 (another instant than the one asked, found from the outside); it is a 422
        naming the parameter now, here and on the access trail's paging."""
        headers = {"Authorization": f"Bearer {ADMIN}"}
        for path, name in ((EVIDENCE, "known_at"), ("/api/v1/ledger/downloads", "before")):
            refused = api.get(path, params={name: "1969-12-31T23:59:59Z"}, headers=headers)
            assert refused.status_code == 422, refused.text
            assert refused.json()["detail"].startswith(f"{name}=1969-12-31T23:59:59+00:00:")
        first = api.get(EVIDENCE, params={"known_at": "1970-01-01T00:00:00Z"}, headers=headers)
        assert first.status_code == 404, "from 1970 on it is asked: nothing was known yet"


def sealed_pack(api: httpx.Client) -> tuple[Any, Ed25519PublicKey, TreeHead]:
    """Today sealed by an admin, then the invoice's pack, the published key and the latest head."""
    today = datetime.now(UTC).date().isoformat()
    sealed = api.post(
        "/api/v1/admin/ledger/seal",
        params={"day": today},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert sealed.status_code == 200, sealed.text
    pack = get(api, EVIDENCE)
    key = load_public_key(get(api, "/api/v1/ledger/key")["public_key_pem"], source="api")
    head = TreeHead.from_json(get(api, "/api/v1/ledger/heads", token=VIEWER)["heads"][0])
    return pack, key, head


class TestSignedAndProven:
    def test_a_pack_verifies_offline_with_the_published_key_and_head(
        self, api: httpx.Client
    ) -> None:
        """After the day is sealed, every fact of the pack has an inclusion proof, and chain,
        signature and proofs check out against the key and head the API publishes."""
        pack, key, head = sealed_pack(api)
        checks = check_pack(pack, public_key=key, heads=[head])
        assert [(c.name, c.status) for c in checks] == [
            ("chain", "ok"),
            ("signature", "ok"),
            ("heads", "ok"),
            ("proofs", "ok"),
        ], checks
        assert len(pack["ledger"]["proofs"]) == 5
        assert pack["ledger"]["unproven"] == []
        for proof in pack["ledger"]["proofs"]:  # as packs made before conflicting versions
            del proof["ingested_at"]
        assert [c.status for c in check_pack(pack, public_key=key, heads=[head])] == ["ok"] * 4

    def test_a_conflicting_version_is_proven_and_a_forged_one_is_caught(
        self, api: httpx.Client, store: Client
    ) -> None:
        """The invoice re-sent with another amount: the pack lists the conflict with its stored
        fact, which has its own inclusion proof; changing that fact (and re-chaining) fails the
        proof check."""
        invoice = next(e for e in chain() if e.event_type == sc.INVOICE_POSTED)
        [(trace_id, span_id)] = store.query(
            "SELECT TraceId, SpanId FROM biz_events WHERE EventId = {id:String}",
            parameters={"id": invoice.event_id},
        ).result_rows  # the span the fixture stored, sent again with another amount
        load(store, [replace(invoice, trace_id=trace_id, span_id=span_id, amount=Decimal("1"))])
        pack, key, head = sealed_pack(api)
        assert [c.status for c in check_pack(pack, public_key=key, heads=[head])] == ["ok"] * 4
        assert len(pack["ledger"]["proofs"]) == 6
        [record] = [
            r["record"] for r in pack["records"] if r["record"].get("event_id") == invoice.event_id
        ]
        [conflict] = record["conflicts"]
        assert Decimal(conflict["fact"]["amount"]) == Decimal("1")

        conflict["fact"]["amount"] = "2.0000"
        forged = seal([r["record"] for r in pack["records"]])  # re-chained by a forger
        checks = check_pack({**pack, **forged}, public_key=None, heads=[head])
        assert [(c.name, c.status) for c in checks if c.failed] == [("proofs", "failed")]

    def test_the_command_line_checks_a_pack_with_key_and_head(
        self, api: httpx.Client, tmp_path: Path
    ) -> None:
        """`verify-evidence PACK --key --head` exits 0; with another service's key it exits 1
        naming the signature."""
        today = datetime.now(UTC).date().isoformat()
        headers = {"Authorization": f"Bearer {ADMIN}"}
        api.post("/api/v1/admin/ledger/seal", params={"day": today}, headers=headers)
        files = {
            "pack.json": json.dumps(get(api, EVIDENCE)),
            "head.json": json.dumps(get(api, "/api/v1/ledger/heads")["heads"][0]),
            "key.pem": get(api, "/api/v1/ledger/key")["public_key_pem"],
            "other.pem": Signer.generate().public_pem,
        }
        for name, text in files.items():
            (tmp_path / name).write_text(text, encoding="utf-8")
        ok = run(
            "verify-evidence", "pack.json", "--key", "key.pem", "--head", "head.json", cwd=tmp_path
        )
        assert ok.returncode == 0, ok.stderr
        assert "ok: proofs: 5 fact(s) included" in ok.stdout
        wrong = run("verify-evidence", "pack.json", "--key", "other.pem", cwd=tmp_path)
        assert wrong.returncode == 1
        assert "signature" in wrong.stderr

    @pytest.mark.parametrize(
        "tamper",
        ["record", "proof", "key"],
        ids=["changed fact", "changed proof", "wrong key"],
    )
    def test_tampering_is_caught(self, api: httpx.Client, tamper: str) -> None:
        """A changed fact (chain rebuilt), a changed audit path or another key fail the check."""
        api.post(
            "/api/v1/admin/ledger/seal",
            params={"day": datetime.now(UTC).date().isoformat()},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        pack = get(api, EVIDENCE)
        key = load_public_key(get(api, "/api/v1/ledger/key")["public_key_pem"], source="api")
        if tamper == "record":
            from lineage.evidence import seal

            records = [entry["record"] for entry in pack["records"]]
            records[1]["attempts"][0]["fact"]["amount"] = "1"
            pack = {**pack, **seal(records)}  # a forger recomputes the whole chain
        elif tamper == "proof":
            path = pack["ledger"]["proofs"][0]["audit_path"]
            path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]
        else:
            key = Signer.generate().public_key
        failed = {c.name for c in check_pack(pack, public_key=key) if c.failed}
        expected = {"record": {"signature", "proofs"}, "proof": {"proofs"}}.get(
            tamper, {"signature", "heads"}
        )
        assert failed == expected

    def test_two_heads_of_a_day_are_consistent(
        self, api: httpx.Client, store: Client, tmp_path: Path
    ) -> None:
        """A head sealed after more facts arrived extends the earlier one, as the API proves; a
        head asked without from_size is the head as sealed, without a proof."""
        today = datetime.now(UTC).date().isoformat()
        admin = {"Authorization": f"Bearer {ADMIN}"}
        old = api.post("/api/v1/admin/ledger/seal", params={"day": today}, headers=admin).json()
        load(store, [retry_of_the_invoice()])
        new = api.post("/api/v1/admin/ledger/seal", params={"day": today}, headers=admin).json()
        assert new["tree_size"] == old["tree_size"] + 1
        served = get(
            api,
            f"/api/v1/ledger/heads/{today}/{new['tree_size']}",
            from_size=str(old["tree_size"]),
        )
        assert served["consistency"]["from_size"] == old["tree_size"]
        assert get(api, f"/api/v1/ledger/heads/{today}/{old['tree_size']}") == old
        key = load_public_key(get(api, "/api/v1/ledger/key")["public_key_pem"], source="api")
        checks = check_consistency(TreeHead.from_json(old), served, public_key=key)
        assert not [c for c in checks if c.failed], checks
        forged = {**old, "root_hash": "00" * 32}
        checks = check_consistency(TreeHead.from_json(forged), served)
        assert [c.status for c in checks] == ["failed"]
        (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
        (tmp_path / "new.json").write_text(json.dumps(served), encoding="utf-8")
        (tmp_path / "forged.json").write_text(json.dumps(forged), encoding="utf-8")
        cli = run("verify-evidence", "--consistency", "old.json", "new.json", cwd=tmp_path)
        assert cli.returncode == 0, cli.stderr
        cli = run("verify-evidence", "--consistency", "forged.json", "new.json", cwd=tmp_path)
        assert cli.returncode == 1
        assert "does not extend" in cli.stderr


def seal_today(api: httpx.Client) -> Any:
    """Today's head as an admin seals it now."""
    today = datetime.now(UTC).date().isoformat()
    headers = {"Authorization": f"Bearer {ADMIN}"}
    sealed = api.post("/api/v1/admin/ledger/seal", params={"day": today}, headers=headers)
    assert sealed.status_code == 200, sealed.text
    return sealed.json()


class TestWhatTheVerifierSays:
    def test_a_fact_whose_proof_was_taken_out_is_not_passed(self, api: httpx.Client) -> None:
        """The ledger section sits outside the chain: a pack whose fact lost its proof (and is not
        listed as unproven) fails the proofs check naming that fact, not "one proof fewer"."""
        pack, key, head = sealed_pack(api)
        removed = pack["ledger"]["proofs"].pop(0)
        failed = [c for c in check_pack(pack, public_key=key, heads=[head]) if c.failed]
        assert [c.name for c in failed] == ["proofs"], failed
        assert removed["event_id"] in failed[0].message
        assert "no inclusion proof" in failed[0].message
        pack["ledger"]["proofs"] = []
        [failed_all] = [c for c in check_pack(pack, public_key=key, heads=[head]) if c.failed]
        assert "(5 such fact(s))" in failed_all.message

    def test_a_proof_moved_to_the_unproven_list_under_a_head_covering_it_is_not_passed(
        self, api: httpx.Client
    ) -> None:
        """The unproven list sits outside the chain too: a fact whose proof was moved there, its
        day sealed up to its knowledge time by the pack's own head or the head given, fails the
        proofs check naming it. With neither head at hand the verifier cannot tell, and says how
        many facts were not yet sealed."""
        pack, key, head = sealed_pack(api)
        moved = pack["ledger"]["proofs"].pop(0)
        entry = {k: moved[k] for k in ("event_id", "trace_id", "span_id", "ingested_at", "day")}
        # the entry's day is outside the chain: the verifier dates the fact by its knowledge time
        pack["ledger"]["unproven"].append({**entry, "day": "1999-01-01", "reason": "not yet"})
        for given in ([head], []):
            failed = [c for c in check_pack(pack, public_key=key, heads=given) if c.failed]
            assert [c.name for c in failed] == ["proofs"], failed
            assert moved["event_id"] in failed[0].message
            assert "listed as not yet sealed" in failed[0].message
        pack["ledger"]["unproven"] += [
            {**{k: p[k] for k in entry}, "reason": "not sealed yet"}
            for p in pack["ledger"]["proofs"]
        ]
        pack["ledger"]["proofs"], pack["ledger"]["heads"] = [], []
        checks = check_pack(pack, public_key=key)
        assert not [c for c in checks if c.failed], checks
        assert "5 not yet sealed when the pack was made" in checks[-1].message
        [failed] = [c for c in check_pack(pack, public_key=key, heads=[head]) if c.failed]
        assert "(5 such fact(s))" in failed.message

    @pytest.mark.parametrize(
        "knowledge_time", ["left out", "without a zone"], ids=["left-out", "without-zone"]
    )
    def test_a_moved_proof_is_dated_by_its_chained_fact_not_by_the_entry(
        self, api: httpx.Client, knowledge_time: str
    ) -> None:
        """An unproven entry's knowledge time sits outside the chain: one left out (as packs made
        before conflicting versions have it) or written without a time zone still stands for a
        chained fact, whose own knowledge time the head covers, so the moved proof fails."""
        pack, key, head = sealed_pack(api)
        moved = pack["ledger"]["proofs"].pop(0)
        entry = {k: moved[k] for k in ("event_id", "trace_id", "span_id", "day")}
        if knowledge_time == "without a zone":
            entry["ingested_at"] = moved["ingested_at"].removesuffix("Z")
        pack["ledger"]["unproven"].append({**entry, "reason": "not sealed yet"})
        for given in ([head], []):
            failed = [c for c in check_pack(pack, public_key=key, heads=given) if c.failed]
            assert [c.name for c in failed] == ["proofs"], failed
            assert moved["event_id"] in failed[0].message
            assert "listed as not yet sealed" in failed[0].message

    def test_a_kept_head_of_another_size_calls_no_fact_altered(
        self, api: httpx.Client, store: Client
    ) -> None:
        """A pack proven against a later head of the day, checked against the head the auditor
        kept before: the heads check names both sizes and --consistency; the proofs are checked
        against the pack's own signed head, so no fact reads as changed."""
        kept = TreeHead.from_json(seal_today(api))
        load(store, [retry_of_the_invoice()])
        pack, key, newer = sealed_pack(api)
        assert newer.tree_size > kept.tree_size
        checks = check_pack(pack, public_key=key, heads=[kept])
        failed = [c for c in checks if c.failed]
        assert [c.name for c in failed] == ["heads"], failed
        assert "--consistency" in failed[0].message
        assert ("proofs", "ok") in [(c.name, c.status) for c in checks]

    def test_heads_given_newest_first_are_told_apart_from_a_rewritten_history(
        self, api: httpx.Client, store: Client, tmp_path: Path
    ) -> None:
        """`--consistency NEW OLD` says to give the older head first; it does not call the
        ledger tampered."""
        old = seal_today(api)
        load(store, [retry_of_the_invoice()])
        new = seal_today(api)
        [check] = check_consistency(TreeHead.from_json(new), old)
        assert (check.name, check.status) == ("heads", "failed")
        assert "give the older head (the smaller tree) first" in check.message
        (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
        (tmp_path / "new.json").write_text(json.dumps(new), encoding="utf-8")
        cli = run("verify-evidence", "--consistency", "new.json", "old.json", cwd=tmp_path)
        assert cli.returncode == 1
        assert "tampered" not in cli.stderr
        assert "older head" in cli.stderr


class TestAccessTrail:
    def test_every_download_is_recorded_with_its_token_and_root(self, api: httpx.Client) -> None:
        """Evidence and OCEL downloads are listed for admins with name, role, parameters and
        root; the evidence root is the pack's and carries its signature."""
        pack = get(api, EVIDENCE, token=AUDITOR, direction="upstream")
        get(api, "/api/v1/lineage/invoice/INV-1/ocel", token=ADMIN)
        trail = get(api, "/api/v1/ledger/downloads", token=ADMIN)["downloads"]
        assert [d["kind"] for d in trail] == ["ocel", "evidence"]
        ocel, evidence = trail
        assert evidence["role"] == "auditor"
        assert evidence["token_name"].startswith("sha256:")
        assert evidence["token_name"] != ocel["token_name"]
        assert evidence["root_hash"] == pack["root_hash"]
        assert evidence["signature"] == pack["signature"]["value"]
        assert evidence["parameters"] == {
            "object_type": "invoice",
            "object_id": "INV-1",
            "direction": "upstream",
            "known_at": pack["known_at"],
        }
        assert evidence["path"] == EVIDENCE
        assert ocel["role"] == "admin"
        assert len(ocel["root_hash"]) == 64

    def test_a_lineage_ocel_download_can_be_re_derived_from_the_trail(
        self, api: httpx.Client, store: Client
    ) -> None:
        """The trail records the known_at an object's OCEL log was read at; asking again with it
        after more spans arrived gives the log whose hash the trail recorded."""
        ocel_path = "/api/v1/lineage/invoice/INV-1/ocel"
        first = api.get(ocel_path, headers={"Authorization": f"Bearer {AUDITOR}"})
        assert first.status_code == 200, first.text
        [entry] = get(api, "/api/v1/ledger/downloads", token=ADMIN)["downloads"]
        known_at = entry["parameters"]["known_at"]
        assert first.headers["X-Syncsight-Known-At"] == known_at
        load(store, [retry_of_the_invoice()])
        again = get(api, ocel_path, known_at=known_at)
        assert hashlib.sha256(canonical_json(again)).hexdigest() == entry["root_hash"]
        assert get(api, ocel_path) != again  # the retry is known now

    @pytest.mark.parametrize("token", [VIEWER, AUDITOR], ids=["viewer", "auditor"])
    def test_only_admins_list_the_trail(self, api: httpx.Client, token: str) -> None:
        """A viewer or auditor gets 403 from the trail; heads and key stay readable to viewers."""
        headers = {"Authorization": f"Bearer {token}"}
        assert api.get("/api/v1/ledger/downloads", headers=headers).status_code == 403
        assert api.get("/api/v1/ledger/heads", headers=headers).status_code == 200
        assert api.get("/api/v1/ledger/key", headers=headers).status_code == 200
