"""Money through the whole service: amounts with every digit ``Decimal(18, 4)`` holds come back from
the REST API byte for byte as strings, totals of small amounts are exact and per currency, and the
OpenAPI schema says money is a string."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from pydantic import TypeAdapter

from domain import semconv as sc
from domain.money import PATTERN
from lineage.models import BlockedInvoicesOut
from syncsight.app import create_app
from syncsight.config_file import FileConfig
from syncsight.settings import Settings
from tests.service import asgi_client, free_port
from tests.slas.events import Event, at, event, span_rows
from warehouse.client import connect
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.spans import OTEL_TRACES_COLUMNS

T = TypeVar("T")
LARGE = "1234567.8912"
"""Sent as the span attribute's text; as a float it cannot be held exactly."""
PERIOD = "2026-09"
QUESTIONS = {
    "blocked": ("/api/v1/impact/blocked-invoices", {}),
    "blocked_largest": ("/api/v1/impact/blocked-invoices", {"limit": 1}),
    "close_risk": ("/api/v1/close-risk", {"period": PERIOD}),
    "timers": ("/api/v1/slas/time-to-invoice-posting/timers", {}),
    "lineage": ("/api/v1/lineage/invoice/INV-L", {}),
    "events": ("/api/v1/objects/billing_event/BE-L/events", {}),
    "openapi": ("/openapi.json", {}),
}


def failed_invoice(number: str, amount: str, currency: str) -> list[Event]:
    """A billing event of project PRJ-1 whose invoice posting failed: a blocked item due in
    2026-09 with its time-to-invoice-posting timer."""
    objects: dict[str, str | list[str]] = {sc.BILLING_EVENT: f"BE-{number}", sc.PROJECT: "PRJ-1"}
    ready = event(sc.BILLING_READY, f"BE-{number}", objects, at(hours=1))
    posting = event(
        sc.INVOICE_POSTED,
        f"INV-{number}",
        {sc.INVOICE: f"INV-{number}", **objects},
        at(hours=2),
        outcome=sc.FAILED,
        legal_entity="LE-DE01",
    )
    for step in (ready, posting):
        # the attribute's text exactly as a middleware would send it
        step.extra = {sc.AMOUNT: amount, sc.CURRENCY: currency}
    return [ready, posting]


def scenario() -> list[Event]:
    activation = event(
        sc.PROJECT_ACTIVATED, "PRJ-1", {sc.PROJECT: "PRJ-1"}, at(), legal_entity="LE-DE01"
    )
    small = [  # 0.1 + 0.2, and 0.01 ten times: float sums give 0.30000000000000004 and 0.09999…
        *failed_invoice("S1", "0.1", "USD"),
        *failed_invoice("S2", "0.2", "USD"),
        *(e for n in range(10) for e in failed_invoice(f"C{n}", "0.01", "GBP")),
    ]
    return [activation, *failed_invoice("L", LARGE, "EUR"), *small]


async def ask(app: Any, seconds: float = 120) -> dict[str, Any]:
    """Every question's JSON, once the evaluator's state holds all thirteen blocked items."""
    async with asgi_client(app) as http:
        deadline = time.monotonic() + seconds
        while True:
            blocked = await http.get(QUESTIONS["blocked"][0])
            if blocked.status_code == 200 and len(blocked.json()["items"]) == 13:
                break
            assert time.monotonic() < deadline, f"the evaluator never caught up: {blocked.text}"
            await asyncio.sleep(0.1)
        answers = {}
        for name, (path, params) in QUESTIONS.items():
            response = await http.get(path, params=params)
            assert response.status_code == 200, f"{path}: {response.text}"
            answers[name] = response.json()
            if name == "blocked":  # written from the values (lineage.models.blocked_json)
                answers["blocked_sent"] = response
        return answers


def served_scenario(
    chdb_url: str, spool: Path, asking: Callable[[Any, Client], Coroutine[Any, Any, T]]
) -> Iterator[T]:
    """What ``asking`` finds of a service (the app, a client of its database) on a fresh
    database of the scenario; the database dropped afterwards."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    admin = connect(chdb_url)
    admin.command(f"CREATE DATABASE {database}")
    try:
        client = connect(chdb_url, database=database)
        migrate(client, CorrelationRules.default())
        client.insert("otel_traces", span_rows(scenario()), column_names=OTEL_TRACES_COLUMNS)
        settings = Settings(
            clickhouse_url=chdb_url,
            spool_dir=spool,
            sla_interval=0.2,
            state_settle_seconds=0,
            grpc_port=free_port(),  # another service of the tests may hold the default
        )
        yield asyncio.run(asking(create_app(settings, FileConfig(), database=database), client))
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {database}")
        admin.close()


@pytest.fixture(scope="module")
def answers(chdb_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One service on a fresh database of the scenario, asked every question once."""
    yield from served_scenario(chdb_url, tmp_path_factory.mktemp("spool"), lambda app, _: ask(app))


