"""``GET /api/v1/impact/blocked-invoices`` a page at a time: the pages of an answer, followed by
their cursor while new failures are stored and evaluated, are exactly its items (same order, none
twice, none missing), and what is not a page of it is refused by name."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from domain.objects import ObjectRef
from domain.tokens import token_text
from lineage.impact import BlockedCursor, BlockedInvoices, blocked_order
from slas.impact_answers import BlockedInvoiceAnswers
from tests.lineage.test_scenarios import OWNERS, RULES, business_state
from tests.service import asgi_client
from tests.slas.events import span_rows
from tests.syncsight.test_money import failed_invoice, scenario, served_scenario
from warehouse.spans import OTEL_TRACES_COLUMNS

INSTANT = "2026-10-02T09:30:15.250000+00:00"
PATH = "/api/v1/impact/blocked-invoices"
EVERY = {"limit": 100_000}
LATER = [("N1", "5000", "EUR"), ("N2", "0.01", "GBP"), ("N3", "0.15", "USD")]
"""Failures stored while the pages are read: one larger than every item, one tied with ten."""


async def _until(http: httpx.AsyncClient, count: int, seconds: float = 120) -> httpx.Response:
    """The every-item answer at the state's watermark once it counts ``count`` items."""
    deadline = time.monotonic() + seconds
    while True:
        answer = await http.get(PATH, params=EVERY)
        if answer.status_code == 200 and answer.json()["count"] == count:
            return answer
        assert time.monotonic() < deadline, f"the evaluator never caught up: {answer.text}"
        await asyncio.sleep(0.1)


async def _walk(app: Any, client: Client) -> dict[str, Any]:
    """One every-item answer, then its pages of two followed by their ``Link`` while a new
    failure is stored (and evaluated) before each of the first pages; the requests a page
    refuses; the every-item answer at the same instants again, and the one after the failures."""
    async with asgi_client(app) as http:
        whole = await _until(http, 13)
        instants = {
            "as_of": whole.headers["X-Syncsight-As-Of"],
            "known_at": whole.headers["X-Syncsight-Known-At"],
        }
        pages = [await http.get(PATH, params={**instants, "limit": 2})]
        later = list(LATER)
        while (link := pages[-1].headers.get("Link")) is not None:
            if later:
                number, amount, currency = later.pop()
                rows = span_rows(failed_invoice(number, amount, currency))
                client.insert("otel_traces", rows, column_names=OTEL_TRACES_COLUMNS)
                await _until(http, 13 + len(LATER) - len(later))
            url = link.removeprefix("<").split(">;")[0]
            pages.append(await http.get(url))
        cursor = pages[0].json()["next_cursor"]
        refused = {
            name: await http.get(PATH, params=params)
            for name, params in {
                "garbage": {"cursor": "not-a-cursor"},
                "cut": {"cursor": cursor[:-4]},
                "other_period": {"cursor": cursor, "period": "2026-09"},
                "other_entity": {"cursor": cursor, "legal_entity": "LE-DE01"},
                "other_as_of": {"cursor": cursor, "as_of": "2026-10-01T00:00:00Z"},
                "no_limit": {"limit": 0},
                "beyond_limit": {"limit": 100_001},
            }.items()
        }
        same_cursor = await http.get(
            PATH, params={"cursor": cursor, **instants, "limit": 2}
        )  # the cursor's own instants may be given again
        again = await http.get(PATH, params={**instants, **EVERY})
        default = await http.get(PATH)
        return {
            "whole": whole,
            "pages": pages,
            "refused": refused,
            "same_cursor": same_cursor,
            "again": again,
            "now": await http.get(PATH, params=EVERY),
            "default": default,
        }


