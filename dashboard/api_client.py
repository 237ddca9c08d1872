"""The dashboard's only way to data: GET requests to the syncsight REST API, cached briefly per
session-independent key, with one error type per thing a page explains differently."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import streamlit as st

DEFAULT_API_URL = "http://127.0.0.1:4318"
SESSION_TOKEN = "syncsight_api_token"
"""``st.session_state`` key of the token a user signed in with (dashboard/sign_in.py)."""
ACCESS_PROBE = "/metrics"
"""A cheap path every role may read: its status tells whether a token is accepted."""
CACHE_SECONDS = 30
TIMEOUT_SECONDS = 30.0

Params = tuple[tuple[str, str], ...]
Fetch = Callable[[str, str, str, Params], Any]


class ApiError(RuntimeError):
    """A request the page cannot show data for; ``str()`` is a sentence for the reader."""


class ApiUnreachable(ApiError):
    """No HTTP answer at all: wrong URL, service down, or too slow."""


class EndpointMissing(ApiError):
    """The server has no such route (an older syncsight, or a feature not built yet)."""


class NotFound(ApiError):
    """The route exists but the object asked for does not (for example an unknown invoice id)."""


class AccessDenied(ApiError):
    """401 or 403: no token, a wrong token, or a role too low for the route."""


class ApiFailure(ApiError):
    """Any other answer that is not 2xx: invalid input or a server-side error."""


def iso(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z``, as the API expects ``as_of``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI validation errors
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail
        )
    return str(detail)


def error_for(response: httpx.Response, path: str) -> ApiError:
    """The error type and sentence for a non-2xx answer to ``GET path``."""
    detail = _detail(response)
    status = response.status_code
    if status in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
        return EndpointMissing(
            f"The API at {response.request.url.host}:{response.request.url.port} has no "
            f"{path} yet (HTTP {status}); this part of the dashboard needs a syncsight that "
            "serves it."
        )
    if status == 404:
        return NotFound(detail)
    if status == 401:
        return AccessDenied(
            f"The API refused {path} without a valid token (HTTP 401: {detail}). Sign in again "
            "with your API token (one listed in the service's SYNCSIGHT_API_TOKENS)."
        )
    if status == 403:
        return AccessDenied(f"The dashboard's token may not read {path} (HTTP 403: {detail}).")
    return ApiFailure(f"GET {path} failed with HTTP {status}: {detail}")


def fetch_json(base_url: str, token: str, path: str, params: Params) -> Any:
    """One GET, decoded; raises an ``ApiError`` for anything but a 2xx JSON answer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(
            base_url.rstrip("/") + path,
            params=dict(params),
            headers=headers,
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.TimeoutException as error:
        raise ApiUnreachable(
            f"The API at {base_url} did not answer {path} within {TIMEOUT_SECONDS:.0f} s."
        ) from error
    except httpx.TransportError as error:
        raise ApiUnreachable(
            f"Cannot reach the syncsight API at {base_url} ({error}). Is `syncsight serve` "
            "running, and does SYNCSIGHT_API_URL point at it?"
        ) from error
    if not response.is_success:
        raise error_for(response, path)
    try:
        return response.json()
    except ValueError as error:
        raise ApiFailure(f"GET {path} answered something that is not JSON.") from error


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False, max_entries=512)
def cached_fetch_json(base_url: str, token: str, path: str, params: Params) -> Any:
    """``fetch_json`` behind Streamlit's data cache (errors are not cached)."""
    return fetch_json(base_url, token, path, params)


def _params(values: Mapping[str, str | datetime | None]) -> Params:
    """Query parameters without the unset ones, datetimes as RFC 3339, in a stable order."""
    return tuple(
        (name, iso(value) if isinstance(value, datetime) else value)
        for name, value in sorted(values.items())
        if value not in (None, "")
    )