class TestExactAmounts:
    def test_blocked_invoices_carry_the_amount_and_totals_exactly(
        self, answers: dict[str, Any]
    ) -> None:
        """1234567.8912 stays 1234567.8912; 0.1 + 0.2 is 0.30; ten times 0.01 is 0.10."""
        blocked = answers["blocked"]
        (large,) = [i for i in blocked["items"] if i["object"]["id"] == "BE-L"]
        assert large["amount"] == LARGE
        assert blocked["total"] == {"EUR": LARGE, "USD": "0.30", "GBP": "0.10"}

    def test_a_limited_answer_lists_the_largest_and_totals_every_item(
        self, answers: dict[str, Any]
    ) -> None:
        """limit=1 lists the largest item only; its totals and count are the full answer's."""
        every, largest = answers["blocked"], answers["blocked_largest"]
        assert [i["object"]["id"] for i in largest["items"]] == ["BE-L"]
        assert largest["items"] == every["items"][:1]
        assert largest["total"] == every["total"]
        assert largest["count"] == every["count"] == len(every["items"]) > 1

    def test_the_blocked_answer_is_sent_as_its_response_model_writes_it(
        self, answers: dict[str, Any]
    ) -> None:
        """The route's bytes are what BlockedInvoicesOut writes for them, with its JSON type and
        the instants the answer describes in the headers."""
        sent: httpx.Response = answers["blocked_sent"]
        model = BlockedInvoicesOut.model_validate_json(sent.content)
        assert TypeAdapter(BlockedInvoicesOut).dump_json(model) == sent.content
        assert sent.headers["content-type"] == "application/json"
        assert sent.headers["X-Syncsight-As-Of"] == model.as_of.isoformat().replace("+00:00", "Z")
        assert sent.headers["X-Syncsight-Known-At"]

    def test_close_risk_sums_exactly_per_currency(self, answers: dict[str, Any]) -> None:
        """Due and at risk per currency are exact sums; contributors keep every digit."""
        (risk,) = answers["close_risk"]
        assert risk["amount_due"] == {"EUR": LARGE, "GBP": "0.10", "USD": "0.30"}
        assert risk["amount_at_risk"] == {"EUR": LARGE, "GBP": "0.10", "USD": "0.30"}
        assert risk["materiality"] == "250000.00"
        assert risk["contributors"][0]["amount"] == LARGE

    def test_timers_carry_their_amount_exactly(self, answers: dict[str, Any]) -> None:
        """The open timer of the large billing event names 1234567.8912."""
        amounts = {t["key"]["id"]: t["amount"] for t in answers["timers"]}
        assert amounts["BE-L"] == LARGE
        assert amounts["BE-S1"] == "0.10"

    def test_lineage_and_object_events_carry_the_amount_exactly(
        self, answers: dict[str, Any]
    ) -> None:
        """Every node of the invoice's lineage and every stored attempt: the string, no float."""
        assert {n["amount"] for n in answers["lineage"]["nodes"] if n["amount"]} == {LARGE}
        assert {e["amount"] for e in answers["events"]} == {LARGE}

    def test_every_money_string_is_plain_fixed_point(self, answers: dict[str, Any]) -> None:
        """No float, no exponent: each amount of every answer matches the schema's pattern."""
        found = list(money_values(answers["blocked"])) + list(money_values(answers["close_risk"]))
        found += list(money_values(answers["timers"])) + list(money_values(answers["lineage"]))
        assert len(found) > 30
        assert all(isinstance(v, str) and re.fullmatch(PATTERN, v) for v in found), found


def money_values(answer: Any) -> Iterator[Any]:
    """Every value under an ``amount``, ``total``, ``amount_due``, ``amount_at_risk`` or
    ``materiality`` key of ``answer`` (the values of the per-currency maps)."""
    if isinstance(answer, list):
        for part in answer:
            yield from money_values(part)
    elif isinstance(answer, dict):
        for key, value in answer.items():
            if key in ("total", "amount_due", "amount_at_risk") and isinstance(value, dict):
                yield from value.values()
            elif key in ("amount", "materiality") and value is not None:
                yield value
            else:
                yield from money_values(value)


MONEY_FIELDS = [
    ("BlockedItemOut", "amount"),
    ("BlockedInvoicesOut", "total"),
    ("LineageNode", "amount"),
    ("TimerOut", "amount"),
    ("ContributorOut", "amount"),
    ("CloseRiskOut", "amount_due"),
    ("CloseRiskOut", "amount_at_risk"),
    ("CloseRiskOut", "materiality"),
    ("ObjectEvent", "amount"),
]


class TestOpenApi:
    @pytest.mark.parametrize(("model", "field"), MONEY_FIELDS)
    def test_money_fields_are_declared_as_decimal_strings(
        self, answers: dict[str, Any], model: str, field: str
    ) -> None:
        """Type string, format decimal, the fixed-point pattern: a client never reads a number."""
        schemas = answers["openapi"]["components"]["schemas"]
        declared = schemas[model]["properties"][field]
        money = declared.get("additionalProperties", declared)
        options = money.get("anyOf", [money])
        (string,) = [o for o in options if o.get("type") != "null"]
        assert (string["type"], string["format"], string["pattern"]) == (
            "string",
            "decimal",
            PATTERN,
        )
