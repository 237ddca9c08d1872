"""The OCEL 2.0 event log of a period and/or a legal entity, read in bounded pages.

A page is the events of at most ``page_size`` attempts, found by a cursor on the event id (the
table's key), so that memory follows the page and never the period. Events are what their lineage
nodes show (retries in one event, ``lineage.graph``), assembled and written by the engine one row
per event (``lineage.ocel_queries``): its OCEL JSON record or its SQLite values, its qualified
relations (``lineage.ocel``'s qualifiers) and O2O links; Python only resolves the dimensions of
the few events neither they nor the business state name, and gathers the page's objects. Each
object carries what is known of it: the business state's answer (amount, currency, legal entity,
customer and status of close items and SLA keys, the SLA feature's ``StateFacts``), else the facts
of the event that produced it (``lineage.rules``' producers). An event's legal entity and customer
are its own, else those the business state resolved for it, else those of the objects it produces
or comes from (subject first).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.objects import ObjectRef
from lineage.ocel import INPUT, JSON_ENCODER, OBJECT_ATTRIBUTES, SUBJECT, cached_qualifier
from lineage.ocel_queries import (
    JSON_TEXT_QUERY_SETTINGS,
    PAGE_SHAPES,
    PERIOD_EVENT_IDS,
    PRODUCERS,
    VOCABULARY,
    page_events,
    pairs_parameter,
    qualifier_key,
)
from lineage.queries import knowledge_bound
from lineage.rules import LineageRules
from warehouse.pool import READERS

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
        return {
            "period": self.period or "",
            "legal_entity": self.legal_entity or "",
            "known_at": self.known_at.replace(tzinfo=None),
        }


Pair = tuple[str, str]
"""An object as (type, id): the key the export describes objects by (a plain tuple hashes in C,
a ``domain.objects.ObjectRef`` through Python, which counts at some 100,000 objects)."""


State = tuple[Decimal | None, str, str, str, str]
"""What is known of one object as a plain tuple: amount, currency, legal entity, customer and
status (``ObjectState``'s fields; empty fields are unknown). The export builds and merges some
300,000 of them a period: the collector stops tracking a plain tuple of strings and decimals
the first time it sees one, where it tracks a named tuple to the end, so that those survivors
made a dozen full collections of the heap an export (a second of CPU at medium)."""


def over(state: State, fallback: State) -> State:
    """``state``'s values, each unknown one taken from ``fallback``."""
    return (
        state[0] if state[0] is not None else fallback[0],
        state[1] or fallback[1],
        state[2] or fallback[2],
        state[3] or fallback[3],
        state[4] or fallback[4],
    )


def state_values(state: State) -> tuple[Any, ...]:
    """Amount, currency, legal entity, customer and status (``lineage.ocel.OBJECT_ATTRIBUTES``
    order), None where unknown."""
    amount = state[0]
    return (
        float(amount) if amount is not None else None,
        state[1] or None,
        state[2] or None,
        state[3] or None,
        state[4] or None,
    )


class ObjectState(NamedTuple):
    """What is known of one object; empty fields are unknown (``State`` with names: for
    reading; the export itself builds plain ``State`` tuples)."""

    amount: Decimal | None = None
    currency: str = ""
    legal_entity: str = ""
    customer: str = ""
    status: str = ""

    def over(self, fallback: State) -> ObjectState:
        """These values, each unknown one taken from ``fallback``."""
        return ObjectState(*over(self, fallback))

    def values(self) -> tuple[Any, ...]:
        """Amount, currency, legal entity, customer and status (``state_values``)."""
        return state_values(self)

    def attributes(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "value": value}
            for (name, _), value in zip(OBJECT_ATTRIBUTES, self.values(), strict=True)
            if value is not None
        ]


