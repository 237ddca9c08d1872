"""Traversal rules as data: which event type is fed by which event types through which object.

The default is DESIGN.md's professional-services chain; a site extends it in the ``[lineage]``
table of the TOML config. Dimensions (customer, legal entity) are never hops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from warehouse import semconv as sc

_EVENT_TYPE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,99}$")
DEFAULT_STUCK_AFTER_DAYS: Final = 14.0
DEFAULT_STUCK_AFTER_DAYS_BY_TYPE: Final = {sc.CONTRACT_SIGNED: 60.0}
"""A fixed-fee contract may post nothing until its first milestone, weeks after signing."""


class LineageRuleError(ValueError):
    """A traversal rule naming an unknown object type, a dimension, or an unusable event type."""


@dataclass(frozen=True)
class Hop:
    """``event_type`` is fed by events of ``upstream_types`` that carry the same ``object_type`` id.

    ``required``: a referenced id with no feeding event is a gap in the lineage. ``as_of_root``:
    only feeders that took effect before the traced event count (a contract amendment feeds the
    invoices raised after it, not the project activation that came before it).
    """

    event_type: str
    object_type: str
    upstream_types: tuple[str, ...]
    required: bool = True
    as_of_root: bool = False


def _hop(
    event_type: str,
    object_type: str,
    *upstream: str,
    required: bool = True,
    as_of_root: bool = False,
) -> Hop:
    return Hop(event_type, object_type, tuple(upstream), required, as_of_root)


DEFAULT_HOPS: Final = (
    _hop(sc.INVOICE_POSTED, sc.BILLING_EVENT, sc.BILLING_READY),
    _hop(sc.BILLING_READY, sc.TIME_ENTRY, sc.TIME_APPROVED),
    _hop(sc.BILLING_READY, sc.EXPENSE, sc.EXPENSE_APPROVED),
    _hop(sc.BILLING_READY, sc.MILESTONE, sc.MILESTONE_COMPLETED),
    _hop(sc.BILLING_READY, sc.PROJECT, sc.PROJECT_ACTIVATED),
    _hop(sc.TIME_APPROVED, sc.PROJECT, sc.PROJECT_ACTIVATED),
    _hop(sc.EXPENSE_APPROVED, sc.PROJECT, sc.PROJECT_ACTIVATED),
    _hop(sc.MILESTONE_COMPLETED, sc.PROJECT, sc.PROJECT_ACTIVATED),
    _hop(sc.MILESTONE_COMPLETED, sc.OBLIGATION, sc.CONTRACT_SIGNED, sc.CONTRACT_AMENDED),
    _hop(sc.PROJECT_ACTIVATED, sc.CONTRACT, sc.CONTRACT_SIGNED),
    _hop(sc.PROJECT_ACTIVATED, sc.CONTRACT, sc.CONTRACT_AMENDED, required=False, as_of_root=True),
    _hop(sc.CONTRACT_AMENDED, sc.CONTRACT, sc.CONTRACT_SIGNED),
    _hop(sc.REVENUE_SCHEDULED, sc.CONTRACT, sc.CONTRACT_SIGNED),
    _hop(sc.REVENUE_SCHEDULED, sc.OBLIGATION, sc.CONTRACT_AMENDED, required=False, as_of_root=True),
    _hop(sc.REVENUE_ADJUSTED, sc.REVENUE_SCHEDULE, sc.REVENUE_SCHEDULED),
    _hop(sc.REVENUE_ADJUSTED, sc.OBLIGATION, sc.CONTRACT_AMENDED, required=False),
    _hop(sc.REVENUE_POSTED, sc.REVENUE_SCHEDULE, sc.REVENUE_SCHEDULED),
    _hop(
        sc.REVENUE_POSTED, sc.REVENUE_SCHEDULE, sc.REVENUE_ADJUSTED, required=False, as_of_root=True
    ),
    _hop(sc.REVENUE_POSTED, sc.INVOICE, sc.INVOICE_POSTED),
    _hop(sc.REVENUE_POSTED, sc.OBLIGATION, sc.MILESTONE_COMPLETED, required=False),
)
"""invoice → billing event → time entries / expenses / milestone → project → contract, and
revenue posting → revenue schedule (and invoice, milestone) → contract."""

DEFAULT_PRODUCERS: Final = {
    sc.CONTRACT: (sc.CONTRACT_SIGNED, sc.CONTRACT_AMENDED),
    sc.OBLIGATION: (sc.CONTRACT_SIGNED, sc.CONTRACT_AMENDED),
    sc.PROJECT: (sc.PROJECT_ACTIVATED,),
    sc.TIME_ENTRY: (sc.TIME_APPROVED,),
    sc.EXPENSE: (sc.EXPENSE_APPROVED,),
    sc.MILESTONE: (sc.MILESTONE_COMPLETED,),
    sc.BILLING_EVENT: (sc.BILLING_READY,),
    sc.INVOICE: (sc.INVOICE_POSTED,),
    sc.REVENUE_SCHEDULE: (sc.REVENUE_SCHEDULED, sc.REVENUE_ADJUSTED),
    sc.JOURNAL: (sc.REVENUE_POSTED,),
}
"""The events that create or change each object: where a lineage of that object starts."""

DEFAULT_PREREQUISITES: Final = {sc.CUSTOMER: (sc.CUSTOMER_SYNCED,)}
"""Dimension set-up events: not hops, but a failed one explains a failed posting of its customer."""

EVENT = "event"
"""The lineage root type that names one business event by its ``biz.event.id``."""


@dataclass(frozen=True)
class LineageRules:
    """The traversal rules plus what counts as a source, a posting and a stuck source."""

    hops: tuple[Hop, ...] = DEFAULT_HOPS
    producers: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_PRODUCERS)
    )
    prerequisites: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_PREREQUISITES)
    )
    source_event_types: tuple[str, ...] = sc.SOURCE_EVENT_TYPES
    posting_event_types: tuple[str, ...] = sc.POSTING_EVENT_TYPES
    stuck_after_days: float = DEFAULT_STUCK_AFTER_DAYS
    stuck_after_days_by_type: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_STUCK_AFTER_DAYS_BY_TYPE)
    )

    @classmethod
    def default(cls) -> LineageRules:
        return cls()

    @property
    def root_types(self) -> tuple[str, ...]:
        """Every type a lineage may start from: the traversable object types and ``event``."""
        return (*self.producers, EVENT)

    def upstream_hops(self, event_type: str) -> list[Hop]:
        """The hops by which events of ``event_type`` are fed."""
        return [hop for hop in self.hops if hop.event_type == event_type]

    def downstream_hops(self, event_type: str) -> list[Hop]:
        """The hops by which events of ``event_type`` feed others."""
        return [hop for hop in self.hops if event_type in hop.upstream_types]

    def stuck_after(self, event_type: str) -> float:
        """Age in days after which a source event of ``event_type`` that never posted is stuck."""
        return self.stuck_after_days_by_type.get(event_type, self.stuck_after_days)

    def extended(self, table: Mapping[str, Any]) -> LineageRules:
        """These rules plus a ``[lineage]`` TOML table; raises ``LineageRuleError`` naming the key."""
        unknown = sorted(set(table) - _LINEAGE_KEYS)
        if unknown:
            raise LineageRuleError(
                f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_LINEAGE_KEYS))}"
            )
        rules = self
        if "hops" in table:
            rules = replace(rules, hops=_merge_hops(rules.hops, _parse_hops(table["hops"])))
        if "producers" in table:
            producers = dict(rules.producers)
            producers.update(_parse_type_lists(table["producers"], "producers"))
            rules = replace(rules, producers=producers)
        if "source_event_types" in table:
            extra = _event_types(table["source_event_types"], "source_event_types")
            rules = replace(rules, source_event_types=_union(rules.source_event_types, extra))
        if "posting_event_types" in table:
            extra = _event_types(table["posting_event_types"], "posting_event_types")
            rules = replace(rules, posting_event_types=_union(rules.posting_event_types, extra))
        if "stuck_after_days" in table:
            default, by_type = _parse_stuck_after(table["stuck_after_days"])
            rules = replace(
                rules,
                stuck_after_days=default if default is not None else rules.stuck_after_days,
                stuck_after_days_by_type={**rules.stuck_after_days_by_type, **by_type},
            )
        return rules


_LINEAGE_KEYS: Final = frozenset(
    {"hops", "producers", "source_event_types", "posting_event_types", "stuck_after_days"}
)
_HOP_KEYS: Final = frozenset({"event_type", "via", "from", "required", "as_of_root"})


def _union(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*first, *second]))


def _object_type(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in sc.OBJECT_TYPES:
        raise LineageRuleError(
            f"{where} = {value!r}: unknown object type; expected one of "
            + ", ".join(t for t in sc.OBJECT_TYPES if t not in sc.DIMENSION_OBJECT_TYPES)
        )
    if value in sc.DIMENSION_OBJECT_TYPES:
        raise LineageRuleError(
            f"{where} = {value!r}: {value} is a dimension (a filter and group-by), never a hop"
        )
    return value


def _event_types(value: Any, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise LineageRuleError(f"{where} = {value!r}: expected an event type or a list of them")
    for item in values:
        if not isinstance(item, str) or not _EVENT_TYPE.match(item):
            raise LineageRuleError(
                f"{where}: {item!r} is not an event type (letters, digits, _ . -; e.g. "
                f"{sc.INVOICE_POSTED!r})"
            )
    return tuple(values)


def _parse_hops(value: Any) -> list[Hop]:
    if not isinstance(value, list):
        raise LineageRuleError(
            "hops must be an array of tables: [[lineage.hops]] event_type = …, via = …, from = […]"
        )
    hops = []
    for number, item in enumerate(value, start=1):
        where = f"hops[{number}]"
        if not isinstance(item, dict):
            raise LineageRuleError(f"{where}: expected a table with event_type, via and from")
        unknown = sorted(set(item) - _HOP_KEYS)
        missing = sorted({"event_type", "via", "from"} - set(item))
        if unknown or missing:
            raise LineageRuleError(
                f"{where}: unknown key(s) {unknown}, missing key(s) {missing}; expected "
                + ", ".join(sorted(_HOP_KEYS))
            )
        for flag in ("required", "as_of_root"):
            if not isinstance(item.get(flag, False), bool):
                raise LineageRuleError(f"{where}.{flag} = {item[flag]!r}: expected true or false")
        (event_type,) = _event_types(item["event_type"], f"{where}.event_type")
        hops.append(
            Hop(
                event_type,
                _object_type(item["via"], f"{where}.via"),
                _event_types(item["from"], f"{where}.from"),
                item.get("required", True),
                item.get("as_of_root", False),
            )
        )
    return hops


def _merge_hops(defaults: tuple[Hop, ...], extra: list[Hop]) -> tuple[Hop, ...]:
    """A configured hop replaces a default with the same event type, object type and feeders."""
    merged = {(h.event_type, h.object_type, h.upstream_types): h for h in defaults}
    for hop in extra:
        merged[(hop.event_type, hop.object_type, hop.upstream_types)] = hop
    return tuple(merged.values())


def _parse_type_lists(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise LineageRuleError(f"{where} must be a table of object type = [event types]")
    return {
        _object_type(key, f"{where} key"): _event_types(types, f"{where}.{key}")
        for key, types in value.items()
    }


def _days(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise LineageRuleError(f"{where} = {value!r}: expected a positive number of days")
    return float(value)


def _parse_stuck_after(value: Any) -> tuple[float | None, dict[str, float]]:
    if not isinstance(value, dict):
        return _days(value, "stuck_after_days"), {}
    default = None
    by_type: dict[str, float] = {}
    for key, days in _dotted(value).items():
        if key == "default":
            default = _days(days, "stuck_after_days.default")
        else:
            (event_type,) = _event_types(key, "stuck_after_days key")
            by_type[event_type] = _days(days, f"stuck_after_days.{key!r}")
    return default, by_type


def _dotted(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Undo TOML's nesting of unquoted dotted keys (``contract.signed = 90``)."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
