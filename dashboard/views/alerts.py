"""Alerts: SLA and close-risk alerts that are firing now, and those resolved recently."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard.api_client import ApiClient
from dashboard.figures.alerts import split_alerts, timeline
from dashboard.filters import as_of_caption, current_filters
from dashboard.notices import fetched, show_empty

DATETIME = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")

filters = current_filters()
client = ApiClient.from_environment()
st.title("Alerts")
st.caption(as_of_caption(filters))
answer = fetched(client.alerts, what="Alerts")
if answer is not None:
    firing, resolved = split_alerts(answer)
    if filters.legal_entity:
        firing = [a for a in firing if a["legal_entity"] in ("", filters.legal_entity)]
        resolved = [a for a in resolved if a["legal_entity"] in ("", filters.legal_entity)]
    columns = st.columns(2)
    columns[0].metric("Firing", f"{len(firing)}")
    columns[1].metric("Recently resolved", f"{len(resolved)}")
    st.subheader("Firing")
    if firing:
        st.dataframe(
            firing,
            hide_index=True,
            key="alerts_firing",
            column_config={"started": DATETIME, "ended": DATETIME},
        )
    else:
        show_empty("Nothing is firing: every SLA is within its target and no close is at risk.")
    st.subheader("Recently resolved")
    if resolved:
        st.dataframe(
            resolved,
            hide_index=True,
            key="alerts_resolved",
            column_config={"started": DATETIME, "ended": DATETIME},
        )
    else:
        show_empty("No alert was resolved recently.")
    if firing or resolved:
        st.subheader("Timeline")
        st.plotly_chart(timeline([*firing, *resolved], datetime.now(UTC)), key="alerts_timeline")
