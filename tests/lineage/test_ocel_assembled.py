"""The period log's events and object producers, assembled and written as OCEL records by the
engine (``lineage.ocel_queries``), say what the lineage's own Python reading says of the same
stored facts, byte for byte as the export's encoder writes it: retries, a replay under another
trace, a later conflicting version, a success followed by a failure, a whole amount, an instant
with microseconds and ids with a slash and letters beyond ASCII included."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.business_event import BusinessEvent
from domain.objects import ObjectRef
from lineage.graph import Lookup
from lineage.ocel import (
    EVENT_ATTRIBUTES,
    SUBJECT,
    Qualify,
    event_relations,
    ocel_event,
    relations_of,
)
from lineage.ocel_log import (
    JSON_TEXT_SETTINGS,
    LogPage,
    LogRequest,
    ObjectState,
    Pair,
    _flat,
    _Vocabulary,
    first_produced,
    log_pages,
    producer_facts,
)
from lineage.ocel_queries import PAGE_SHAPES, page_events
from lineage.queries import events_by_id, hop_events
from lineage.rules import LineageRules
from slas.ocel_states import BusinessStateFacts
from tests.lineage.events import Objects, attempt, chain, span
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.spans import OTEL_TRACES_COLUMNS

RULES = LineageRules.default()
DIMENSIONS = ("legal_entity", "customer")
"""Attributes the log resolves beyond what the node shows."""


def producer_states(
    client: Client, rules: LineageRules, refs: Sequence[Pair], known_at: datetime
) -> dict[Pair, ObjectState]:
    """``producer_facts`` as ``ObjectState``s, to read them by name."""
    return {
        ref: ObjectState(*state)
        for ref, state in producer_facts(client, rules, refs, known_at).items()
    }


def insert(client: Client, events: list[BusinessEvent]) -> None:
    client.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.01)  # later rows are stored at a later millisecond of knowledge time


@pytest.fixture
def store(migrated: Client) -> Client:
    events = chain(entries=("TE-1", "TE-2"))
    invoice_objects: Objects = dict(events[-1].objects)
    billing = events[-2]
    retried = [
        attempt(sc.INVOICE_POSTED, "invoice.posted:INV-1", invoice_objects, hours=70,
                outcome=sc.FAILED, error_category=sc.MASTER_DATA, amount="5"),
        attempt(sc.INVOICE_POSTED, "invoice.posted:INV-1", invoice_objects, hours=71,
                number=2, amount="7"),
    ]  # fmt: skip
    replayed = replace(events[0], trace_id="f" * 32, span_id="e" * 16)
    relapsed = replace(
        billing,
        timestamp=billing.timestamp + timedelta(hours=1),
        outcome=sc.FAILED,
        attempt=2,
        error_category=sc.MASTER_DATA,
        span_id="d" * 16,
    )
    odd = attempt(
        sc.TIME_APPROVED,
        "time.approved:TE-Zürich/3",
        {sc.TIME_ENTRY: "TE-Zürich/3", sc.PROJECT: "PRJ-1"},
        hours=5.000123,
        amount="1500",
    )
    insert(migrated, [*events[:-1], *retried, relapsed, odd])
    insert(migrated, [replayed, replace(events[1], amount=Decimal("9999"))])
    return migrated


def pages(client: Client, shape: str, legal_entity: str | None = None) -> list[LogPage]:
    request = LogRequest("2026-09", legal_entity, datetime.now(UTC))
    facts = BusinessStateFacts()
    return list(log_pages(lambda: client, RULES, request, facts, shape=shape, page_size=3))


def encoded(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def assert_written_as_nodes(texts: list[str], nodes: dict[str, Any]) -> None:
    """Each record text is the text ``ocel_event`` of its node encodes to, its legal entity and
    customer after the node's own attributes."""
    for text in texts:
        record = json.loads(text)
        node = nodes[record["id"]]
        relationships, _ = event_relations(node, RULES)
        python = ocel_event(node, relationships)
        python["attributes"] += [a for a in record["attributes"] if a["name"] in DIMENSIONS]
        assert text == encoded(python)


def test_every_event_is_written_as_its_lineage_node_s_record(store: Client) -> None:
    """Each record the engine writes is the text ``ocel_event`` of its node encodes to, its
    legal entity and customer after the node's own attributes."""
    texts = [text for page in pages(store, "json") for text in page.records]
    records = [json.loads(text) for text in texts]
    nodes = events_by_id(store, [r["id"] for r in records], known_at=datetime.now(UTC))
    assert len(records) == len(nodes) >= 7
    assert any(len(n.attempts) > 1 and n.replays for n in nodes.values())
    assert any(n.conflicts for n in nodes.values())
    assert any(n.success is not None and not n.succeeded for n in nodes.values())
    assert any(n.amount == n.amount.to_integral() for n in nodes.values() if n.amount)
    assert any(n.timestamp.microsecond for n in nodes.values())
    assert_written_as_nodes(texts, nodes)
    entities = {
        r["id"]: {a["name"]: a["value"] for a in r["attributes"]}.get("legal_entity")
        for r in records
    }
    assert entities["time.approved:TE-Zürich/3"] == "LE-DE01", "not resolved through its project"


