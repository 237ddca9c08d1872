"""``GET /api/v1/me``: who the request's API token is and its role, as the access middleware
(``syncsight/access.py``) found it, so that a client (the dashboard) can say who is signed in and
draw what the role may read without learning it from refusals."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from lineage.ledger_models import CallerOut
from syncsight.access import ApiCaller, ApiTokens

LOCAL_ONLY = CallerOut(local_only=True, token_name=None, role=None, acts_as=[])


def caller_router(tokens: ApiTokens) -> APIRouter:
    """Answers from the caller the middleware in front of it recorded for the request."""
    router = APIRouter(tags=["access"])

    @router.get(
        "/me",
        response_model=CallerOut,
        summary="Who this request's API token is, and its role",
        responses={401: {"description": "No token, or a token the service does not accept."}},
    )
    def me(request: Request) -> CallerOut:
        if not tokens.enabled:
            return LOCAL_ONLY
        caller = request.scope.get("user")
        if not isinstance(caller, ApiCaller):  # the middleware refuses such requests first
            raise HTTPException(401, "missing or invalid bearer token (Authorization: Bearer …)")
        return CallerOut(
            local_only=False,
            token_name=caller.display_name,
            role=caller.grant.role.label,
            acts_as=list(request.auth.scopes),
        )

    return router
