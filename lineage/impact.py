"""Blocked-invoice impact: invoice-level items (billing events) that have not posted because an
event on their path failed and has not succeeded since, with the money and who owns each fix.

An item is blocked when its billing.ready failed (the item that should have become a billing
event), or its billing.ready succeeded and its invoice.posted failed, or a failed event upstream
of it has stopped it; a failed posting also names the failed set-up of its customer. Items still
waiting for a first attempt are not blocked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from clickhouse_connect.driver.client import Client

from lineage.assembly import nearest_legal_entity
from lineage.graph import DOWNSTREAM, EventNode, Lookup, ObjectRef
from lineage.owners import OwnerRouting
from lineage.queries import events_by_id, failed_event_ids, hop_events
from lineage.rules import LineageRules
from lineage.traversal import trace_many
from warehouse import semconv as sc

ITEM_OBJECT = sc.BILLING_EVENT
ITEM_EVENT = sc.BILLING_READY
ITEM_POSTING = sc.INVOICE_POSTED


@dataclass(frozen=True)
class Blocker:
    """A failed event that holds an item, and who owns its fix."""

    event_id: str
    event_type: str
    error_category: str
    error_code: str
    owner: str
    failed_since: datetime | None


@dataclass(frozen=True)
class BlockedItem:
    """One invoice-level item that has not reached invoice.posted."""

    object: ObjectRef
    invoice: str | None
    stage: str
    amount: Decimal | None
    currency: str
    legal_entity: str
    period: str
    blocked_by: tuple[Blocker, ...]


@dataclass(frozen=True)
class BlockedInvoices:
    total: dict[str, Decimal]
    items: tuple[BlockedItem, ...]


def feeder_types(rules: LineageRules, target: str) -> set[str]:
    """Event types from which some chain of hops leads to ``target``."""
    found: set[str] = set()
    frontier = {target}
    while frontier:
        feeders = {
            t for e in frontier for hop in rules.upstream_hops(e) for t in hop.upstream_types
        }
        frontier = feeders - found
        found |= feeders
    return found - {target}


def _blocker(node: EventNode, owners: OwnerRouting) -> Blocker:
    return Blocker(
        node.event_id,
        node.event_type,
        node.error_category,
        node.error_code,
        owners.owner_of(node.error_category),
        node.failed_since,
    )


@dataclass
class _Item:
    billing_event: str
    ready: EventNode | None = None
    posting: EventNode | None = None
    upstream_failures: tuple[EventNode, ...] = ()


def blocked_invoices(
    client: Client,
    rules: LineageRules,
    owners: OwnerRouting,
    *,
    period: str | None = None,
    legal_entity: str | None = None,
) -> BlockedInvoices:
    """Every blocked item (in ``period`` and ``legal_entity`` when given), largest first."""
    return narrowed(all_blocked_invoices(client, rules, owners), period, legal_entity)


def narrowed(
    blocked: BlockedInvoices, period: str | None, legal_entity: str | None
) -> BlockedInvoices:
    """Only the items of ``period`` and ``legal_entity`` (each when given), with their totals."""
    if not period and not legal_entity:
        return blocked
    kept = tuple(
        item
        for item in blocked.items
        if (not period or item.period == period)
        and (not legal_entity or item.legal_entity == legal_entity)
    )
    return BlockedInvoices(_totals(kept), kept)


def all_blocked_invoices(
    client: Client, rules: LineageRules, owners: OwnerRouting
) -> BlockedInvoices:
    """Every blocked item of every period and legal entity, largest first."""
    upstream_types = feeder_types(rules, ITEM_EVENT)
    failed = events_by_id(
        client, failed_event_ids(client, sorted({ITEM_EVENT, ITEM_POSTING, *upstream_types}))
    )
    items: dict[str, _Item] = {}
    for node in failed.values():
        if node.event_type in (ITEM_EVENT, ITEM_POSTING):
            for billing_event in node.objects.get(ITEM_OBJECT, ()):
                items.setdefault(billing_event, _Item(billing_event))
    upstream_roots = {e: n for e, n in failed.items() if n.event_type in upstream_types}
    for root_id, lineage in trace_many(client, rules, upstream_roots, DOWNSTREAM).items():
        for node in lineage.nodes:
            if node.event_type == ITEM_EVENT:
                for billing_event in node.objects.get(ITEM_OBJECT, ()):
                    item = items.setdefault(billing_event, _Item(billing_event))
                    item.upstream_failures += (failed[root_id],)
    _attach_item_events(client, items)
    blocked = [item for item in items.values() if _is_blocked(item)]
    legal_entities = _legal_entities(client, rules, blocked)
    prerequisites = _failed_prerequisites(client, rules, blocked)
    result = []
    for item in blocked:
        facts = item.ready or item.posting
        if facts is None:  # _is_blocked keeps only items with a ready or a posting
            continue
        stage = ITEM_EVENT if item.ready and not item.ready.succeeded else ITEM_POSTING
        entity = legal_entities.get(item.billing_event, "")
        item_period = facts.period or (item.posting.period if item.posting else "")
        holding = [n for n in (item.ready, item.posting) if n is not None and not n.succeeded]
        holding += [*item.upstream_failures, *prerequisites.get(item.billing_event, ())]
        unique = {node.event_id: node for node in holding}
        invoice_ids = item.posting.objects.get(sc.INVOICE, ()) if item.posting else ()
        result.append(
            BlockedItem(
                object=ObjectRef(ITEM_OBJECT, item.billing_event),
                invoice=invoice_ids[0] if invoice_ids else None,
                stage=stage,
                amount=facts.amount,
                currency=facts.currency,
                legal_entity=entity,
                period=item_period,
                blocked_by=tuple(_blocker(node, owners) for node in unique.values()),
            )
        )
    result.sort(key=lambda i: (-(i.amount or Decimal(0)), i.object.id))
    return BlockedInvoices(_totals(result), tuple(result))


def _attach_item_events(client: Client, items: dict[str, _Item]) -> None:
    """Find each item's billing.ready and invoice.posted (one query for all items)."""
    refs = frozenset(ObjectRef(ITEM_OBJECT, billing_event) for billing_event in items)
    found = hop_events(client, Lookup.every(refs, (ITEM_EVENT, ITEM_POSTING)), ())
    for node in found.values():
        for billing_event in node.objects.get(ITEM_OBJECT, ()):
            item = items.get(billing_event)
            if item is None:
                continue
            if node.event_type == ITEM_EVENT:
                item.ready = node
            elif item.posting is None or item.posting.first_time < node.first_time:
                item.posting = node


