"""Evidence packs: sealed by a SHA-256 chain; any change, addition, removal or move is caught."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from domain.objects import ObjectRef
from lineage.assembly import assemble
from lineage.evidence import evidence_records, seal, verify, verify_file
from lineage.graph import UPSTREAM
from lineage.rules import LineageRules
from tests.lineage.events import T0, chain, graph_of

Pack = dict[str, Any]


@pytest.fixture
def pack() -> Pack:
    lineage = assemble(
        ["invoice.posted:INV-1"], UPSTREAM, graph_of(chain(entries=("TE-1", "TE-2"))),
        LineageRules.default(),
    )  # fmt: skip
    spans = {
        (a.trace_id, a.span_id, 0): {"trace_id": a.trace_id, "attributes": {"k": "v"}, "start": T0}
        for node in lineage.nodes
        for a in node.attempts
    }
    records = evidence_records(lineage, ObjectRef("invoice", "INV-1"), spans, {}, known_at=T0)
    return seal(records)


def change_amount(pack: Pack) -> None:
    pack["records"][3]["record"]["amount"] = "999999"


def drop_record(pack: Pack) -> None:
    del pack["records"][2]
    pack["record_count"] -= 1


def swap_records(pack: Pack) -> None:
    records = pack["records"]
    records[2], records[4] = records[4], records[2]


def change_raw_attribute(pack: Pack) -> None:
    pack["records"][1]["record"]["attempts"][0]["span"]["attributes"]["k"] = "forged"


def append_record(pack: Pack) -> None:
    pack["records"].append(copy.deepcopy(pack["records"][-1]))
    pack["record_count"] += 1


def drop_last_record(pack: Pack) -> None:
    pack["records"].pop()
    pack["record_count"] -= 1


class TestVerification:
    def test_an_untouched_pack_is_intact(self, pack: Pack) -> None:
        """The summary, five events and their edges verify, and the root hash is reported."""
        result = verify(pack)
        assert result.intact, result.message
        assert result.root_hash == pack["root_hash"]
        assert pack["records"][0]["record"]["kind"] == "lineage"

    def test_reformatting_the_json_does_not_break_the_seal(self, pack: Pack) -> None:
        """Hashes cover canonical JSON, so pretty-printing or key order do not matter."""
        reloaded = json.loads(json.dumps(pack, indent=4, sort_keys=False))
        assert verify(reloaded).intact

    @pytest.mark.parametrize(
        ("tamper", "first_altered"),
        [
            (change_amount, 3),
            (drop_record, 2),
            (swap_records, 2),
            (change_raw_attribute, 1),
        ],
        ids=["changed value", "dropped record", "swapped records", "changed span attribute"],
    )
    def test_tampering_names_the_first_altered_record(
        self, pack: Pack, tamper: Callable[[Pack], None], first_altered: int
    ) -> None:
        """Verification fails at the first record whose hash no longer follows."""
        tamper(pack)
        result = verify(pack)
        assert not result.intact
        assert result.first_altered == first_altered
        assert f"record {first_altered}" in result.message

    @pytest.mark.parametrize("tamper", [append_record, drop_last_record], ids=["added", "removed"])
    def test_records_added_or_removed_at_the_end_are_caught(
        self, pack: Pack, tamper: Callable[[Pack], None]
    ) -> None:
        """The root hash seals the end of the chain."""
        tamper(pack)
        assert not verify(pack).intact

    def test_a_rebuilt_pack_fails_against_the_recorded_root_hash(self, pack: Pack) -> None:
        """Whoever recomputes every hash still cannot match the root the auditor recorded."""
        recorded = pack["root_hash"]
        records = [entry["record"] for entry in pack["records"]]
        records[1]["amount"] = "1"
        rebuilt = seal(records)
        assert verify(rebuilt).intact
        assert not verify(rebuilt, expected_root=recorded).intact

    def test_something_else_is_not_a_pack(self) -> None:
        """A JSON document of another kind is refused naming the expected format."""
        result = verify({"format": "ocel"})
        assert not result.intact
        assert "syncsight.evidence/1" in result.message


class TestVerifyFile:
    def test_an_unreadable_file_is_reported_not_raised(self, tmp_path: Path) -> None:
        """A missing or non-JSON file fails verification with the reason."""
        assert "cannot read" in verify_file(tmp_path / "missing.json").message
        (tmp_path / "bad.json").write_text("{", encoding="utf-8")
        assert "not JSON" in verify_file(tmp_path / "bad.json").message
