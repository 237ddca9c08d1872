"""Who is reading: a dashboard without a token of its own (SYNCSIGHT_API_TOKEN unset) asks each
user for their syncsight API token, keeps it in that browser session only, and sends only that, so
the API's roles and its log apply to the person, not to a token shared by every visitor. The
sidebar says who the API takes the session for (``GET /api/v1/me``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from dashboard.api_session import SESSION_CALLER, SESSION_TOKEN, client_for_this_session
from lineage.ledger_models import CallerOut
from rest_client.client import ApiClient, ApiError, fetch_json


def signed_in_client(pages: Sequence[StreamlitPage]) -> ApiClient:
    """The client for this session; stops the script behind a sign-in form while the API
    refuses it (401). A service in local-only mode (no API tokens) asks nobody. ``pages`` are
    the dashboard's: the form keeps the one the URL names, which opens once signed in."""
    client = client_for_this_session()
    st.session_state.pop(SESSION_CALLER, None)
    try:
        caller = replace(client, fetch=fetch_json).me()  # never cached: a revoked token shows
    except ApiError as error:
        if error.status != 401:
            return client  # each page explains an unreachable API in its own words
        expired = bool(st.session_state.pop(SESSION_TOKEN, ""))
        # Without a navigation in this run the URL's page is dropped and the rerun after
        # signing in opens the default page: a link to the Audit page would land on Overview.
        st.navigation(list(pages), position="hidden")
        sign_in_form(client.base_url, expired=expired)
        st.stop()
    st.session_state[SESSION_CALLER] = caller
    with st.sidebar:
        identity(caller, signed_in=bool(st.session_state.get(SESSION_TOKEN)))
    return client


def identity(caller: CallerOut, *, signed_in: bool) -> None:
    """Who the API takes this session for and, for a person who signed in, the way out."""
    if caller.local_only:
        st.caption("Local-only service: no API tokens, nobody signs in.")
        return
    who = f"**{caller.token_name}** ({caller.role})"
    if not signed_in:
        st.caption(f"Reading as {who}: the dashboard's own token (SYNCSIGHT_API_TOKEN).")
        return
    st.caption(f"Signed in as {who}")
    if st.button("Sign out", icon=":material/logout:"):
        del st.session_state[SESSION_TOKEN]
        st.rerun()


def sign_in_form(base_url: str, *, expired: bool) -> None:
    """Ask for a token; keep it in the session once the API accepts it."""
    st.title("Sign in to syncsight")
    st.write(
        f"This dashboard reads the syncsight API at {base_url} as you: paste your own API token "
        "(an administrator lists it in SYNCSIGHT_API_TOKENS with your role)."
    )
    if expired:
        st.warning("The API no longer accepts the token this session signed in with.")
    with st.form("sign-in"):
        token = st.text_input("API token", type="password").strip()
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    if not token:
        st.error("Enter your API token.")
        return
    try:
        ApiClient(base_url=base_url, token=token).me()
    except ApiError as error:
        if error.status == 401:
            st.error("The API did not accept this token (HTTP 401). Check it and try again.")
            return
        if error.status is None:
            st.error(str(error))
            return
        # any other answer came past the token check (an older syncsight without /api/v1/me)
    st.session_state[SESSION_TOKEN] = token
    st.rerun()