def _is_blocked(item: _Item) -> bool:
    if item.posting is not None and item.posting.succeeded:
        return False
    if item.ready is None and item.posting is None:
        return False
    own_failure = any(n is not None and not n.succeeded for n in (item.ready, item.posting))
    return own_failure or bool(item.upstream_failures)


def _legal_entities(client: Client, rules: LineageRules, items: Iterable[_Item]) -> dict[str, str]:
    """Each item's legal entity: from its posting, else from the nearest upstream event."""
    found: dict[str, str] = {}
    unresolved: dict[str, EventNode] = {}
    for item in items:
        entity = item.posting.legal_entity if item.posting else ""
        entity = entity or (item.ready.legal_entity if item.ready else "")
        if entity:
            found[item.billing_event] = entity
        elif item.ready is not None:
            unresolved[item.ready.event_id] = item.ready
    # Most items resolve through their project's activation: one batched lookup instead of a
    # full upstream traversal per item; only what that leaves open is traced.
    by_project = _project_legal_entities(client, unresolved.values())
    for item in items:
        if item.billing_event not in found and item.ready is not None:
            projects = item.ready.objects.get(sc.PROJECT, ())
            entity = next((by_project[p] for p in projects if by_project.get(p)), "")
            if entity:
                found[item.billing_event] = entity
                unresolved.pop(item.ready.event_id, None)
    lineages = trace_many(client, rules, unresolved, "upstream")
    for item in items:
        if item.billing_event not in found and item.ready is not None:
            found[item.billing_event] = nearest_legal_entity(lineages[item.ready.event_id])
    return found


def _project_legal_entities(client: Client, ready: Iterable[EventNode]) -> dict[str, str]:
    """Project id → the legal entity its project.activated names, for the projects of ``ready``."""
    refs = frozenset(
        ObjectRef(sc.PROJECT, project)
        for node in ready
        for project in node.objects.get(sc.PROJECT, ())
    )
    if not refs:
        return {}
    activations = hop_events(client, Lookup.every(refs, (sc.PROJECT_ACTIVATED,)), ())
    entities: dict[str, str] = {}
    for node in activations.values():
        if node.legal_entity:
            for project in node.objects.get(sc.PROJECT, ()):
                entities.setdefault(project, node.legal_entity)
    return entities


def _failed_prerequisites(
    client: Client, rules: LineageRules, items: Iterable[_Item]
) -> dict[str, list[EventNode]]:
    """Per item, the failed set-up events (customer.synced) of the dimensions its failed
    posting carries: not hops, but they explain why the ERP refused it."""
    wanted: dict[str, set[ObjectRef]] = {}
    for item in items:
        for node in (item.ready, item.posting):
            if node is None or node.succeeded:
                continue
            for dimension in rules.prerequisites:
                for object_id in node.objects.get(dimension, ()):
                    wanted.setdefault(item.billing_event, set()).add(
                        ObjectRef(dimension, object_id)
                    )
    all_refs = frozenset(ref for refs in wanted.values() for ref in refs)
    types = frozenset(t for types in rules.prerequisites.values() for t in types)
    setups = hop_events(client, Lookup.every(all_refs, types), ()) if all_refs else {}
    failed_setups = [node for node in setups.values() if not node.succeeded]
    return {
        billing_event: [node for node in failed_setups if any(node.references(ref) for ref in refs)]
        for billing_event, refs in wanted.items()
    }


def _totals(items: Iterable[BlockedItem]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for item in items:
        if item.amount is not None:
            totals[item.currency] = totals.get(item.currency, Decimal(0)) + item.amount
    return dict(sorted(totals.items()))


def owners_of(items: Iterable[BlockedItem]) -> Mapping[str, int]:
    """How many items each team holds (an item counts once per team)."""
    counts: dict[str, int] = {}
    for item in items:
        for owner in {blocker.owner for blocker in item.blocked_by}:
            counts[owner] = counts.get(owner, 0) + 1
    return counts
