"""The OCEL 2.0 event log of a period and/or a legal entity, read in bounded pages.

A page is the events of at most ``page_size`` attempts, found by a cursor on the event id (the
table's key), so that memory follows the page and never the period. Events are what their lineage
nodes show (retries in one event, ``lineage.graph``), assembled by the engine one row per event
(``lineage.ocel_queries``), with ``lineage.ocel``'s attributes and qualifiers. Each
object carries what is known of it: the business state's answer (amount, currency, legal entity,
customer and status of close items and SLA keys, the SLA feature's ``StateFacts``), else the facts
of the event that produced it (``lineage.rules``' producers). An event's legal entity and customer
are its own, else those the business state resolved for it, else those of the objects it produces
or comes from (subject first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Protocol

from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.objects import ObjectRef
from lineage.ocel import (
    INPUT,
    OBJECT_ATTRIBUTES,
    SUBJECT,
    Qualify,
    attribute_records,
    cached_qualifier,
    event_record,
    ocel_object_id,
    relations_of,
)
from lineage.ocel_queries import PAGE_EVENTS, PERIOD_EVENT_IDS, PRODUCERS, pairs_parameter
from lineage.queries import knowledge_bound
from lineage.rules import LineageRules

DEFAULT_PAGE_SIZE: Final = 10_000
"""Attempts (business event rows) per page: the bound on what one page holds in memory."""

QUALIFIER_ORDER: Final = (SUBJECT, INPUT)
"""The objects an event's legal entity and customer are taken from, in this order, when neither
the event nor the business state names them."""


@dataclass(frozen=True)
class LogRequest:
    """Which events: those of ``period`` (their own, else their first attempt's UTC month) and
    of ``legal_entity``; either may be None (not both), as known at ``known_at``."""

    period: str | None
    legal_entity: str | None
    known_at: datetime

    def parameters(self) -> dict[str, Any]:
        return {"period": self.period or "", "known_at": self.known_at.replace(tzinfo=None)}


@dataclass(frozen=True)
class ObjectState:
    """What is known of one object; empty fields are unknown."""

    amount: Decimal | None = None
    currency: str = ""
    legal_entity: str = ""
    customer: str = ""
    status: str = ""

    def over(self, fallback: ObjectState) -> ObjectState:
        """These values, each unknown one taken from ``fallback``."""
        return ObjectState(
            self.amount if self.amount is not None else fallback.amount,
            self.currency or fallback.currency,
            self.legal_entity or fallback.legal_entity,
            self.customer or fallback.customer,
            self.status or fallback.status,
        )

    def values(self) -> tuple[Any, ...]:
        """Amount, currency, legal entity, customer and status (``lineage.ocel.OBJECT_ATTRIBUTES``
        order), None where unknown."""
        return (
            float(self.amount) if self.amount is not None else None,
            self.currency or None,
            self.legal_entity or None,
            self.customer or None,
            self.status or None,
        )

    def attributes(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "value": value}
            for (name, _), value in zip(OBJECT_ATTRIBUTES, self.values(), strict=True)
            if value is not None
        ]


IdRange = tuple[str, str]
"""Event ids after the first, up to and including the second: the ids of one page."""


class StateFacts(Protocol):
    """What the business state knows, as known at an instant (the SLA feature answers)."""

    def event_dimensions(
        self, client: Client, ids: IdRange, known_at: datetime
    ) -> dict[str, ObjectState]:
        """The legal entity and customer resolved for the events it covers, of those whose id is
        in the range."""
        ...

    def object_states(
        self, client: Client, refs: Sequence[ObjectRef], known_at: datetime
    ) -> dict[ObjectRef, ObjectState]:
        """Amount, currency, dimensions and status of the objects it covers."""
        ...


@dataclass(frozen=True)
class LogPage:
    """The events of one page (OCEL JSON records), the objects they touch (OCEL id and type)
    and the O2O links."""

    events: list[dict[str, Any]]
    objects: list[tuple[str, str]]
    links: list[tuple[str, str, str]]
    read: int
    """Events read for the page, before the legal entity's filter."""
    produced: list[tuple[str, datetime, ObjectState]]
    """Objects the page's events produce (OCEL id, when, facts) where those events alone produce
    their type (their facts are the object's whatever other pages hold)."""


class Produced(Protocol):
    """What ``first_produced`` reads of an event: a lineage node (``lineage.graph.EventNode``)
    or a log event (``LogEvent``)."""

    @property
    def event_id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def objects(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def first_time(self) -> datetime: ...
    @property
    def amount(self) -> Decimal | None: ...
    @property
    def currency(self) -> str: ...
    @property
    def legal_entity(self) -> str: ...
    @property
    def outcome(self) -> str: ...


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One event of the log as the engine assembles it (``lineage.ocel_queries.PAGE_EVENTS``):
    what its lineage node shows, without the node."""

    event_id: str
    event_type: str
    outcome: str
    first_time: datetime
    time: datetime
    source_system: str
    target_system: str
    amount: Decimal | None
    currency: str
    period: str
    trace_id: str
    span_id: str
    attempts: int
    replays: int
    error_category: str
    legal_entity: str
    objects: dict[str, tuple[str, ...]]
    in_period: bool

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> LogEvent:
        (event_id, event_type, outcome, first_time, time, source, target, amount, currency,
         period, trace_id, span_id, attempts, replays, error_category, legal_entity, refs,
         in_period) = row  # fmt: skip
        merged: dict[str, dict[str, None]] = {}
        for object_type, object_id in refs:
            merged.setdefault(object_type, {})[object_id] = None
        objects = {object_type: tuple(ids) for object_type, ids in merged.items()}
        return cls(
            event_id, event_type, outcome, first_time, time, source, target, amount, currency,
            period, trace_id, span_id, attempts, replays, error_category, legal_entity, objects,
            bool(in_period),
        )  # fmt: skip

    def attributes(self) -> list[dict[str, Any]]:
        """Its OCEL attributes (``lineage.ocel.EVENT_ATTRIBUTES``)."""
        return attribute_records(
            (self.outcome, self.source_system, self.target_system, self.amount, self.currency,
             self.period, self.attempts, self.replays, self.error_category, self.trace_id,
             self.span_id)
        )  # fmt: skip


def _customer(node: Produced) -> str:
    return next(iter(node.objects.get(sc.CUSTOMER, ())), "")


def first_produced(
    nodes: Iterable[Produced], rules: LineageRules, wanted: Callable[[ObjectRef], bool]
) -> dict[ObjectRef, tuple[datetime, ObjectState]]:
    """The wanted objects that some of ``nodes`` produced, each with the first such event's time
    and facts (its counted amount and currency, its own legal entity and customer, outcome)."""
    producers = {**rules.prerequisites, **rules.producers}
    states: dict[ObjectRef, tuple[datetime, ObjectState]] = {}
    producing = {event_type for types in producers.values() for event_type in types}
    for node in sorted(
        (n for n in nodes if n.event_type in producing), key=lambda n: (n.first_time, n.event_id)
    ):
        state: tuple[datetime, ObjectState] | None = None
        for object_type, ids in node.objects.items():
            if node.event_type not in producers.get(object_type, ()):
                continue
            for object_id in ids:
                ref = ObjectRef(object_type, object_id)
                if ref not in states and wanted(ref):
                    if state is None:
                        state = (
                            node.first_time,
                            ObjectState(
                                node.amount,
                                node.currency,
                                node.legal_entity,
                                _customer(node),
                                node.outcome,
                            ),
                        )
                    states[ref] = state
    return states


def producer_states(
    client: Client, rules: LineageRules, refs: Sequence[ObjectRef], known_at: datetime
) -> dict[ObjectRef, ObjectState]:
    """Each object's state from the first event that produced it (``PRODUCERS``: what
    ``first_produced`` says of the events that carry it); a dimension is its own value."""
    producers = {**rules.prerequisites, **rules.producers}
    wanted = [(ref.type, ref.id) for ref in refs if ref.type in producers]
    states: dict[ObjectRef, ObjectState] = {}
    if wanted:
        rows = client.query(
            PRODUCERS,
            parameters={
                "refs": pairs_parameter(wanted),
                "producers": sorted((t, e) for t, types in producers.items() for e in types),
                "known_at": knowledge_bound(known_at),
            },
        ).result_rows
        for object_type, object_id, (amount, currency, entity, customer, outcome) in rows:
            states[ObjectRef(object_type, object_id)] = ObjectState(
                amount, currency, entity, customer, outcome
            )
    for ref in refs:
        if ref.type == sc.LEGAL_ENTITY:
            states[ref] = ObjectState(legal_entity=ref.id).over(states.get(ref, ObjectState()))
        elif ref.type == sc.CUSTOMER:
            states[ref] = ObjectState(customer=ref.id).over(states.get(ref, ObjectState()))
    return states


def object_facts(
    client: Client,
    rules: LineageRules,
    facts: StateFacts,
    refs: Sequence[ObjectRef],
    known_at: datetime,
    produced: Mapping[ObjectRef, ObjectState] | None = None,
) -> dict[ObjectRef, ObjectState]:
    """What is known of each object: the business state's answer, each gap filled from the
    event that produced it (``produced`` when given there, else read)."""
    given = produced or {}
    known = producer_states(client, rules, [r for r in refs if r not in given], known_at)
    known.update((ref, given[ref]) for ref in refs if ref in given)
    for ref, state in facts.object_states(client, refs, known_at).items():
        known[ref] = state.over(known.get(ref, ObjectState()))
    return known


def _ranked_refs(node: LogEvent, qualify: Qualify) -> list[ObjectRef]:
    """The event's subject and input objects, subject first: where its dimensions come from
    when neither it nor the business state names them."""
    ranked = sorted(
        (QUALIFIER_ORDER.index(how), object_type)
        for object_type in node.objects
        for how in [qualify(node.event_type, object_type)]
        if how in (SUBJECT, INPUT)
    )
    return [ObjectRef(t, i) for _, t in ranked for i in node.objects[t]]


def _dimensions(
    client: Client,
    rules: LineageRules,
    qualify: Qualify,
    facts: StateFacts,
    nodes: Sequence[LogEvent],
    ids: IdRange,
    known_at: datetime,
) -> dict[str, ObjectState]:
    """Each event's legal entity and customer: its own, else the business state's, else (for
    an event without a legal entity) those of its subject and input objects."""
    resolved = facts.event_dimensions(client, ids, known_at)
    found = {
        node.event_id: ObjectState(legal_entity=node.legal_entity, customer=_customer(node)).over(
            resolved.get(node.event_id, ObjectState())
        )
        for node in nodes
    }
    open_nodes = [n for n in nodes if not found[n.event_id].legal_entity]
    refs = sorted({ref for node in open_nodes for ref in _ranked_refs(node, qualify)})
    if refs:
        states = object_facts(client, rules, facts, refs, known_at)
        for node in open_nodes:
            for ref in _ranked_refs(node, qualify):
                state = states.get(ref)
                if state is not None:
                    found[node.event_id] = found[node.event_id].over(
                        ObjectState(legal_entity=state.legal_entity, customer=state.customer)
                    )
    return found


def log_pages(
    client_of: Callable[[], Client],
    rules: LineageRules,
    request: LogRequest,
    facts: StateFacts,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Iterator[LogPage]:
    """The log's pages in event id order; each page is read when the consumer asks for it (a
    fresh client each time: a streaming answer resumes on any worker thread)."""
    after = ""
    qualify = cached_qualifier(rules)
    while True:
        client = client_of()
        rows = client.query(
            PERIOD_EVENT_IDS,
            parameters={**request.parameters(), "after": after, "limit": page_size},
        ).result_rows
        if not rows:
            return
        # an event whose attempts straddle two pages is read whole, in the first
        ids = (after, str(rows[-1][0]))
        after = ids[1]
        yield _page(client, rules, qualify, request, facts, ids)
        if len(rows) < page_size:
            return


def _page(
    client: Client,
    rules: LineageRules,
    qualify: Qualify,
    request: LogRequest,
    facts: StateFacts,
    ids: IdRange,
) -> LogPage:
    rows = client.query(
        PAGE_EVENTS, parameters={**request.parameters(), "after": ids[0], "last": ids[1]}
    ).result_rows
    nodes = [node for node in map(LogEvent.from_row, rows) if node.in_period]
    dimensions = _dimensions(client, rules, qualify, facts, nodes, ids, request.known_at)
    events: list[dict[str, Any]] = []
    objects: dict[str, str] = {}
    links: list[tuple[str, str, str]] = []
    for node in nodes:
        own = dimensions[node.event_id]
        if request.legal_entity is not None and own.legal_entity != request.legal_entity:
            continue
        relationships, node_links = relations_of(node.event_type, node.objects, qualify)
        attributes = node.attributes()
        attributes += [
            {"name": name, "value": value}
            for name, value in (("legal_entity", own.legal_entity), ("customer", own.customer))
            if value
        ]
        events.append(
            event_record(node.event_id, node.event_type, node.time, attributes, relationships)
        )
        links += node_links
        for object_type, object_ids in node.objects.items():
            for object_id in object_ids:
                objects.setdefault(ocel_object_id(object_type, object_id), object_type)
    sole = {t for t, producers in rules.producers.items() if len(producers) == 1}
    produced = [
        (ocel_object_id(ref.type, ref.id), at, state)
        for ref, (at, state) in first_produced(nodes, rules, lambda r: r.type in sole).items()
    ]
    return LogPage(events, list(objects.items()), links, len(rows), produced)


Describe = Callable[[list[tuple[str, str]], Mapping[str, ObjectState]], dict[str, ObjectState]]
"""(OCEL id, type) pairs and the facts of those produced inside the log → what is known of each."""


def describe_objects(
    client_of: Callable[[], Client],
    rules: LineageRules,
    facts: StateFacts,
    known_at: datetime,
) -> Describe:
    """What is known of a batch of objects (``object_facts``)."""

    def describe(
        objects: list[tuple[str, str]], produced: Mapping[str, ObjectState]
    ) -> dict[str, ObjectState]:
        refs = {ObjectRef(t, oid[len(t) + 1 :]): oid for oid, t in objects}
        given = {ref: produced[oid] for ref, oid in refs.items() if oid in produced}
        states = object_facts(client_of(), rules, facts, sorted(refs), known_at, given)
        return {oid: states.get(ref, ObjectState()) for ref, oid in refs.items()}

    return describe
