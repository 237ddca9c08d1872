"""Traversal rules and owner routing as configuration: defaults, [lineage] / [owners] extensions
and the messages that refuse a bad table."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain import semconv as sc
from lineage.owners import OwnerRouting
from lineage.rules import EVENT, Hop, LineageRules
from syncsight.config_file import ConfigFileError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syncsight.toml"
    path.write_text(text, encoding="utf-8")
    return path


class TestDefaults:
    def test_the_default_chain_follows_design(self) -> None:
        """invoice ← billing event ← time entries / project ← contract, never a dimension."""
        rules = LineageRules.default()
        assert [
            (h.object_type, h.upstream_types) for h in rules.upstream_hops(sc.INVOICE_POSTED)
        ] == [(sc.BILLING_EVENT, (sc.BILLING_READY,))]
        assert {h.object_type for h in rules.upstream_hops(sc.BILLING_READY)} == {
            sc.TIME_ENTRY, sc.EXPENSE, sc.MILESTONE, sc.PROJECT,
        }  # fmt: skip
        assert not {h.object_type for h in rules.hops} & set(sc.DIMENSION_OBJECT_TYPES)

    def test_lineage_roots_are_object_types_and_events(self) -> None:
        """A lineage starts at any traversable object type or at one event."""
        root_types = LineageRules.default().root_types
        assert EVENT in root_types
        assert sc.INVOICE in root_types
        assert sc.CUSTOMER not in root_types

    @pytest.mark.parametrize(
        ("category", "team"),
        [
            (sc.MASTER_DATA, "master data team"),
            (sc.MAPPING, "integration team"),
            (sc.VALIDATION, "finance operations"),
            (sc.PERIOD_CLOSED, "finance operations"),
            ("something_new", "integration team"),
        ],
    )
    def test_default_owners(self, category: str, team: str) -> None:
        """Each error category routes to the team that fixes it; unknown ones to the default."""
        assert OwnerRouting().owner_of(category) == team


class TestConfigFile:
    def test_a_site_adds_a_hop_and_routes_an_owner(self, tmp_path: Path) -> None:
        """[[lineage.hops]] extends the chain; [owners] overrides a team and the default."""
        config = load_config(
            write(
                tmp_path,
                """
[[lineage.hops]]
event_type = "invoice.approved"
via = "invoice"
from = ["invoice.posted"]
required = false

[lineage.stuck_after_days]
default = 7
contract.signed = 90

[owners]
master_data = "customer data office"
default = "on-call"
""",
            )
        )
        assert Hop("invoice.approved", sc.INVOICE, (sc.INVOICE_POSTED,), False) in (
            config.lineage.hops
        )
        assert config.lineage.stuck_after(sc.CONTRACT_SIGNED) == 90
        assert config.lineage.stuck_after(sc.TIME_APPROVED) == 7
        assert config.owners.owner_of(sc.MASTER_DATA) == "customer data office"
        assert config.owners.owner_of("weird") == "on-call"
        assert config.owners.owner_of(sc.MAPPING) == "integration team"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                '[[lineage.hops]]\nevent_type = "x.y"\nvia = "customer"\nfrom = ["a.b"]\n',
                r"\[\[lineage.hops\]\] #1: via: 'customer': customer is a dimension",
            ),
            (
                '[[lineage.hops]]\nevent_type = "x.y"\nvia = "deal"\nfrom = ["a.b"]\n',
                r"\[\[lineage.hops\]\] #1: via: 'deal': unknown object type",
            ),
            (
                '[[lineage.hops]]\nevent_type = "x.y"\nvia = "invoice"\n',
                r"\[\[lineage.hops\]\] #1: from: missing",
            ),
            ("[lineage]\nhop = 1\n", r"\[lineage\]: hop: unknown key"),
            (
                "[lineage]\nstuck_after_days = -3\n",
                "stuck_after_days.default: -3: expected a positive",
            ),
            ("[owners]\nmapping = 3\n", r"\[owners\]: mapping: 3: expected a team name"),
        ],
    )
    def test_bad_tables_are_refused_naming_the_key(
        self, tmp_path: Path, text: str, message: str
    ) -> None:
        """Each mistake is one message naming the file, the table, the key and the value."""
        path = write(tmp_path, text)
        with pytest.raises(ConfigFileError, match=message) as raised:
            load_config(path)
        assert str(path) in str(raised.value)
