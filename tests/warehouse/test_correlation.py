"""Correlation rules: defaults, site extensions and the refusals that keep generated SQL safe."""

from __future__ import annotations

import pytest

from warehouse import semconv as sc
from warehouse.correlation import CorrelationRuleError, CorrelationRules, sql_string


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

    def test_an_unknown_object_type_is_refused_with_the_known_ones(self) -> None:
        """The message names the key, the bad type and what is expected."""
        with pytest.raises(CorrelationRuleError, match=r"'x.id' = 'opportunity'.*contract"):
            CorrelationRules.from_mapping({"x.id": "opportunity"})

    @pytest.mark.parametrize("key", ["a'b", "a b", "", "x" * 201, "k]) OR 1=1 --"])
    def test_keys_outside_the_safe_alphabet_are_refused(self, key: str) -> None:
        """Keys become SQL literals in view DDL, so anything unusual is refused."""
        with pytest.raises(CorrelationRuleError, match="attribute keys may contain"):
            CorrelationRules.from_mapping({key: sc.CONTRACT})

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
