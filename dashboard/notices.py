"""What a page says instead of data: API errors as one clear message, and empty states that tell
the reader what to do next."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import streamlit as st

from dashboard.api_client import AccessDenied, ApiError, EndpointMissing, NotFound

T = TypeVar("T")

NO_TRAFFIC = (
    "syncsight has not received any business events yet. Point the integration middleware's "
    "OpenTelemetry exporter at the collector — for example "
    "`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://<syncsight-host>:4318/v1/traces` (OTLP/HTTP) or "
    "port 4317 (gRPC) — and give every sync span a `biz.event.type` attribute "
    "(docs/semantic-conventions.md). `syncsight simulate` streams a sample quarter to try it out."
)


def show_api_error(error: ApiError, *, what: str) -> None:
    """One message for a failed read: a warning for a feature the server lacks, else an error."""
    if isinstance(error, EndpointMissing):
        st.warning(f"{what} is not available: {error}", icon=":material/construction:")
    elif isinstance(error, NotFound):
        st.warning(f"{what}: {error}", icon=":material/search_off:")
    elif isinstance(error, AccessDenied):
        st.error(f"{what}: {error}", icon=":material/lock:")
    else:
        st.error(f"{what}: {error}", icon=":material/error:")


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


def missing_evidence_notice(silence: Mapping[str, Any]) -> str | None:
    """The sentence that names the telemetry streams silent beyond their limit (None when every
    stream sends as usual): their failures may be unseen, not absent."""
    missing = [s for s in silence.get("streams", []) if s.get("missing")]
    if not missing:
        return None
    named = "; ".join(
        f"**{s['stream']}** silent {float(s['silence_business_hours']):.1f} business h "
        f"(tolerated {float(s['limit_business_hours']):.1f})"
        for s in missing[:MISSING_SHOWN]
    )
    more = f"; and {len(missing) - MISSING_SHOWN} more" if len(missing) > MISSING_SHOWN else ""
    return (
        f"Missing evidence: {named}{more}. Failures these sources would have reported are unseen, "
        "not absent."
    )
