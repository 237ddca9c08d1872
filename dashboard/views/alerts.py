"""Alerts: SLA timer, close-risk (``CloseRisk``), blocked-money (``BlockedMoney``) and
missing-telemetry (``TelemetryMissing``) alerts that are firing now, and those resolved recently."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard.api_client import ApiClient
from dashboard.figures.alerts import split_alerts, timeline
from dashboard.filters import as_of_caption, current_filters
from dashboard.notices import fetched, show_empty

DATETIME = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
SHOWN = 500
"""Rows per table: the newest alerts; the counts above them are the full ones."""

filters = current_filters()
client = ApiClient.for_this_session()
st.title("Alerts")
st.caption(as_of_caption(filters))
scope = filters.legal_entity
summary = fetched(lambda: client.alert_summary(legal_entity=scope), what="Alert counts")
listed = fetched(
    lambda: (
        split_alerts(client.alerts(status="firing", legal_entity=scope, limit=SHOWN))[0],
        split_alerts(client.alerts(status="resolved", legal_entity=scope, limit=SHOWN))[1],
    ),
    what="Alerts",
)
if listed is not None:
    firing, resolved = listed
    counts = summary or {}
    total_firing = int(counts.get("firing", len(firing)))
    total_resolved = int(counts.get("resolved", len(resolved)))
    columns = st.columns(2)
    columns[0].metric("Firing", f"{total_firing}")
    columns[1].metric("Recently resolved", f"{total_resolved}")
    for title, rows, total, key, empty in (
        (
            "Firing",
            firing,
            total_firing,
            "alerts_firing",
            "Nothing is firing: every SLA timer is within its target, no open close is at or above "
            "the alerting risk level, no entity's blocked money is over its threshold and every "
            "telemetry stream sends as usual.",
        ),
        (
            "Recently resolved",
            resolved,
            total_resolved,
            "alerts_resolved",
            "No alert was resolved recently.",
        ),
    ):
        st.subheader(title)
        if not rows:
            show_empty(empty)
            continue
        if total > len(rows):
            st.caption(f"The newest {len(rows)} of {total}.")
        st.dataframe(
            rows,
            hide_index=True,
            key=key,
            column_config={"started": DATETIME, "ended": DATETIME},
        )
    if firing or resolved:
        st.subheader("Timeline")
        st.plotly_chart(timeline([*firing, *resolved], datetime.now(UTC)), key="alerts_timeline")