class StateFacts(Protocol):
    """What the business state knows, as known at an instant (the SLA feature answers)."""

    @property
    def event_dimensions_sql(self) -> str:
        """A subquery of (``EventId``, ``EventLegalEntity``, ``EventCustomer``): the legal entity
        and customer resolved for the events it covers whose id is after ``{after:String}`` up
        to ``{last:String}``, as known at ``{known_at:DateTime64(3, 'UTC')}``."""
        ...

    def object_states(
        self, client: Client, refs: Sequence[Pair], known_at: datetime
    ) -> Mapping[Pair, State]:
        """Amount, currency, dimensions and status of the objects it covers (plain tuples or
        ``ObjectState``s)."""
        ...


Produced = tuple[str, int, str | None, str, str, str, str]
"""An object produced inside the log: OCEL id, when (the producing event's first attempt, in
microseconds since the epoch), the event's counted amount (decimal text, None when unknown) and
currency, its own legal entity and customer, its outcome."""


@dataclass(frozen=True)
class LogPage:
    """The events of one page as the engine formats them, the objects they touch (OCEL id and
    type) and the O2O links."""

    runs: list[Any]
    """The JSON export: the events' OCEL JSON records (``lineage.ocel.event_record``, with their
    legal entity and customer) in id order, as runs of the engine's text (Arrow string arrays,
    never made Python strings) and, between them, the records Python completed (``str``)."""
    table: Any
    """The SQLite export: an Arrow table of the events, one row each: type, id, time and
    ``LOG_EVENT_ATTRIBUTES`` values (None for the JSON export)."""
    relations: tuple[list[str], list[str], list[str]]
    """The SQLite export: the events' E2O relations as columns (event ids, object ids,
    qualifiers)."""
    event_types: set[str]
    object_columns: tuple[list[str], ...]
    """The (OCEL id, type) of the objects the page's relations name, each once, as two columns
    (columns of strings, not a tuple per object: nothing the collector must track)."""
    link_columns: tuple[list[str], ...]
    """The O2O links (source, target, qualifier) as three columns."""
    read: int
    """Events read for the page, before the legal entity's filter of those the engine could
    not resolve."""
    produced_columns: tuple[list[Any], ...]
    """Objects the page's events produce where those events alone produce their type (their
    facts are the object's whatever other pages hold), the first producer of each: the seven
    columns of ``Produced``."""

    @property
    def objects(self) -> list[tuple[str, str]]:
        """The (OCEL id, type) pairs one by one (for reading, not for export)."""
        return list(zip(*self.object_columns, strict=True))

    @property
    def links(self) -> list[tuple[str, str, str]]:
        """The O2O links one by one (for reading, not for export)."""
        return list(zip(*self.link_columns, strict=True))

    @property
    def produced(self) -> list[Produced]:
        """The produced objects' facts one by one (for reading, not for export)."""
        return list(zip(*self.produced_columns, strict=True))

    @property
    def events(self) -> int:
        listed = sum(1 if isinstance(run, str) else len(run) for run in self.runs)
        return listed + (0 if self.table is None else self.table.num_rows)

    @property
    def records(self) -> list[str]:
        """The JSON records one by one (each a Python string: for reading, not for export)."""
        return [
            text
            for run in self.runs
            for text in ([run] if isinstance(run, str) else run.to_pylist())
        ]

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        """The SQLite rows one by one (for reading, not for export)."""
        if self.table is None:
            return []
        return list(zip(*(column.to_pylist() for column in self.table.columns), strict=True))

    def json_text(self) -> bytes:
        """The page's records joined by commas, as UTF-8: the engine's runs joined by Arrow,
        never a Python string per record."""
        return b",".join(
            run.encode() if isinstance(run, str) else _joined(run)
            for run in self.runs
            if isinstance(run, str) or len(run)
        )


EMPTY_RELATIONS: Final[tuple[list[str], list[str], list[str]]] = ([], [], [])
NO_PRODUCED: Final[tuple[list[Any], ...]] = ([],) * 7


def _joined(strings: Any) -> bytes:
    """An Arrow string array's values joined by commas, as one bytes value."""
    whole = pa.ListArray.from_arrays(pa.array([0, len(strings)], pa.int32()), strings)
    return bytes(pc.binary_join(whole, ",")[0].as_buffer())