@pytest.fixture(scope="module")
def walked(chdb_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One service on a fresh database of the money scenario's thirteen blocked items (ten of
    them tied at 0.01 GBP), paged through."""
    yield from served_scenario(chdb_url, tmp_path_factory.mktemp("spool"), _walk)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["object"]["id"] for item in items]


class TestPagingThrough:
    def test_the_pages_hold_the_answers_items_in_its_order_while_failures_arrive(
        self, walked: dict[str, Any]
    ) -> None:
        """Seven pages of two: the thirteen items of the every-item answer in its order, once
        each; not one of the three failures stored and evaluated meanwhile."""
        whole = walked["whole"].json()
        pages = [page.json() for page in walked["pages"]]
        assert [len(page["items"]) for page in pages] == [2, 2, 2, 2, 2, 2, 1]
        assert [item for page in pages for item in page["items"]] == whole["items"]
        assert all((p["total"], p["count"]) == (whole["total"], whole["count"]) for p in pages)
        assert walked["now"].json()["count"] == 16  # the failures stored meanwhile count now

    def test_every_page_describes_the_answers_instants(self, walked: dict[str, Any]) -> None:
        """The as_of and known_at headers of each page are the first answer's."""
        stamps = {
            (page.headers["X-Syncsight-As-Of"], page.headers["X-Syncsight-Known-At"])
            for page in [walked["whole"], *walked["pages"]]
        }
        assert len(stamps) == 1
        assert walked["again"].content == walked["whole"].content

    def test_ties_are_ordered_by_the_items_identity(self, walked: dict[str, Any]) -> None:
        """The largest first, then by id: the ten items of 0.01 GBP in id order."""
        items = walked["whole"].json()["items"]
        assert ids(items) == ["BE-L", "BE-S2", "BE-S1", *(f"BE-C{n}" for n in range(10))]

    def test_the_link_and_next_cursor_name_the_same_next_page(self, walked: dict[str, Any]) -> None:
        """``Link: <…>; rel="next"`` carries the page's ``next_cursor``; the last page has
        neither."""
        *followed, last = walked["pages"]
        for page in followed:
            link = page.headers["Link"]
            assert link.endswith('>; rel="next"')
            assert link.startswith(f"<{PATH}?")
            query = parse_qs(urlsplit(link[1:].split(">")[0]).query)
            assert query["cursor"] == [page.json()["next_cursor"]]
            assert query["limit"] == ["2"]
        assert last.json()["next_cursor"] is None
        assert "Link" not in last.headers

    def test_a_cursor_with_its_own_instants_pages_alike(self, walked: dict[str, Any]) -> None:
        """as_of and known_at may be given with a cursor when they are the cursor's."""
        assert walked["same_cursor"].content == walked["pages"][1].content

    def test_the_default_page_is_bounded(self, walked: dict[str, Any]) -> None:
        """Without limit, a page of at most 1,000 items: here every one, and no next page."""
        default = walked["default"].json()
        assert default["count"] == len(default["items"]) == 16
        assert default["next_cursor"] is None


class TestRefused:
    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("garbage", "cursor='not-a-cursor' is not one this API gave"),
            ("cut", "is not one this API gave: pass the next_cursor of the previous page"),
            ("other_period", "period='2026-09' with a cursor of the answer for period=none"),
            ("other_entity", "legal_entity='LE-DE01' with a cursor of the answer for"),
            ("other_as_of", "as_of=2026-10-01T00:00:00+00:00 with a cursor of the answer for"),
            ("no_limit", "limit: Input should be greater than or equal to 1"),
            ("beyond_limit", "limit: Input should be less than or equal to 100000"),
        ],
    )
    def test_what_is_not_a_page_of_an_answer_is_422_by_name(
        self, walked: dict[str, Any], name: str, message: str
    ) -> None:
        """A cursor this API did not give, or given with another period, legal entity or
        instant, and a limit out of bounds: 422 saying which."""
        response = walked["refused"][name]
        assert response.status_code == 422
        detail = response.json()["detail"]
        text = (
            detail
            if isinstance(detail, str)
            else "; ".join(f"{d['loc'][-1]}: {d['msg']}" for d in detail)
        )
        assert message in text


