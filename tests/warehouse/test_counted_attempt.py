"""The counted attempt and the latest attempt in SQL (``warehouse.counted_attempt``) are the
attempts a lineage node shows (``lineage.graph.EventNode.decisive``, ``latest``), ties included:
attempts at the same instant with the same number under other span ids (replays under another
trace) fall the same way in both."""

from __future__ import annotations

import random
from decimal import Decimal

from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.business_event import BusinessEvent
from lineage.graph import group_attempts
from tests.lineage.events import attempt
from warehouse.counted_attempt import ATTEMPT_ORDER, COUNTED_ATTEMPT

TABLE = "counted_attempts"
OUTCOMES = (sc.SUCCESS, sc.FAILED, sc.RETRYING)


def _attempts(rng: random.Random, event: int) -> list[BusinessEvent]:
    """A few attempts of one event on few instants and numbers, so that ties are frequent."""
    return [
        attempt(
            sc.INVOICE_POSTED,
            f"e{event}",
            {sc.INVOICE: f"I{event}"},
            hours=rng.choice((1, 2)),
            number=rng.choice((1, 2)),
            outcome=rng.choice(OUTCOMES),
            amount=f"{i + 1}.00",
        )
        for i in range(rng.randint(1, 6))
    ]


def _stored(client: Client, seed: int) -> list[BusinessEvent]:
    """Attempts of 400 events with frequent ties, stored in ``TABLE`` in shuffled parts."""
    rng = random.Random(seed)
    attempts = [a for event in range(400) for a in _attempts(rng, event)]
    rng.shuffle(attempts)  # the engine meets them in no particular order
    client.command(f"DROP TABLE IF EXISTS {TABLE}")
    client.command(
        f"CREATE TABLE {TABLE} (EventId String, Outcome String, EventTime DateTime64(9, 'UTC'),"
        " Attempt UInt32, SpanId String, Amount Decimal(18, 4)) ENGINE = MergeTree ORDER BY tuple()"
    )
    # one part per attempt: the engine's threads split them, as they split a large table's parts
    for chunk in range(0, len(attempts), 50):
        client.insert(
            TABLE,
            [
                [a.event_id, a.outcome, a.timestamp, a.attempt, a.span_id, a.amount]
                for a in attempts[chunk : chunk + 50]
            ],
            column_names=["EventId", "Outcome", "EventTime", "Attempt", "SpanId", "Amount"],
        )
    return attempts


def test_the_counted_attempt_is_the_one_the_lineage_node_shows(client: Client) -> None:
    attempts = _stored(client, 11)
    counted = dict(
        client.query(
            f"SELECT EventId, argMax((SpanId, Amount), {COUNTED_ATTEMPT}) FROM {TABLE}"
            " GROUP BY EventId SETTINGS max_threads = 4"
        ).result_rows
    )
    nodes = group_attempts(attempts)
    expected = {
        event_id: (node.decisive.span_id, node.decisive.amount) for event_id, node in nodes.items()
    }
    assert {k: (v[0], Decimal(v[1])) for k, v in counted.items()} == expected
    # ties happened: events with two attempts at the same instant, number and outcome
    tied = sum(
        1
        for node in nodes.values()
        if len({(a.timestamp, a.attempt, a.outcome) for a in node.attempts}) < len(node.attempts)
    )
    assert tied > 50


def test_the_latest_attempt_in_sql_is_the_lineage_node_s_latest(client: Client) -> None:
    """``argMax`` by ``ATTEMPT_ORDER`` picks the attempt a node's ``attempt_order`` puts last,
    outcome included, whatever order the engine meets tied attempts in."""
    attempts = _stored(client, 12)
    latest = {
        event_id: (span_id, outcome)
        for event_id, (span_id, outcome) in client.query(
            f"SELECT EventId, argMax((SpanId, Outcome), {ATTEMPT_ORDER}) FROM {TABLE}"
            " GROUP BY EventId SETTINGS max_threads = 4"
        ).result_rows
    }
    nodes = group_attempts(attempts)
    assert latest == {
        event_id: (node.latest.span_id, node.outcome) for event_id, node in nodes.items()
    }
    # ties that change the answer happened: a success and a failure at the same instant
    assert (
        sum(
            1
            for node in nodes.values()
            if len({a.outcome for a in node.attempts if a.timestamp == node.latest.timestamp}) > 1
        )
        > 50
    )