class ProducingEvent(Protocol):
    """What ``first_produced`` reads of an event: a lineage node (``lineage.graph.EventNode``)."""

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


def _customer(node: ProducingEvent) -> str:
    return next(iter(node.objects.get(sc.CUSTOMER, ())), "")


def first_produced(
    nodes: Iterable[ProducingEvent],
    rules: LineageRules,
    wanted: Callable[[ObjectRef], bool],
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


UNKNOWN: Final[State] = (None, "", "", "", "")


def producer_facts(
    client: Client, rules: LineageRules, refs: Sequence[Pair], known_at: datetime
) -> dict[Pair, State]:
    """Each object's state from the first event that produced it (``PRODUCERS``: what
    ``first_produced`` says of the events that carry it); a dimension is its own value."""
    producers = {**rules.prerequisites, **rules.producers}
    wanted = [ref for ref in refs if ref[0] in producers]
    states: dict[Pair, State] = {}
    if wanted:
        rows = client.query(
            PRODUCERS,
            parameters={
                **pairs_parameter("refs", wanted),
                "producers": sorted((t, e) for t, types in producers.items() for e in types),
                "known_at": knowledge_bound(known_at),
            },
            settings=JSON_TEXT_QUERY_SETTINGS,
        ).result_rows
        for object_type, object_id, facts in rows:
            states[(object_type, object_id)] = facts
    for ref in refs:
        if ref[0] == sc.LEGAL_ENTITY:
            states[ref] = over((None, "", ref[1], "", ""), states.get(ref, UNKNOWN))
        elif ref[0] == sc.CUSTOMER:
            states[ref] = over((None, "", "", ref[1], ""), states.get(ref, UNKNOWN))
    return states


def object_facts(
    client: Client,
    rules: LineageRules,
    facts: StateFacts,
    refs: Sequence[Pair],
    known_at: datetime,
    produced: Mapping[Pair, State] | None = None,
) -> dict[Pair, State]:
    """What is known of each object: the business state's answer, each gap filled from the
    event that produced it (``produced`` when given there, else read)."""
    given = produced or {}
    known = producer_facts(client, rules, [r for r in refs if r not in given], known_at)
    known.update((ref, given[ref]) for ref in refs if ref in given)
    for ref, state in facts.object_states(client, refs, known_at).items():
        fallback = known.get(ref)
        known[ref] = state if fallback is None else over(state, fallback)
    return known


JSON_TEXT_SETTINGS: Final = {"output_format_json_escape_forward_slashes": 0}
"""The engine's JSON strings spelled as the export's encoder spells them: ``/`` as is."""


Relation = tuple[str, str, str]
"""(OCEL object id, object type, E2O qualifier) of an event, as ``page_events`` gives them."""


def _ranked_refs(relations: Sequence[Relation]) -> list[Pair]:
    """The event's subject and input objects, subject first (each kind by type, as the engine
    sorts relations): where its dimensions come from when neither it nor the business state
    names them."""
    return [
        (object_type, oid[len(object_type) + 1 :])
        for how in QUALIFIER_ORDER
        for oid, object_type, qualifier in relations
        if qualifier == how
    ]


def _open_dimensions(
    client: Client,
    rules: LineageRules,
    facts: StateFacts,
    opened: Sequence[tuple[Sequence[Relation], str]],
    known_at: datetime,
) -> list[ObjectState]:
    """The legal entity and customer of events neither they nor the business state resolve
    (their relations and the customer known so far): those of their subject and input
    objects."""
    ranked = [_ranked_refs(relations) for relations, _ in opened]
    states = object_facts(
        client, rules, facts, sorted({ref for refs in ranked for ref in refs}), known_at
    )
    found = []
    for refs, (_, customer) in zip(ranked, opened, strict=True):
        own = ObjectState(customer=customer)
        for ref in refs:
            state = states.get(ref)
            if state is not None:
                own = own.over((None, "", state[2], state[3], ""))
        found.append(own)
    return found


def dimension_items(state: ObjectState) -> str:
    """An event's legal entity and customer attribute records as JSON text, each after a comma
    (what ``page_events`` writes for the events it resolves)."""
    return "".join(
        "," + JSON_ENCODER.encode({"name": name, "value": value})
        for name, value in (("legal_entity", state.legal_entity), ("customer", state.customer))
        if value
    )


@dataclass(frozen=True)
class _Vocabulary:
    """The E2O qualifier of every (event type, object type) pair stored, and the (object type,
    event type) pairs where one event type alone produces the objects."""

    qualifiers: dict[str, list[str]]
    sole: list[tuple[str, str]]

    @classmethod
    def read(cls, client: Client, rules: LineageRules, known_at: datetime) -> _Vocabulary:
        qualify = cached_qualifier(rules)
        event_types, object_types = client.query(
            VOCABULARY, parameters={"known_at": knowledge_bound(known_at)}
        ).result_rows[0]
        pairs = [(e, o) for e in sorted(event_types) for o in sorted(object_types)]
        producers = {**rules.prerequisites, **rules.producers}
        sole = {t for t, types in rules.producers.items() if len(types) == 1}
        return cls(
            {
                "qualifier_keys": [qualifier_key(e, o) for e, o in pairs],
                "qualifier_values": [qualify(e, o) for e, o in pairs],
            },
            sorted((t, e) for t in sole for e in producers[t]),
        )


def log_pages(
    client_of: Callable[[], Client],
    rules: LineageRules,
    request: LogRequest,
    facts: StateFacts,
    *,
    shape: str = "json",
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Generator[LogPage, None, None]:
    """The log's pages in event id order, each event as ``shape`` (``PAGE_SHAPES``) wants it;
    while the consumer takes one page the next is read on a ``warehouse.pool.READERS`` thread (a client from
    ``client_of`` there: one page ahead, so memory holds two pages at most). Closing it early
    waits for the page being read."""
    if shape not in PAGE_SHAPES:
        raise ValueError(f"shape={shape!r}: expected one of {', '.join(PAGE_SHAPES)}")
    queries = (
        page_events(shape, facts.event_dimensions_sql, engine_spelling=True),
        page_events(shape, facts.event_dimensions_sql),
    )
    vocabulary: _Vocabulary | None = None

    def read(after: str) -> tuple[LogPage, str, bool] | None:
        """The page after ``after``, its last id, and whether pages may follow (reads run one
        at a time, so the vocabulary is read once)."""
        nonlocal vocabulary
        client = client_of()
        [(attempts, last)] = client.query(
            PERIOD_EVENT_IDS,
            parameters={**request.parameters(), "after": after, "limit": page_size},
        ).result_rows
        if not attempts:
            return None
        if vocabulary is None:
            vocabulary = _Vocabulary.read(client, rules, request.known_at)
        # an event whose attempts straddle two pages is read whole, in the first
        ids = (after, str(last))
        page = _page(client, rules, request, facts, queries, vocabulary, shape, ids)
        return page, ids[1], attempts == page_size

    pending = READERS.submit(read, "")
    try:
        while (found := pending.result()) is not None:
            page, last, more = found
            if more:
                pending = READERS.submit(read, last)
            yield page
            if not more:
                return
    finally:
        if not pending.cancel():
            # a consumer that stops early (a dropped download) leaves no read running behind
            pending.exception()


def _flat(column: Any) -> tuple[list[int], list[list[Any]]]:
    """An Arrow column of arrays of tuples as each row's offset into the flattened tuples, and
    the flattened tuples' fields as Python lists (converted by Arrow, not value by value)."""
    combined = column.combine_chunks()
    offsets = combined.offsets.to_pylist()
    if offsets[0]:
        offsets = [offset - offsets[0] for offset in offsets]
    fields = combined.flatten().flatten()
    return offsets, [field.to_pylist() for field in fields]


def _page(
    client: Client,
    rules: LineageRules,
    request: LogRequest,
    facts: StateFacts,
    queries: tuple[str, str],
    vocabulary: _Vocabulary,
    shape: str,
    ids: tuple[str, str],
) -> LogPage:
    parameters = {
        **request.parameters(),
        **vocabulary.qualifiers,
        "sole": vocabulary.sole,
        "after": ids[0],
        "last": ids[1],
    }
    table = client.query_arrow(
        queries[0], parameters=parameters, settings=JSON_TEXT_SETTINGS, use_strings=True
    )
    if "unsure" in table.column_names and pc.max(table.column("unsure")).as_py():
        # some string is one the engine spells otherwise than the encoder: the page again,
        # every string spelt as the encoder does (rare: a control character, U+2028, a "\u")
        table = client.query_arrow(
            queries[1], parameters=parameters, settings=JSON_TEXT_SETTINGS, use_strings=True
        )
    read = table.num_rows
    if not read:
        return LogPage([], None, EMPTY_RELATIONS, set(), ([], []), EMPTY_RELATIONS, 0, NO_PRODUCED)
    event_types = table.column("event_type").combine_chunks()
    opens = table.column("open").to_pylist()
    customers = table.column("customer").combine_chunks()
    e2o_items = table.column("e2o").combine_chunks()
    opened = [i for i in range(read) if opens[i]]
    # only the open events' relations are needed one by one (a few hundred a page)
    at, (oids, object_types, qualifiers) = _flat(
        pa.chunked_array([e2o_items.take(pa.array(opened, pa.int64()))])
    )
    resolved = dict(
        zip(
            opened,
            _open_dimensions(
                client,
                rules,
                facts,
                [
                    (
                        list(
                            zip(
                                *(f[at[n] : at[n + 1]] for f in (oids, object_types, qualifiers)),
                                strict=True,
                            )
                        ),
                        customers[i].as_py(),
                    )
                    for n, i in enumerate(opened)
                ],
                request.known_at,
            ),
            strict=True,
        )
    )
    wanted = request.legal_entity
    # only an event resolved here can be left out: the engine filtered the others
    dropped = (
        {i for i, state in resolved.items() if state.legal_entity != wanted}
        if wanted is not None
        else set()
    )
    kept_mask = None if not dropped else pa.array([i not in dropped for i in range(read)])
    runs: list[Any] = []
    rows = None
    e2o = EMPTY_RELATIONS
    relations = _kept_relations(table.column("EventId"), e2o_items, kept_mask)
    if shape == "json":
        runs = _json_runs(table, resolved, dropped)
    else:
        rows = _sqlite_rows(table, resolved, kept_mask)
        e2o = (
            relations.column(0).to_pylist(),
            relations.column(1).to_pylist(),
            relations.column(3).to_pylist(),
        )
    _, link_fields = _flat(table.column("links"))
    link_kept = _kept_items(table.column("links"), kept_mask)
    links = (
        _compressed(link_fields[0], link_kept),
        _compressed(link_fields[1], link_kept),
        _compressed(link_fields[2], link_kept),
    )
    kept_types = event_types if kept_mask is None else event_types.filter(kept_mask)
    return LogPage(
        runs,
        rows,
        e2o,
        set(pc.unique(kept_types).to_pylist()),
        _unique_objects(relations),
        links,
        read,
        _first_produced(table.column("produced"), dropped),
    )


def _first_produced(column: Any, dropped: set[int]) -> tuple[list[Any], ...]:
    """The produced objects of the page's kept events, the first producer of each (the least
    instant, the first named on a tie), as the seven columns of ``Produced``."""
    made_at, fields = _flat(column)
    oids, at = fields[0], fields[1]
    first: dict[str, int] = {}
    for i in range(len(made_at) - 1):
        if i in dropped:
            continue
        for n in range(made_at[i], made_at[i + 1]):
            known = first.get(oids[n])
            if known is None or at[n] < at[known]:
                first[oids[n]] = n
    chosen = list(first.values())
    return tuple([field[n] for n in chosen] for field in fields)


def _kept_items(column: Any, kept: Any) -> list[bool] | None:
    """Which items of a list column belong to a kept event (None: all)."""
    if kept is None:
        return None
    combined = column.combine_chunks()
    return kept.take(pc.list_parent_indices(combined)).to_pylist()  # type: ignore[no-any-return]


def _compressed(values: list[Any], kept: list[bool] | None) -> list[Any]:
    return values if kept is None else list(itertools.compress(values, kept))


def _json_runs(table: Any, resolved: Mapping[int, ObjectState], dropped: set[int]) -> list[Any]:
    """The page's JSON records: the engine's text in runs, each event it could not resolve
    completed here with its dimensions (or left out when ``dropped``)."""
    record = table.column("record").combine_chunks()
    if not resolved:
        return [record]
    tail = table.column("tail").combine_chunks()
    runs: list[Any] = []
    start = 0
    for i in sorted(resolved):
        runs.append(record.slice(start, i - start))
        if i not in dropped:
            runs.append(record[i].as_py() + dimension_items(resolved[i]) + tail[i].as_py())
        start = i + 1
    runs.append(record.slice(start))
    return runs


def _sqlite_rows(table: Any, resolved: Mapping[int, ObjectState], kept: Any) -> Any:
    """The SQLite rows as an Arrow table: type, id, the shape's columns, legal entity and
    customer (the engine's, else resolved here; NULL when unknown)."""
    names = table.column_names
    dimensions = []
    for name, field in (("le", "legal_entity"), ("customer", "customer")):
        values = table.column(name).to_pylist()
        for i, state in resolved.items():
            values[i] = getattr(state, field)
        dimensions.append(pa.array([value or None for value in values], pa.string()))
    # the type first, as the SQLite store groups by it; then the id and the shape's columns
    shaped = ["event_type", "EventId", *names[2 : names.index("open")]]
    rows = pa.table(
        [*(table.column(name) for name in shaped), *dimensions], names=[*shaped, "le", "customer"]
    )
    return rows if kept is None else rows.filter(kept)


def _kept_relations(event_ids: Any, items: Any, kept: Any) -> Any:
    """The E2O relations of the kept events as an Arrow table: event id, object id, object type,
    qualifier, in page order."""
    parents = pc.list_parent_indices(items)
    relations = items.flatten()
    table = pa.table(
        [event_ids.combine_chunks().take(parents), *relations.flatten()],
        names=["event", "object", "type", "qualifier"],
    )
    return table if kept is None else table.filter(kept.take(parents))


def _unique_objects(relations: Any) -> tuple[list[str], list[str]]:
    """The (OCEL id, type) of the objects the relations name, each once, in the order they are
    first named (a project is named by most events of its page: a third of the names are
    repeats, no longer each sent to the scratch file). An OCEL id names its type."""
    oids = relations.column("object").combine_chunks()
    # each name's index among all names is that of its first occurrence
    firsts = pc.equal(
        pc.index_in(oids, value_set=oids), pa.array(np.arange(len(oids), dtype=np.int32))
    )
    named = relations.select(["object", "type"]).filter(firsts)
    return named.column(0).to_pylist(), named.column(1).to_pylist()


Describe = Callable[[list[tuple[str, str]], Mapping[str, State]], dict[str, State]]
"""(OCEL id, type) pairs and the facts of those produced inside the log → what is known of each."""


def describe_objects(
    client_of: Callable[[], Client],
    rules: LineageRules,
    facts: StateFacts,
    known_at: datetime,
) -> Describe:
    """What is known of a batch of objects (``object_facts``)."""

    def describe(objects: list[tuple[str, str]], produced: Mapping[str, State]) -> dict[str, State]:
        refs = {(t, oid[len(t) + 1 :]): oid for oid, t in objects}
        given = {ref: produced[oid] for ref, oid in refs.items() if oid in produced}
        # the batch comes by type then id: the refs are in order already
        states = object_facts(client_of(), rules, facts, list(refs), known_at, given)
        return {oid: states.get(ref, UNKNOWN) for ref, oid in refs.items()}

    return describe