def every_page(answers: BlockedInvoiceAnswers, limit: int) -> list[BlockedInvoices]:
    pages: list[BlockedInvoices] = []
    as_of = datetime.now(UTC)
    while not pages or pages[-1].more:
        after = blocked_order(pages[-1].items[-1]) if pages else None
        _, page = answers.report(
            period=None, legal_entity=None, as_of=as_of, known_at=None, limit=limit, after=after
        )
        pages.append(page)
    return pages


def test_items_read_in_sql_and_without_page_alike(migrated: Client) -> None:
    """The items found in SQL and those the oracle finds (every item in flight read) come in the
    same pages, ties and all."""
    extra = [e for n in range(3) for e in failed_invoice(f"T{n}", "0.2", "USD")]
    migrated.insert(
        "otel_traces", span_rows([*scenario(), *extra]), column_names=OTEL_TRACES_COLUMNS
    )
    state = business_state(migrated)
    time.sleep(0.002)
    state.tick(datetime.now(UTC))
    assert state.items_known_at(None)[1]  # the items are found in SQL when narrowed
    paged = {
        narrowed: every_page(
            BlockedInvoiceAnswers(lambda: migrated, RULES, OWNERS, state, narrowed=narrowed), 3
        )
        for narrowed in (True, False)
    }
    assert paged[True] == paged[False]
    assert [len(page.items) for page in paged[True]] == [3, 3, 3, 3, 3, 1]
    assert len({item.object for page in paged[True] for item in page.items}) == 16


class TestCursor:
    def test_a_cursor_reads_back_as_it_was_given(self) -> None:
        """Every field survives the token: no period, a negative amount, text JSON escapes."""
        cursor = BlockedCursor(
            datetime(2026, 10, 2, 9, 30, 15, 250_000, tzinfo=UTC),
            datetime(2026, 10, 2, 9, 30, 15, 123_000, tzinfo=UTC),
            None,
            "LE-DE01",
            Decimal("-12.3400"),
            ObjectRef("billing_event", 'BE-"ü"'),
        )
        assert BlockedCursor.parse(cursor.text()) == cursor

    def test_an_amount_with_an_exponent_is_read_in_ten_thousandths(self) -> None:
        """ "1E+3" is the key 1000.0000: spelt without an exponent when it is bound in SQL."""
        text = token_text([INSTANT, INSTANT, "", "", "1E+3", "billing_event", "BE-1"])
        assert str(BlockedCursor.parse(text).amount) == "1000.0000"

    @pytest.mark.parametrize(
        "fields",
        [
            [INSTANT, INSTANT, "", "", "1E+14", "billing_event", "BE-1"],  # beyond Decimal(18, 4)
            [INSTANT, INSTANT, "", "", "0.00001", "billing_event", "BE-1"],  # finer than it
            [INSTANT, INSTANT, "", "", "NaN", "billing_event", "BE-1"],
            [INSTANT, INSTANT, "", "", "ten", "billing_event", "BE-1"],
            ["2026-10-02T09:30:00", INSTANT, "", "", "1", "billing_event", "BE-1"],  # naive
            [INSTANT, "yesterday", "", "", "1", "billing_event", "BE-1"],
            [INSTANT, INSTANT, "", "", "1", "", ""],
            [INSTANT, INSTANT, "", "", "1", "billing_event"],
            [INSTANT, INSTANT, "", "", 1, "billing_event", "BE-1"],
        ],
    )
    def test_a_forged_cursor_is_refused_by_name(self, fields: list[Any]) -> None:
        """Well-formed tokens whose fields cannot be a cursor's: ``ValueError`` naming it."""
        text = token_text(fields)
        with pytest.raises(ValueError, match=f"cursor={text[:80]!r} is not one this API gave"):
            BlockedCursor.parse(text)
