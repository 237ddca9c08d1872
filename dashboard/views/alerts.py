"""Alerts: SLA timer, close-risk (``CloseRisk``), blocked-money (``BlockedMoney``) and
missing-telemetry (``TelemetryMissing``) alerts that are firing now, and those resolved recently."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard.api_session import client_for_this_session
from dashboard.figures.alerts import split_alerts, timeline
from dashboard.filters import current_filters, offer_legal_entities
from dashboard.notices import fetched, show_empty

DATETIME = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
# Page scripts run with Streamlit's magic: a bare string would be drawn, so notes are comments.
SHOWN = 500  # alerts read, firing first (the API's order), then the newest; counts are full

filters = current_filters()
client = client_for_this_session()
st.title("Alerts")
scope = filters.legal_entity
st.caption(
    f"Now, as the SLA evaluator holds them (the as-of and period filters do not apply) · "
    f"{scope or 'all legal entities'}"
)
summary = fetched(lambda: client.alert_summary(legal_entity=scope), what="Alert counts")
listed = fetched(
    lambda: client.alerts(legal_entity=scope, limit=SHOWN),
    what="Alerts",
)
if listed is not None:
    offer_legal_entities(alert.labels.get("legal_entity", "") for alert in listed)
    firing, resolved = split_alerts(listed)
    total_firing = summary.firing if summary else len(firing)
    total_resolved = summary.resolved if summary else len(resolved)
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
