"""Lineage completeness of a period: the share of postings traceable to a succeeded source, the
orphans (posted without a traceable source) and the stuck sources (old, never posted)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from lineage.assembly import Gap, Lineage, nearest_legal_entity
from lineage.graph import DOWNSTREAM, UPSTREAM, EventNode
from lineage.queries import events_of_types
from lineage.rules import LineageRules
from lineage.traversal import trace_many


@dataclass(frozen=True)
class Orphan:
    """A posting whose upstream lineage does not end at succeeded sources everywhere."""

    event_id: str
    event_type: str
    posted_at: datetime
    gaps: tuple[Gap, ...]


@dataclass(frozen=True)
class StuckSource:
    """A succeeded source event older than its allowed age that has fed no succeeded posting."""

    event_id: str
    event_type: str
    timestamp: datetime
    age_days: float
    reached: str
    """The furthest event type its downstream got to (itself when nothing followed)."""


@dataclass
class Share:
    posted: int = 0
    complete: int = 0

    @property
    def share(self) -> float | None:
        return round(self.complete / self.posted, 4) if self.posted else None


@dataclass
class EntityCompleteness:
    """Completeness of one legal entity in the period."""

    legal_entity: str
    by_posting_type: dict[str, Share] = field(default_factory=dict)
    orphans: list[Orphan] = field(default_factory=list)
    stuck_sources: list[StuckSource] = field(default_factory=list)


@dataclass(frozen=True)
class Completeness:
    period: str
    as_of: datetime
    entities: tuple[EntityCompleteness, ...]


def completeness(
    client: Client,
    rules: LineageRules,
    *,
    period: str,
    as_of: datetime,
    legal_entity: str | None = None,
) -> Completeness:
    """Posted invoices and revenue postings of ``period`` and the source events of ``period``."""
    entities: dict[str, EntityCompleteness] = {}

    def entity(name: str) -> EntityCompleteness:
        return entities.setdefault(name, EntityCompleteness(name, _empty_shares(rules)))

    postings = {
        event_id: node
        for event_id, node in events_of_types(
            client, rules.posting_event_types, period=period
        ).items()
        if node.succeeded and node.period == period
    }
    for event_id, lineage in trace_many(client, rules, postings, UPSTREAM).items():
        name = nearest_legal_entity(lineage)
        if legal_entity and name != legal_entity:
            continue
        node = postings[event_id]
        share = entity(name).by_posting_type[node.event_type]
        share.posted += 1
        if lineage.complete:
            share.complete += 1
        else:
            entity(name).orphans.append(
                Orphan(event_id, node.event_type, node.timestamp, lineage.gaps)
            )
    for stuck, name in _stuck_sources(client, rules, period=period, as_of=as_of):
        if not legal_entity or name == legal_entity:
            entity(name).stuck_sources.append(stuck)
    for report in entities.values():
        report.orphans.sort(key=lambda o: (o.posted_at, o.event_id))
        report.stuck_sources.sort(key=lambda s: (s.timestamp, s.event_id))
    return Completeness(period, as_of, tuple(entities[name] for name in sorted(entities)))


def _empty_shares(rules: LineageRules) -> dict[str, Share]:
    return {event_type: Share() for event_type in rules.posting_event_types}


def _stuck_sources(
    client: Client, rules: LineageRules, *, period: str, as_of: datetime
) -> Iterable[tuple[StuckSource, str]]:
    candidates = {
        event_id: node
        for event_id, node in events_of_types(
            client, rules.source_event_types, period=period
        ).items()
        if node.succeeded
        and node.effect_time <= as_of - timedelta(days=rules.stuck_after(node.event_type))
    }
    downstream = trace_many(client, rules, candidates, DOWNSTREAM)
    stuck = {
        event_id: lineage
        for event_id, lineage in downstream.items()
        if not _reached_a_posting(lineage, rules)
    }
    upstream = trace_many(client, rules, {e: candidates[e] for e in stuck}, UPSTREAM)
    for event_id, lineage in stuck.items():
        node = candidates[event_id]
        age = (as_of - node.effect_time).total_seconds() / 86_400
        yield (
            StuckSource(
                event_id, node.event_type, node.timestamp, round(age, 2), _furthest(lineage)
            ),
            nearest_legal_entity(upstream[event_id]),
        )


def _reached_a_posting(lineage: Lineage, rules: LineageRules) -> bool:
    return any(
        node.event_type in rules.posting_event_types and node.succeeded for node in lineage.nodes
    )


def _furthest(lineage: Lineage) -> str:
    latest: EventNode = max(lineage.nodes, key=lambda node: (node.timestamp, node.event_id))
    return latest.event_type
