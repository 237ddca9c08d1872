"""Correlation rules: defaults, site extensions and the refusals that keep generated SQL safe."""

from __future__ import annotations

import pytest

from domain import semconv as sc
from warehouse.correlation_rules import CorrelationRules, sql_string


class TestCorrelationRules:
    def test_default_maps_every_object_type_to_its_biz_key(self) -> None:
        """biz.<object>.id carries <object> for each canonical object type."""
        grouped = CorrelationRules.default().keys_by_object_type()
        assert grouped == {t: [sc.object_id_key(t)] for t in sc.OBJECT_TYPES}

    def test_a_site_key_joins_the_default_for_its_object_type(self) -> None:
        """An extra key adds a second source of ids for its type."""
        rules = CorrelationRules.from_mapping({"salesforce.opportunity.id": sc.CONTRACT})
        assert rules.keys_by_object_type()[sc.CONTRACT] == [
            sc.object_id_key(sc.CONTRACT),
            "salesforce.opportunity.id",
        ]

    def test_the_fingerprint_changes_with_the_rules(self) -> None:
        """Same rules, same fingerprint; another rule, another fingerprint."""
        default = CorrelationRules.default()
        assert default.fingerprint() == CorrelationRules.default().fingerprint()
        other = CorrelationRules.from_mapping({"crm.deal.id": sc.CONTRACT})
        assert other.fingerprint() != default.fingerprint()


@pytest.mark.parametrize(
    ("value", "literal"),
    [("plain", "'plain'"), ("it's", "'it\\'s'"), ("back\\slash", "'back\\\\slash'")],
)
def test_sql_string_escapes_quotes_and_backslashes(value: str, literal: str) -> None:
    """String literals survive quotes and backslashes."""
    assert sql_string(value) == literal
