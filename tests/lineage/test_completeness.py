"""Lineage completeness: the REST answer as known at a knowledge time (the same for a past
known_at whatever is stored later), one legal entity's answer traced without the others', and the
one-pass reachability of stuck sources against one assembled lineage per root."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.business_event import BusinessEvent
from lineage.assembly import Adjacency, assemble, nearest_legal_entity, upstream_legal_entity
from lineage.completeness import completeness
from lineage.evidence import instant_text
from lineage.graph import DOWNSTREAM, UPSTREAM
from lineage.reach import complete_at_every_cutoff, reaching_a_posting
from lineage.rules import LineageRules
from tests.lineage.apps import lineage_app
from tests.lineage.events import at, attempt, chain, graph_of, span
from tests.service import serving_in_thread
from warehouse.pool import ClientPool
from warehouse.spans import OTEL_TRACES_COLUMNS

RULES = LineageRules.default()
COMPLETENESS = "/api/v1/lineage/completeness"
AS_OF = at(30) + timedelta(days=20)


def load(client: Client, events: list[BusinessEvent]) -> None:
    client.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.01)  # the next rows are stored at a later millisecond of knowledge time


def orphan_invoice(invoice: str, entity: str) -> BusinessEvent:
    """An invoice whose billing event no billing.ready carries: posted without a source."""
    return attempt(
        sc.INVOICE_POSTED,
        f"invoice.posted:{invoice}",
        {sc.INVOICE: invoice, sc.BILLING_EVENT: f"BE-{invoice}", sc.LEGAL_ENTITY: entity},
        hours=80,
        amount="5000",
    )


def unbilled_time(entry: str, project: str) -> BusinessEvent:
    """An approval no invoice posted: stuck once old, of its project's legal entity (it carries
    none itself)."""
    return attempt(
        sc.TIME_APPROVED,
        f"time.approved:{entry}",
        {sc.TIME_ENTRY: entry, sc.PROJECT: project},
        hours=30,
        amount="800",
    )


def numbered_chain(number: int, entity: str) -> list[BusinessEvent]:
    """A clean chain whose objects all end in ``-number``, in ``entity``."""
    objects = {"contract": "CTR", "project": "PRJ", "billing_event": "BE", "invoice": "INV"}
    named = {name: f"{prefix}-{number}" for name, prefix in objects.items()}
    return chain(**named, entries=(f"TE-{number}",), entity=entity, customer=f"CUS-{number}")


def two_entities() -> list[BusinessEvent]:
    """A clean chain, an orphan invoice and a stuck approval in each of two legal entities."""
    return [
        *numbered_chain(1, "LE-DE01"),
        *numbered_chain(2, "LE-UK01"),
        orphan_invoice("INV-8", "LE-DE01"),
        orphan_invoice("INV-9", "LE-UK01"),
        unbilled_time("TE-7", "PRJ-1"),
        unbilled_time("TE-9", "PRJ-2"),
    ]


@pytest.fixture
def api(migrated: Client, engine_url: str, database: str) -> Iterator[httpx.Client]:
    pool = ClientPool(engine_url, database=database)
    try:
        with serving_in_thread(lineage_app(pool, RULES, max_nodes=10_000)) as http:
            yield http
    finally:
        pool.close()


def answer(api: httpx.Client, **params: str) -> httpx.Response:
    response = api.get(COMPLETENESS, params={"period": "2026-09", **params})
    assert response.status_code == 200, response.text
    return response


class TestKnownAt:
    def test_a_past_known_at_gives_the_same_answer_after_more_facts(
        self, api: httpx.Client, migrated: Client
    ) -> None:
        """Taken at known_at T, the answer is the same after an orphan invoice and a stuck
        approval are stored; at now it counts them."""
        load(migrated, chain())
        known_at = instant_text(datetime.now(UTC))
        time.sleep(0.01)
        first = answer(api, as_of=AS_OF.isoformat(), known_at=known_at)
        load(migrated, [orphan_invoice("INV-9", "LE-DE01"), unbilled_time("TE-7", "PRJ-1")])
        again = answer(api, as_of=AS_OF.isoformat(), known_at=known_at)
        latest = answer(api, as_of=AS_OF.isoformat())
        assert again.content == first.content
        assert first.json()["invoices"] == {"posted": 1, "complete": 1, "share": 1.0}
        assert latest.json()["invoices"] == {"posted": 2, "complete": 1, "share": 0.5}
        (entity,) = latest.json()["by_legal_entity"]
        assert [s["event_id"] for s in entity["stuck_sources"]] == ["time.approved:TE-7"]

    def test_the_answer_names_the_known_at_it_describes(self, api: httpx.Client) -> None:
        """The X-Syncsight-Known-At header echoes the known_at asked, to the millisecond."""
        response = answer(api, known_at="2026-10-01T12:00:00.123456+02:00")
        assert response.headers["X-Syncsight-Known-At"] == "2026-10-01T10:00:00.123000Z"

    def test_a_known_at_before_anything_was_stored_is_refused(self, api: httpx.Client) -> None:
        """As for every other known_at: 422 naming the value."""
        response = api.get(COMPLETENESS, params={"period": "2026-09", "known_at": "1960-01-01"})
        assert response.status_code == 422
        assert "known_at=1960-01-01" in response.json()["detail"]

    def test_in_process_rows_stored_later_do_not_count(self, migrated: Client) -> None:
        """``completeness(known_at=…)`` leaves out the postings and sources stored after it."""
        load(migrated, chain())
        known_at = datetime.now(UTC)
        time.sleep(0.01)
        load(migrated, [orphan_invoice("INV-9", "LE-DE01"), unbilled_time("TE-7", "PRJ-1")])
        then = completeness(migrated, RULES, period="2026-09", as_of=AS_OF, known_at=known_at)
        (entity,) = then.entities
        assert (entity.orphans, entity.stuck_sources) == ([], [])


class TestLegalEntity:
    def test_one_entity_is_its_part_of_the_whole_answer(self, migrated: Client) -> None:
        """Asked for LE-UK01, the answer is LE-UK01's entry of the answer for every entity, its
        stuck approval (which carries no legal entity) included."""
        load(migrated, two_entities())
        whole = completeness(migrated, RULES, period="2026-09", as_of=AS_OF)
        one = completeness(migrated, RULES, period="2026-09", as_of=AS_OF, legal_entity="LE-UK01")
        assert [e.legal_entity for e in whole.entities] == ["LE-DE01", "LE-UK01"]
        assert one.entities == (whole.entities[1],)
        (british,) = one.entities
        assert [o.event_id for o in british.orphans] == ["invoice.posted:INV-9"]
        assert [s.event_id for s in british.stuck_sources] == ["time.approved:TE-9"]


def reaches_a_posting_when_assembled(events: list[BusinessEvent]) -> dict[str, bool]:
    graph = graph_of(events)
    return {
        event_id: any(
            node.event_type in RULES.posting_event_types and node.succeeded
            for node in assemble([event_id], DOWNSTREAM, graph, RULES).nodes
        )
        for event_id in graph.nodes
    }


def amended(hours: float) -> BusinessEvent:
    return attempt(
        sc.CONTRACT_AMENDED,
        "contract.amended:CTR-1",
        {sc.CONTRACT: "CTR-1", sc.OBLIGATION: "POB-CTR-1"},
        hours=hours,
        period="",
    )


class TestReach:
    @pytest.mark.parametrize(
        "events",
        [
            pytest.param(chain(), id="clean chain"),
            pytest.param([*chain(), amended(1)], id="amended before activation: feeds it"),
            pytest.param([*chain(), amended(5)], id="amended after activation: feeds nothing"),
            pytest.param(
                [e for e in chain() if e.event_type != sc.INVOICE_POSTED], id="never posted"
            ),
            pytest.param(
                [*chain(), attempt(sc.TIME_APPROVED, "time.approved:TE-7", {}, hours=30)],
                id="an approval without objects",
            ),
        ],
    )
    def test_the_roots_that_reach_a_posting_are_those_whose_lineage_holds_one(
        self, events: list[Any]
    ) -> None:
        """For every event as root, one pass over the graph says what assembling its downstream
        lineage says, ``as_of_root`` cut-offs included."""
        expected = reaches_a_posting_when_assembled(events)
        graph = graph_of(events)
        reached = reaching_a_posting(graph, graph.nodes, RULES)
        assert {e for e, reaches in expected.items() if reaches} == reached


def failed_contract() -> list[BusinessEvent]:
    """A chain whose contract signature stands failed (a later attempt failed): its invoice's
    lineage ends at a failed source."""
    events = chain()
    (signed,) = (e for e in events if e.event_type == sc.CONTRACT_SIGNED)
    retry = attempt(
        sc.CONTRACT_SIGNED,
        signed.event_id,
        signed.objects,
        hours=1,
        outcome=sc.FAILED,
        number=2,
        period="",
        error_category="validation",
    )
    return [*events, retry]


class TestSurelyComplete:
    @pytest.mark.parametrize(
        ("events", "clean_invoice_found"),
        [
            pytest.param(chain(), True, id="clean chain"),
            pytest.param([*chain(), amended(1)], True, id="amended before activation"),
            pytest.param([*chain(), amended(5)], True, id="amended after activation"),
            pytest.param(
                [*chain(), orphan_invoice("INV-9", "LE-DE01")], True, id="another's missing link"
            ),
            pytest.param(failed_contract(), False, id="failed source"),
        ],
    )
    def test_a_root_found_surely_complete_is_complete_when_assembled(
        self, events: list[BusinessEvent], clean_invoice_found: bool
    ) -> None:
        """Every root the one pass calls complete is complete when its lineage is assembled; the
        invoice of a clean chain is among them, one fed by a failed contract is not."""
        graph = graph_of(events)
        surely = complete_at_every_cutoff(graph, graph.nodes, RULES)
        for event_id in surely:
            assert assemble([event_id], UPSTREAM, graph, RULES).complete, event_id
        assert ("invoice.posted:INV-1" in surely) == clean_invoice_found
        assert "invoice.posted:INV-9" not in surely


class TestUpstreamLegalEntity:
    @pytest.mark.parametrize(
        "events",
        [
            pytest.param(chain(), id="clean chain"),
            pytest.param([*chain(), amended(5)], id="amended after activation"),
            pytest.param(two_entities(), id="two entities, orphans and stuck approvals"),
        ],
    )
    def test_it_is_the_legal_entity_of_the_assembled_upstream_lineage(
        self, events: list[BusinessEvent]
    ) -> None:
        """For every event as root, the walk over the graph names the legal entity that
        ``nearest_legal_entity`` finds in its assembled upstream lineage."""
        graph = graph_of(events)
        adjacency = Adjacency.of(graph)
        for event_id in graph.nodes:
            lineage = assemble([event_id], UPSTREAM, graph, RULES, adjacency)
            walked = upstream_legal_entity(event_id, graph, adjacency)
            assert walked == nearest_legal_entity(lineage), event_id
