"""The dashboard's router: page set-up, the shared filters in the sidebar, and the pages.
Run it with ``syncsight dashboard`` (or ``streamlit run dashboard/app.py``)."""

from __future__ import annotations

import streamlit as st

from dashboard.filters import legal_entity_filter, sidebar_filters
from dashboard.sign_in import signed_in_client

st.set_page_config(page_title="syncsight", page_icon=":material/monitoring:", layout="wide")
PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/payments:", default=True),
    st.Page("views/blocked_invoices.py", title="Blocked invoices", icon=":material/receipt_long:"),
    st.Page("views/close_risk.py", title="Close risk", icon=":material/event_busy:"),
    st.Page("views/slas.py", title="SLAs", icon=":material/timer:"),
    st.Page("views/lineage_explorer.py", title="Lineage explorer", icon=":material/account_tree:"),
    st.Page("views/audit.py", title="Audit", icon=":material/verified_user:"),
    st.Page("views/alerts.py", title="Alerts", icon=":material/notifications_active:"),
    st.Page("views/work_queue.py", title="Work queue", icon=":material/assignment_ind:"),
]
client = signed_in_client(PAGES)
navigation = st.navigation(PAGES)
with st.sidebar:
    st.caption(f"API: {client.base_url}")
entity_area = sidebar_filters()
navigation.run()
legal_entity_filter(entity_area)
