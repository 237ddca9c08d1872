"""Traversal rules as data: which event type is fed by which event types through which object.

The default is the professional-services chain (README, Lineage for auditors); a site extends it
in the ``[lineage]`` table of the TOML config. Dimensions (customer, legal entity) are never hops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Final

from domain import semconv as sc

DEFAULT_STUCK_AFTER_DAYS: Final = 14.0
DEFAULT_STUCK_AFTER_DAYS_BY_TYPE: Final = {sc.CONTRACT_SIGNED: 60.0}
"""A fixed-fee contract may post nothing until its first milestone, weeks after signing."""


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

    def upstream_hops(self, event_type: str) -> tuple[Hop, ...]:
        """The hops by which events of ``event_type`` are fed."""
        return self._hops_into.get(event_type, ())

    @cached_property
    def _hops_into(self) -> dict[str, tuple[Hop, ...]]:
        """``upstream_hops`` of every event type, found once: assembly asks for each event."""
        into: dict[str, list[Hop]] = {}
        for hop in self.hops:
            into.setdefault(hop.event_type, []).append(hop)
        return {event_type: tuple(hops) for event_type, hops in into.items()}

    def downstream_hops(self, event_type: str) -> list[Hop]:
        """The hops by which events of ``event_type`` feed others."""
        return [hop for hop in self.hops if event_type in hop.upstream_types]

    def stuck_after(self, event_type: str) -> float:
        """Age in days after which a source event of ``event_type`` that never posted is stuck."""
        return self.stuck_after_days_by_type.get(event_type, self.stuck_after_days)

    def extended(
        self,
        *,
        hops: Iterable[Hop] = (),
        producers: Mapping[str, tuple[str, ...]] | None = None,
        source_event_types: Iterable[str] = (),
        posting_event_types: Iterable[str] = (),
        stuck_after_days: float | None = None,
        stuck_after_days_by_type: Mapping[str, float] | None = None,
    ) -> LineageRules:
        """These rules plus a site's (the ``[lineage]`` table): a hop replaces the one with the same
        event type, object type and feeders; producers replace per object type; event types add."""
        merged_hops = {(h.event_type, h.object_type, h.upstream_types): h for h in self.hops}
        for hop in hops:
            merged_hops[(hop.event_type, hop.object_type, hop.upstream_types)] = hop
        return replace(
            self,
            hops=tuple(merged_hops.values()),
            producers={**self.producers, **(producers or {})},
            source_event_types=_union(self.source_event_types, source_event_types),
            posting_event_types=_union(self.posting_event_types, posting_event_types),
            stuck_after_days=self.stuck_after_days
            if stuck_after_days is None
            else stuck_after_days,
            stuck_after_days_by_type={
                **self.stuck_after_days_by_type,
                **(stuck_after_days_by_type or {}),
            },
        )


def _union(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*first, *second]))
