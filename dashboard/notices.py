"""What a page says instead of data: API errors as one clear message, and empty states that tell
the reader what to do next."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

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