def retried_later(entry: str, *, hours: float, days: int) -> tuple[BusinessEvent, BusinessEvent]:
    """A time entry's approval naming no period: a failed first attempt ``hours`` after T0 and
    its successful retry ``days`` later (in another month)."""
    failed = attempt(
        sc.TIME_APPROVED,
        f"time.approved:{entry}",
        {sc.TIME_ENTRY: entry, sc.PROJECT: "PRJ-1"},
        hours=hours,
        period="",
        outcome=sc.FAILED,
        error_category=sc.MASTER_DATA,
    )
    retry = replace(
        failed,
        timestamp=failed.timestamp + timedelta(days=days),
        outcome=sc.SUCCESS,
        error_category="",
        error_code="",
        attempt=2,
        span_id="c" + failed.span_id[1:],
    )
    return failed, retry


def test_a_page_reads_each_event_once_whether_it_has_one_stored_row_or_more(
    store: Client,
) -> None:
    """One page holding events of one stored row (read as that row) beside events of more rows
    (assembled from their attempts): retries, a replay, a conflicting version, an exact re-send
    and attempts in two months. Each event is written once, as its node's record, and only
    when its first attempt (no period named) is of the period: a multi-row event taken for a
    single-row one would be written once per row, or by a retry of the period."""
    late, late_retry = retried_later("TE-LATE", hours=-24 * 5, days=6)  # of August
    early, early_retry = retried_later("TE-EARLY", hours=3, days=31)  # of September
    resent = attempt(
        sc.TIME_APPROVED, "time.approved:TE-RESENT", {sc.TIME_ENTRY: "TE-RESENT"}, hours=4
    )
    insert(store, [late, early, resent])
    insert(store, [late_retry, early_retry, resent])
    request = LogRequest("2026-09", None, datetime.now(UTC))
    [page] = log_pages(lambda: store, RULES, request, BusinessStateFacts(), page_size=10_000)
    texts = page.records
    records = [json.loads(text) for text in texts]
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "an event written more than once"
    assert "time.approved:TE-EARLY" in ids
    assert "time.approved:TE-LATE" not in ids, "an event of August taken by its retry"
    rows = dict(store.query("SELECT EventId, count() FROM biz_events GROUP BY EventId").result_rows)
    assert sorted(rows[i] for i in ids)[0] == 1, "no event of one stored row"
    nodes = events_by_id(store, ids, known_at=request.known_at)
    assert sum(rows[i] > 1 for i in ids) >= 5
    assert any(len(nodes[i].attempts) > 1 for i in ids)
    assert any(nodes[i].replays for i in ids)
    assert any(nodes[i].conflicts for i in ids)
    assert_written_as_nodes(texts, nodes)


def test_the_sqlite_rows_hold_the_json_records_values(store: Client) -> None:
    """Both shapes of a page say the same of each event: type, id, time and every attribute
    (None where the record leaves one out), and the same E2O relations."""
    records = [json.loads(text) for page in pages(store, "json") for text in page.records]
    sqlite = pages(store, "sqlite")
    rows = [row for page in sqlite for row in page.rows]
    names = [name for name, _ in EVENT_ATTRIBUTES] + list(DIMENSIONS)
    assert rows == [
        (
            r["type"],
            r["id"],
            r["time"],
            *({a["name"]: a["value"] for a in r["attributes"]}.get(n) for n in names),
        )
        for r in records
    ]
    relations = [relation for page in sqlite for relation in zip(*page.relations, strict=True)]
    assert relations == [
        (r["id"], o["objectId"], o["qualifier"]) for r in records for o in r["relationships"]
    ]


def qualified(qualifiers: dict[str, str]) -> Qualify:
    """The qualifier a record gives each object type (``lineage.ocel.Qualify``)."""
    return lambda _, object_type: qualifiers[object_type]


