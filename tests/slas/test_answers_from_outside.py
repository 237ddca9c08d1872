"""The business-state answers asked as a user asks them, at the edges the API accepts: the
latest instant it takes is an instant every answer can still be true at, and what it refuses it
refuses by name (found by trying the service from the outside, session 28)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from tests.service import asgi_client
from tests.syncsight.test_money import served_scenario

BLOCKED = "/api/v1/impact/blocked-invoices"
LAST_ACCEPTED = "2261-12-31T23:59:59Z"
FIRST_REFUSED = "2262-01-01T00:00:00Z"


async def _ask(app: Any, _: Client) -> dict[str, httpx.Response]:
    """Once the state holds the scenario's thirteen blocked items: the answers at the state's
    watermark, at the latest instant accepted and at the first refused."""
    async with asgi_client(app) as http:
        deadline = time.monotonic() + 120
        while (now := await http.get(BLOCKED)).json().get("count") != 13:
            assert time.monotonic() < deadline, f"the evaluator never caught up: {now.text}"
            await asyncio.sleep(0.1)
        known = now.headers["X-Syncsight-Known-At"]
        answers = {"now": now}
        for name, as_of in (("last", LAST_ACCEPTED), ("refused", FIRST_REFUSED)):
            for path in (BLOCKED, "/api/v1/slas", "/api/v1/close-risk"):
                answers[f"{path}@{name}"] = await http.get(
                    path, params={"as_of": as_of, "known_at": known}
                )
            answers[f"known_at@{name}"] = await http.get(BLOCKED, params={"known_at": as_of})
        for entity in ("LE-DE01", "LE-NOWHERE"):
            answers[f"close-risk@{entity}"] = await http.get(
                "/api/v1/close-risk", params={"known_at": known, "legal_entity": entity}
            )
        answers["close-risk@every entity"] = await http.get(
            "/api/v1/close-risk", params={"known_at": known}
        )
        return answers


@pytest.fixture(scope="module")
def answers(
    chdb_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, httpx.Response]]:
    yield from served_scenario(chdb_url, tmp_path_factory.mktemp("spool"), _ask)


class TestTheLatestInstant:
    def test_items_still_blocked_are_blocked_at_the_latest_instant_accepted(
        self, answers: dict[str, httpx.Response]
    ) -> None:
        """Nothing unblocks the scenario's items, so the far future still holds all of them (the
        state's 'not settled yet' is 2262-01-01: at and after it the answer had no item)."""
        last = answers[f"{BLOCKED}@last"]
        assert last.status_code == 200, last.text
        assert last.json()["count"] == answers["now"].json()["count"] == 13
        assert last.json()["total"] == answers["now"].json()["total"]

    @pytest.mark.parametrize("path", [BLOCKED, "/api/v1/slas", "/api/v1/close-risk", "known_at"])
    def test_an_instant_from_2262_is_refused_by_name(
        self, answers: dict[str, httpx.Response], path: str
    ) -> None:
        """422 naming the value and the range, never an answer that silently lost its items."""
        refused = answers[f"{path}@refused"]
        assert refused.status_code == 422, refused.text
        name = "known_at" if path == "known_at" else "as_of"
        assert refused.json()["detail"] == (
            f"{name}=2262-01-01T00:00:00+00:00: expected an instant from 1900-01-01 to before "
            "2262-01-01"
        )


class TestCloseRiskOfOneEntity:
    def test_legal_entity_keeps_that_entity_s_rows_and_no_other(
        self, answers: dict[str, httpx.Response]
    ) -> None:
        """``legal_entity`` was ignored before (every entity came back, found from the outside):
        the rows of that entity, as in the answer for every entity, and none for an entity
        without items due (the scenario's rows, all of LE-DE01, came back for it before)."""
        every = answers["close-risk@every entity"]
        assert every.status_code == 200, every.text
        entities = {row["legal_entity"] for row in every.json()}
        assert entities == {"LE-DE01"}, "the scenario's items are due in LE-DE01"
        one = answers["close-risk@LE-DE01"]
        assert one.status_code == 200, one.text
        assert one.json() == [row for row in every.json() if row["legal_entity"] == "LE-DE01"]
        assert answers["close-risk@LE-NOWHERE"].json() == []
