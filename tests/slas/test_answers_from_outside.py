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
BEFORE_THE_EPOCH = "1969-12-31T23:59:59Z"
RANGE = "expected an instant from 1970-01-01 to before 2262-01-01"
EARLY_ASKS = {
    "slas known_at": ("/api/v1/slas", {"known_at": BEFORE_THE_EPOCH}),
    "slas as_of": ("/api/v1/slas", {"as_of": BEFORE_THE_EPOCH}),
    "timers known_at": (
        "/api/v1/slas/time-to-invoice-posting/timers",
        {"known_at": BEFORE_THE_EPOCH},
    ),
    "close-risk known_at": ("/api/v1/close-risk", {"known_at": BEFORE_THE_EPOCH}),
    "completeness as_of": (
        "/api/v1/lineage/completeness",
        {"period": "2026-09", "as_of": BEFORE_THE_EPOCH},
    ),
    "evidence known_at": (
        "/api/v1/lineage/invoice/INV-NOWHERE/evidence",
        {"known_at": BEFORE_THE_EPOCH},
    ),
    "evidence known_at from 2262": (
        "/api/v1/lineage/invoice/INV-NOWHERE/evidence",
        {"known_at": FIRST_REFUSED},
    ),
    "trend reaching before 1970": (
        "/api/v1/slas/trend",
        {"as_of": "1971-01-01T00:00:00Z", "weeks": "104"},
    ),
}
"""Asks one of whose instants falls outside the range, each once."""

MISSPELT_ASKS = {
    "close-risk": ("/api/v1/close-risk", {"legalentity": "LE-DE01"}, "legal_entity"),
    "blocked invoices": (
        BLOCKED,
        {"period": "2026-09", "knownat": "2026-10-01T00:00:00Z"},
        "known_at",
    ),
    "lineage": (
        "/api/v1/lineage/invoice/INV-NOWHERE",
        {"direction": "up", "depth": "3"},
        "direction",
    ),
}
"""Asks with a parameter the route does not take (a typo of one it does), and one it takes."""


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
        for name, (path, params) in EARLY_ASKS.items():
            answers[name] = await http.get(path, params=params)
        for name, (path, params, _) in MISSPELT_ASKS.items():
            answers[f"misspelt {name}"] = await http.get(path, params=params)
        answers["trend from 1970"] = await http.get(
            "/api/v1/slas/trend", params={"as_of": "1972-01-01T00:00:00Z", "weeks": "104"}
        )
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
        assert refused.json()["detail"] == f"{name}=2262-01-01T00:00:00+00:00: {RANGE}"


class TestTheEarliestInstant:
    @pytest.mark.parametrize("asked", EARLY_ASKS)
    def test_every_route_refuses_an_instant_outside_the_one_range_by_name(
        self, answers: dict[str, httpx.Response], asked: str
    ) -> None:
        """One range and one text for every instant asked: the SLA answers took a known_at or
        as_of from 1900 (an empty answer before 1970), the trend answered weekly points before
        it, completeness took any as_of and the evidence a known_at from 2262 (capped), while
        the lineage routes refused one before 1970 with their own words (found from outside)."""
        refused = answers[asked]
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        name = (
            "as_of minus 104 weeks"
            if asked.startswith("trend")
            else ("as_of" if asked.endswith("as_of") else "known_at")
        )
        assert detail.startswith(f"{name}="), detail
        assert detail.endswith(f": {RANGE}"), detail

    def test_a_trend_whose_first_point_is_the_epoch_s_week_is_answered(
        self, answers: dict[str, httpx.Response]
    ) -> None:
        """The bound refuses only what reaches before 1970: 104 weeks before 1972 is 1970-01-03."""
        trend = answers["trend from 1970"]
        assert trend.status_code == 200, trend.text
        points = trend.json()
        assert len(points) == 105
        assert points[0]["as_of"].startswith("1970-01-03")


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


class TestAParameterNoRouteTakes:
    @pytest.mark.parametrize("ask", sorted(MISSPELT_ASKS))
    def test_is_refused_by_name_with_the_parameters_the_route_takes(
        self, answers: dict[str, httpx.Response], ask: str
    ) -> None:
        """A misspelt filter was ignored, and the answer held every entity's rows as if it had
        applied. Now a 422 in FastAPI's shape names each unknown parameter and what the route
        takes."""
        _, params, taken = MISSPELT_ASKS[ask]
        refused = answers[f"misspelt {ask}"]
        assert refused.status_code == 422, refused.text
        unknown = [name for name in params if name not in (taken, "period")]
        details = refused.json()["detail"]
        assert [d["loc"] for d in details] == [["query", name] for name in sorted(unknown)]
        assert all(taken in d["msg"] and d["type"] == "extra_forbidden" for d in details)
