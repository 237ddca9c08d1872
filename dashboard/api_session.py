"""The dashboard's way to data: the REST client (rest_client) with this browser session's token,
answers cached briefly, and one page render's reads pinned to a single as_of / known_at pair."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import streamlit as st

from lineage.audit_models import AuditReportOut
from lineage.ledger_models import CallerOut
from lineage.models import BlockedInvoicesOut
from rest_client.client import DEFAULT_API_URL, Answer, ApiClient, Params, fetch_json
from slas.models import CloseRiskOut, ObjectiveOut, SlaOut, TimerOut, TrendPointOut

T = TypeVar("T")

SESSION_TOKEN = "syncsight_api_token"
"""``st.session_state`` key of the token a user signed in with (dashboard/sign_in.py)."""
SESSION_CALLER = "syncsight_caller"
"""``st.session_state`` key of who the API says this session's token is (``GET /api/v1/me``),
refreshed on every run by dashboard/sign_in.py."""
CACHE_SECONDS = 30
MOST_BLOCKED_SHOWN = 10_000
"""Blocked items a page draws at most, the largest: one page of the API (one read: cheaper than
pages of its default size), the totals and count always of every item."""


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False, max_entries=512)
def cached_fetch_json(
    base_url: str, token: str, timeout: float, path: str, params: Params
) -> Answer[Any]:
    """``fetch_json`` behind Streamlit's data cache (errors are not cached)."""
    return fetch_json(base_url, token, timeout, path, params)


def client_from_environment(
    environ: Mapping[str, str] | None = None, *, session_token: str = ""
) -> ApiClient:
    """SYNCSIGHT_API_URL and the optional SYNCSIGHT_API_TOKEN of the dashboard process; without
    that token, the one the user signed in with (``session_token``). Answers are cached."""
    environ = os.environ if environ is None else environ
    return ApiClient(
        base_url=environ.get("SYNCSIGHT_API_URL") or DEFAULT_API_URL,
        token=environ.get("SYNCSIGHT_API_TOKEN", "") or session_token,
        fetch=cached_fetch_json,
    )


def client_for_this_session() -> ApiClient:
    """``client_from_environment`` with the token this browser session signed in with, if any."""
    return client_from_environment(session_token=str(st.session_state.get(SESSION_TOKEN, "")))


def session_caller() -> CallerOut | None:
    """Who this session reads as, when the API said so on this run (an older syncsight without
    ``/api/v1/me``, or an unreachable API, leaves it unknown)."""
    caller = st.session_state.get(SESSION_CALLER)
    return caller if isinstance(caller, CallerOut) else None


def caller_acts_as(role: str) -> bool:
    """Whether this session's token may act as ``role``: what ``/api/v1/me`` said, and True
    when nobody signs in (local-only service) or the caller is unknown, where the API's own
    403 decides."""
    caller = session_caller()
    return caller is None or caller.local_only or role in caller.acts_as


@dataclass
class PageInstant:
    """The reads of one page render, all for ``as_of`` and all known at the same instant: the
    first answer's ``known_at`` (the service's watermark then) is sent with every later read, so
    two widgets of a page cannot show answers of different freshness."""

    client: ApiClient
    as_of: datetime
    known_at: datetime | None = None

    def _pinned(self, answer: Answer[T]) -> T:
        if self.known_at is None:
            self.known_at = answer.known_at
        return answer.body

    def blocked_invoices(
        self, *, period: str | None = None, legal_entity: str | None = None
    ) -> BlockedInvoicesOut:
        """The ``MOST_BLOCKED_SHOWN`` largest blocked items, in one page (its totals and count
        cover every item)."""
        return self._pinned(
            self.client.blocked_invoices(
                period=period,
                legal_entity=legal_entity,
                as_of=self.as_of,
                known_at=self.known_at,
                limit=MOST_BLOCKED_SHOWN,
            )
        )

    def slas(self) -> list[SlaOut]:
        return self._pinned(self.client.slas(as_of=self.as_of, known_at=self.known_at))

    def sla_trend(self, *, weeks: int) -> list[TrendPointOut]:
        return self._pinned(
            self.client.sla_trend(as_of=self.as_of, known_at=self.known_at, weeks=weeks)
        )

    def sla_objectives(self) -> list[ObjectiveOut]:
        return self._pinned(self.client.sla_objectives(as_of=self.as_of, known_at=self.known_at))

    def sla_timers(self, name: str, *, legal_entity: str | None = None) -> list[TimerOut]:
        return self._pinned(
            self.client.sla_timers(
                name, as_of=self.as_of, known_at=self.known_at, legal_entity=legal_entity
            )
        )

    def close_risk(self, *, period: str | None = None) -> list[CloseRiskOut]:
        return self._pinned(
            self.client.close_risk(period=period, as_of=self.as_of, known_at=self.known_at)
        )

    def audit_report(self, *, period: str, legal_entity: str) -> AuditReportOut:
        """The report as known at the page's ``known_at`` (the first answer's), else at the
        service's watermark, which then becomes the page's ``known_at``."""
        return self._pinned(
            self.client.audit_report(
                period=period, legal_entity=legal_entity, known_at=self.known_at
            )
        )