def _segment(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class ApiClient:
    """Typed reads of the endpoints the pages use; ``fetch`` decides whether answers are cached."""

    base_url: str = DEFAULT_API_URL
    token: str = field(default="", repr=False)
    fetch: Fetch = cached_fetch_json

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, session_token: str = ""
    ) -> ApiClient:
        """SYNCSIGHT_API_URL and the optional SYNCSIGHT_API_TOKEN of the dashboard process; without
        that token, the one the user signed in with (``session_token``)."""
        environ = os.environ if environ is None else environ
        return cls(
            base_url=environ.get("SYNCSIGHT_API_URL") or DEFAULT_API_URL,
            token=environ.get("SYNCSIGHT_API_TOKEN", "") or session_token,
        )

    @classmethod
    def for_this_session(cls) -> ApiClient:
        """``from_environment`` with the token this browser session signed in with, if any."""
        return cls.from_environment(session_token=str(st.session_state.get(SESSION_TOKEN, "")))

    def access_status(self) -> int:
        """The HTTP status of a cheap read with this client's token: 200 when the API lets it
        read (or needs no token), 401 when the token is missing or not accepted."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.get(
                self.base_url.rstrip("/") + ACCESS_PROBE, headers=headers, timeout=TIMEOUT_SECONDS
            )
        except httpx.TransportError as error:
            raise ApiUnreachable(
                f"Cannot reach the syncsight API at {self.base_url} ({error})."
            ) from error
        return response.status_code

    def get(self, path: str, **params: str | datetime | None) -> Any:
        return self.fetch(self.base_url, self.token, path, _params(params))

    # lineage and impact (issue 5)
    def blocked_invoices(
        self, *, period: str | None = None, legal_entity: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.get(
            "/api/v1/impact/blocked-invoices", period=period, legal_entity=legal_entity
        )
        return result

    def lineage(self, object_type: str, object_id: str, direction: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(
            f"/api/v1/lineage/{_segment(object_type)}/{_segment(object_id)}", direction=direction
        )
        return result

    def evidence(self, object_type: str, object_id: str, direction: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(
            f"/api/v1/lineage/{_segment(object_type)}/{_segment(object_id)}/evidence",
            direction=direction,
        )
        return result

    def ocel(self, object_type: str, object_id: str, direction: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(
            f"/api/v1/lineage/{_segment(object_type)}/{_segment(object_id)}/ocel",
            direction=direction,
        )
        return result

    # SLAs, close risk and alerts (issue 6); as_of None: the service's live evaluation
    def slas(self, *, as_of: datetime | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/slas", as_of=as_of)
        return result

    def sla_trend(self, *, as_of: datetime | None = None, weeks: int = 6) -> list[dict[str, Any]]:
        """Attainment of every SLA at ``weeks`` weekly points before ``as_of`` and at it."""
        result: list[dict[str, Any]] = self.get("/api/v1/slas/trend", as_of=as_of, weeks=str(weeks))
        return result

    def sla_timers(
        self,
        name: str,
        *,
        as_of: datetime | None = None,
        state: str | None = None,
        legal_entity: str | None = None,
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get(
            f"/api/v1/slas/{_segment(name)}/timers",
            as_of=as_of,
            state=state,
            legal_entity=legal_entity,
        )
        return result

    def close_risk(
        self, *, as_of: datetime | None = None, period: str | None = None
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/close-risk", period=period, as_of=as_of)
        return result

    def alerts(
        self, *, status: str | None = None, legal_entity: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Alerts of ``status`` (firing first, oldest first), at most ``limit``."""
        result: list[dict[str, Any]] = self.get(
            "/api/v1/alerts", status=status, legal_entity=legal_entity, limit=str(limit)
        )
        return result

    def alert_summary(self, *, legal_entity: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/api/v1/alerts/summary", legal_entity=legal_entity)
        return result

    def telemetry_silence(self) -> dict[str, Any]:
        """How long each telemetry stream has been silent, now."""
        result: dict[str, Any] = self.get("/api/v1/telemetry/silence")
        return result
