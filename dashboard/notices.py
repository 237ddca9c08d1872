"""What a page says instead of data: API errors as one clear message, and empty states that tell
the reader what to do next."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from lineage.models import TelemetrySilenceOut
from rest_client.client import ApiError

T = TypeVar("T")

NO_TRAFFIC = (
    "syncsight has not received any business events yet. Point the integration middleware's "
    "OpenTelemetry exporter at the collector — for example "
    "`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://<syncsight-host>:4318/v1/traces` (OTLP/HTTP) or "
    "port 4317 (gRPC) — and give every sync span a `biz.event.type` attribute "
    "(docs/semantic-conventions.md). `syncsight simulate` streams a sample quarter to try it out."
)


def denied(error: ApiError) -> bool:
    """No token, a wrong token, or a role too low for the route."""
    return error.status in (401, 403)


def explain(error: ApiError) -> str:
    """The reader's sentence for a failed read: what is missing or refused, and what to do."""
    if error.route_missing:
        return (
            f"the API has no {error.path} yet (HTTP {error.status}); this part of the dashboard "
            "needs a syncsight that serves it."
        )
    if error.status == 401:
        return (
            f"the API refused {error.path} without a valid token (HTTP 401: {error.detail}). Sign "
            "in again with your API token (one listed in the service's SYNCSIGHT_API_TOKENS)."
        )
    if error.status == 403:
        return f"your token may not read {error.path} (HTTP 403: {error.detail})."
    if error.status == 404:
        return error.detail
    return str(error)


def show_api_error(error: ApiError, *, what: str) -> None:
    """One message for a failed read: a warning for a route the server lacks or an unknown
    object, a lock for a refused token, else an error."""
    if error.route_missing:
        st.warning(f"{what} is not available: {explain(error)}", icon=":material/construction:")
    elif error.status == 404:
        st.warning(f"{what}: {explain(error)}", icon=":material/search_off:")
    elif denied(error):
        st.error(f"{what}: {explain(error)}", icon=":material/lock:")
    else:
        st.error(f"{what}: {explain(error)}", icon=":material/error:")


def fetched(read: Callable[[], T], *, what: str) -> T | None:
    """``read()``, or None after showing why it failed; ``what`` names the data for the reader."""
    try:
        return read()
    except ApiError as error:
        show_api_error(error, what=what)
        return None


def show_empty(message: str) -> None:
    st.info(message, icon=":material/info:")


MISSING_SHOWN = 5


def missing_evidence_notice(silence: TelemetrySilenceOut) -> str | None:
    """The sentence that names the telemetry streams silent beyond their limit (None when every
    stream sends as usual): their failures may be unseen, not absent."""
    missing = [s for s in silence.streams if s.missing]
    if not missing:
        return None
    named = "; ".join(
        f"**{s.stream}** silent {s.silence_business_hours:.1f} business h "
        f"(tolerated {s.limit_business_hours:.1f})"
        for s in missing[:MISSING_SHOWN]
    )
    more = f"; and {len(missing) - MISSING_SHOWN} more" if len(missing) > MISSING_SHOWN else ""
    return (
        f"Missing evidence: {named}{more}. Failures these sources would have reported are unseen, "
        "not absent."
    )
