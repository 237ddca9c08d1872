"""Who is reading: a dashboard without a token of its own (SYNCSIGHT_API_TOKEN unset) asks each
user for their syncsight API token, keeps it in that browser session only, and sends only that, so
the API's roles and its log apply to the person, not to a token shared by every visitor."""

from __future__ import annotations

import streamlit as st

from dashboard.api_session import SESSION_TOKEN, client_for_this_session
from rest_client.client import ApiClient, ApiError


def signed_in_client() -> ApiClient:
    """The client for this session; stops the script behind a sign-in form while the API
    refuses it (401). A service in local-only mode (no API tokens) asks nobody."""
    client = client_for_this_session()
    try:
        status = client.access_status()
    except ApiError:
        return client  # each page explains an unreachable API in its own words
    if status != 401:
        if st.session_state.get(SESSION_TOKEN):
            with st.sidebar:
                if st.button("Sign out", icon=":material/logout:"):
                    del st.session_state[SESSION_TOKEN]
                    st.rerun()
        return client
    expired = bool(st.session_state.pop(SESSION_TOKEN, ""))
    sign_in_form(client.base_url, expired=expired)
    st.stop()


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
        status = ApiClient(base_url=base_url, token=token).access_status()
    except ApiError as error:
        st.error(str(error))
        return
    if status == 401:
        st.error("The API did not accept this token (HTTP 401). Check it and try again.")
        return
    st.session_state[SESSION_TOKEN] = token
    st.rerun()
