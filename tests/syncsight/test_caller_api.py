"""``GET /api/v1/me`` behind the real access middleware: each role's token is named as the access
trail names it, with the roles it may act as; no token or a wrong one is 401; without API tokens
the service says it is local-only."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest
from fastapi import FastAPI

from lineage.ledger_models import CallerOut
from syncsight.access import AccessControl, ApiTokens, Role
from syncsight.caller_api import caller_router

VIEWER = "me-viewer-0123456789abcdef"
AUDITOR = "me-auditor-0123456789abcdef"
OPERATOR = "me-operator-0123456789abcdef"
ADMIN = "me-admin-0123456789abcdef"
TOKENS = f"{VIEWER}:viewer,ada.auditor={AUDITOR}:auditor,{OPERATOR}:operator,root={ADMIN}:admin"


def ask_me(tokens: str, authorization: str | None) -> httpx.Response:
    """``GET /api/v1/me`` of an app with only this route, behind the access middleware."""
    app = FastAPI()
    app.include_router(caller_router(ApiTokens.parse(tokens)), prefix="/api/v1")
    app.add_middleware(AccessControl, tokens=ApiTokens.parse(tokens))
    headers = {"Authorization": authorization} if authorization else {}

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            return await http.get("/api/v1/me", headers=headers)

    return asyncio.run(get())


def short_hash(token: str) -> str:
    """How an unnamed token is named: ``printf %s TOKEN | sha256sum``, first 12 hex digits."""
    return f"sha256:{hashlib.sha256(token.encode()).hexdigest()[:12]}"


class TestWhoAmI:
    @pytest.mark.parametrize(
        ("token", "name", "acts_as"),
        [
            (VIEWER, None, {"viewer"}),
            (AUDITOR, "ada.auditor", {"viewer", "auditor"}),
            (OPERATOR, None, {"viewer", "operator"}),
            (ADMIN, "root", {"viewer", "auditor", "operator", "admin"}),
        ],
        ids=["viewer", "auditor", "operator", "admin"],
    )
    def test_each_role_is_named_with_what_it_may_act_as(
        self, token: str, name: str | None, acts_as: set[str]
    ) -> None:
        """The configured name, else sha256:<12 hex> of the token; the role and the roles it
        covers, as the access table's lattice says."""
        response = ask_me(TOKENS, f"Bearer {token}")
        assert response.status_code == 200, response.text
        caller = CallerOut.model_validate(response.json())
        assert caller.local_only is False
        assert caller.token_name == (name or short_hash(token))
        assert caller.role is not None
        assert set(caller.acts_as) == acts_as
        assert {r.label for r in Role if Role(caller.role).covers(r)} == acts_as

    @pytest.mark.parametrize(
        "authorization",
        [None, "Bearer not-a-known-token-0123456789", f"Basic {ADMIN}", "Bearer "],
        ids=["no token", "wrong token", "wrong scheme", "empty"],
    )
    def test_no_token_or_a_wrong_one_is_401(self, authorization: str | None) -> None:
        """The middleware's 401 with its Bearer challenge; nobody is named."""
        response = ask_me(TOKENS, authorization)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "token_name" not in response.text


def test_a_service_without_api_tokens_says_it_is_local_only() -> None:
    """No token needed, nobody named, no role: every read passes in that mode."""
    response = ask_me("", None)
    assert response.status_code == 200
    assert CallerOut.model_validate(response.json()) == CallerOut(
        local_only=True, token_name=None, role=None, acts_as=[]
    )