@pytest.mark.parametrize("legal_entity", [None, "LE-DE01"])
def test_each_page_gathers_the_objects_links_and_products_of_its_records(
    store: Client, legal_entity: str | None
) -> None:
    """Every page, read in small pieces, names the objects of its events' relationships, the O2O
    links those relationships imply (``relations_of``) and, for each object one event type alone
    produces, the facts of the event that produced it: each event's relations stay with it when
    the page's arrays are flattened."""
    sole = {t for t, types in RULES.producers.items() if len(types) == 1}
    us_project: Objects = {sc.PROJECT: "PRJ-9", sc.LEGAL_ENTITY: "LE-US01", sc.CUSTOMER: "CUS-9"}
    insert(
        store,
        [
            attempt(sc.PROJECT_ACTIVATED, "project.activated:PRJ-9", us_project, hours=2),
            attempt(
                sc.TIME_APPROVED,
                "time.approved:TE-9",
                {sc.TIME_ENTRY: "TE-9", sc.PROJECT: "PRJ-9"},
                hours=6,
                amount="100",
            ),
        ],
    )  # an event whose legal entity only its project names: left out of LE-DE01's log
    read = pages(store, "json", legal_entity)
    for page in read:
        records = [json.loads(text) for text in page.records]
        qualifiers = [
            {o["objectId"].split(":", 1)[0]: o["qualifier"] for o in r["relationships"]}
            for r in records
        ]
        # each object once, in the order the page first names it (the SQLite file's row order)
        assert page.objects == list(
            dict.fromkeys(
                (o["objectId"], o["objectId"].split(":", 1)[0])
                for r in records
                for o in r["relationships"]
            )
        )
        links = []
        for record, qualifier in zip(records, qualifiers, strict=True):
            objects: dict[str, list[str]] = {}
            for o in record["relationships"]:
                object_type, object_id = o["objectId"].split(":", 1)
                objects.setdefault(object_type, []).append(object_id)
            links += relations_of(record["type"], objects, qualified(qualifier))[1]
        assert page.links == links
        attributes = {r["id"]: {a["name"]: a["value"] for a in r["attributes"]} for r in records}
        makers = {
            o["objectId"]: r["id"]
            for r in reversed(records)
            for o in r["relationships"]
            if o["qualifier"] == SUBJECT
            and o["objectId"].split(":", 1)[0] in sole
            and r["type"] in RULES.producers[o["objectId"].split(":", 1)[0]]
        }
        assert {made[0] for made in page.produced} == set(makers)
        for oid, _, _, currency, _, _, outcome in page.produced:
            facts = attributes[makers[oid]]
            assert (outcome, currency) == (facts["outcome"], facts.get("currency", ""))
    assert any(page.produced for page in read)
    assert any(page.links for page in read)
    if legal_entity:
        assert any(page.read > page.events for page in read), "no event left out: untested"


def test_a_legal_entity_s_log_keeps_the_events_resolved_to_it(store: Client) -> None:
    """Events that carry no legal entity are kept when their objects resolve them to it."""
    whole = [json.loads(t) for page in pages(store, "json") for t in page.records]
    kept = [json.loads(t) for page in pages(store, "json", "LE-DE01") for t in page.records]
    assert kept == [
        r for r in whole if {"name": "legal_entity", "value": "LE-DE01"} in r["attributes"]
    ]
    assert any(r["id"] == "time.approved:TE-Zürich/3" for r in kept)


def test_each_object_takes_the_facts_of_its_first_producer(store: Client) -> None:
    known_at = datetime.now(UTC)
    nodes = events_by_id(
        store,
        [e for (e,) in store.query("SELECT DISTINCT EventId FROM biz_events").result_rows],
        known_at=known_at,
    )
    refs = sorted(
        {ObjectRef(t, i) for n in nodes.values() for t, ids in n.objects.items() for i in ids}
    )
    producers = {**RULES.prerequisites, **RULES.producers}
    read = hop_events(
        store,
        Lookup(frozenset((r, e) for r in refs for e in producers.get(r.type, ()))),
        (),
        known_at=known_at,
    )
    python = first_produced(read.values(), RULES, set(refs).__contains__)
    engine = producer_states(store, RULES, [(r.type, r.id) for r in refs], known_at)
    produced = {(r.type, r.id): s for r, (_, s) in python.items() if r.type not in DIMENSIONS}
    assert produced, "no object has a producer: the test reads nothing"
    assert {r: s for r, s in engine.items() if r[0] not in DIMENSIONS} == produced


ODD_TEXTS = (
    'TE-"quoted" back\\slash $refs$ $',
    "TE-\x00\x01\x0b\x1f\x7f controls",
    "TE-\n\r\t\b\f short escapes",
    "TE-Zürich/3 € 😀",
    "TE-\u2028\u2029 separators",
)
"""Ids and values the engine must spell as the encoder does: quotes, backslashes, a dollar (and
the marker of a bound id list), control characters (those with a short escape and those
without), DEL, letters beyond ASCII and beyond the BMP, a slash, U+2028 and U+2029."""


