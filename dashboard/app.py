"""The dashboard's router: page set-up, the shared filters in the sidebar, and the six pages.
Run it with ``syncsight dashboard`` (or ``streamlit run dashboard/app.py``)."""

from __future__ import annotations

from contextlib import suppress

import streamlit as st

from dashboard.api_client import ApiClient, ApiError
from dashboard.filters import sidebar_filters
from dashboard.sign_in import signed_in_client


def known_legal_entities(client: ApiClient) -> list[str]:
    """Legal entities the API reports anywhere the sidebar can cheaply look (cached reads)."""
    found: set[str] = set()
    # a failing read is reported by the page that needs it; the sidebar just offers fewer names
    with suppress(ApiError):
        found |= {str(i.get("legal_entity")) for i in client.blocked_invoices()["items"]}
    with suppress(ApiError):
        found |= {str(r.get("legal_entity")) for r in client.close_risk()}
    return sorted(found - {"", "None"})


st.set_page_config(page_title="syncsight", page_icon=":material/monitoring:", layout="wide")
client = signed_in_client()
PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/payments:", default=True),
    st.Page("views/blocked_invoices.py", title="Blocked invoices", icon=":material/receipt_long:"),
    st.Page("views/close_risk.py", title="Close risk", icon=":material/event_busy:"),
    st.Page("views/slas.py", title="SLAs", icon=":material/timer:"),
    st.Page("views/lineage_explorer.py", title="Lineage explorer", icon=":material/account_tree:"),
    st.Page("views/alerts.py", title="Alerts", icon=":material/notifications_active:"),
]
navigation = st.navigation(PAGES)
with st.sidebar:
    st.caption(f"API: {client.base_url}")
sidebar_filters(known_legal_entities(client))
navigation.run()