def test_ids_and_values_with_escapes_are_written_as_the_encoder_writes_them(
    client: Client,
) -> None:
    """Each record the engine writes for an id or attribute value that needs escaping is the
    text ``json`` writes for the lineage node's record, byte for byte (a page holding one is read
    again with every string spelt as the encoder does: the engine's own spelling differs)."""
    migrate(client, CorrelationRules.default())
    insert(
        client,
        [
            replace(
                attempt(sc.TIME_APPROVED, f"time.approved:{odd}",
                        {sc.TIME_ENTRY: odd, sc.LEGAL_ENTITY: f"LE-{odd}"}, hours=1 + n,
                        amount="10"),
                source_system=odd,
                currency=odd[:3],
            )
            for n, odd in enumerate(ODD_TEXTS)
        ],
    )  # fmt: skip
    texts = [t for page in pages(client, "json") for t in page.records]
    nodes = events_by_id(client, [f"time.approved:{odd}" for odd in ODD_TEXTS])
    assert len(texts) == len(nodes) == len(ODD_TEXTS)
    for text in texts:
        node = nodes[json.loads(text)["id"]]
        relationships, _ = event_relations(node, RULES)
        python = ocel_event(node, relationships)
        python["attributes"].append({"name": "legal_entity", "value": node.legal_entity})
        assert text == encoded(python)
    joined = b",".join(page.json_text() for page in pages(client, "json"))
    assert joined == ",".join(texts).encode()


@pytest.mark.parametrize("shape", PAGE_SHAPES)
def test_arrow_gives_each_row_the_arrays_the_client_reads(store: Client, shape: str) -> None:
    """The page query's rows as ``lineage.ocel_log`` takes them through Arrow (flat values and
    each row's offsets) are the rows the client's own reading gives, column for column."""
    request = LogRequest("2026-09", None, datetime.now(UTC))
    vocabulary = _Vocabulary.read(store, RULES, request.known_at)
    query = page_events(shape, BusinessStateFacts().event_dimensions_sql)
    parameters = {
        **request.parameters(),
        **vocabulary.qualifiers,
        "sole": vocabulary.sole,
        "after": "",
        "last": "\U0010ffff",
    }
    read = store.query(query, parameters=parameters, settings=JSON_TEXT_SETTINGS)
    table = store.query_arrow(query, parameters=parameters, settings=JSON_TEXT_SETTINGS)
    assert table.num_rows == len(read.result_rows) >= 7
    for name, column in zip(read.column_names, read.result_columns, strict=True):
        if name in ("e2o", "links", "produced"):
            offsets, fields = _flat(table.column(name))
            rows = list(zip(*fields, strict=True))
            assert [rows[a:b] for a, b in itertools.pairwise(offsets)] == [
                list(value) for value in column
            ], name
        else:
            assert table.column(name).to_pylist() == list(column), name
    assert any(len(value) > 1 for value in read.result_columns[read.column_names.index("e2o")])


def test_ids_that_could_close_the_bound_id_list_are_described_by_their_producer(
    client: Client,
) -> None:
    """Id lists reach the engine as raw JSON text inside a ``$refs$`` literal: an id holding
    that marker, a quote, a backslash or a dollar is still read back as itself."""
    migrate(client, CorrelationRules.default())
    odd = ["TE-$refs$", "TE-'\\$", "TE-$invoices$ OR 1"]
    insert(
        client,
        [
            attempt(
                sc.TIME_APPROVED,
                f"time.approved:{i}",
                {sc.TIME_ENTRY: i},
                hours=1 + n,
                amount=str(10 + n),
            )
            for n, i in enumerate(odd)
        ],
    )
    refs = [(sc.TIME_ENTRY, i) for i in odd]
    described = producer_states(client, RULES, refs, datetime.now(UTC))
    assert {ref: state.amount for ref, state in described.items()} == {
        ref: Decimal(10 + n) for n, ref in enumerate(refs)
    }
    # the business state's reads bind the same lists (nothing is derived here: no answer)
    assert (
        BusinessStateFacts().object_states(client, [*refs, (sc.INVOICE, odd[0])], datetime.now(UTC))
        == {}
    )


def test_a_consumer_that_stops_early_leaves_no_page_being_read(store: Client) -> None:
    """The page read ahead for a consumer that stops after the first is finished (or never
    started) when the pages are closed: nothing reads behind a dropped download."""
    reading: list[int] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            method = getattr(store, name)
            if name not in ("query", "query_arrow"):
                return method

            def counted(*args: Any, **kwargs: Any) -> Any:
                reading.append(1)
                try:
                    time.sleep(0.2)
                    return method(*args, **kwargs)
                finally:
                    reading.pop()

            return counted

    request = LogRequest("2026-09", None, datetime.now(UTC))
    read = log_pages(lambda: Counting(), RULES, request, BusinessStateFacts(), page_size=2)  # type: ignore[arg-type,return-value]
    assert next(read).events
    time.sleep(0.1)  # the next page's read has begun
    read.close()
    assert reading == []
