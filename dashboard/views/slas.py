"""Business SLAs: attainment of each SLA, its business durations against the target, breaches and
at-risk timers over time, and the open at-risk timers with their deadlines."""

from __future__ import annotations

import streamlit as st

from dashboard.api_client import ApiClient
from dashboard.figures.slas import (
    attainment_label,
    breaches_over_time,
    duration_histogram,
    open_at_risk_rows,
    sla_rows,
    target_hours,
)
from dashboard.filters import as_of_caption, current_filters
from dashboard.notices import NO_TRAFFIC, fetched, show_empty

filters = current_filters()
client = ApiClient.for_this_session()
st.title("Business SLAs")
st.caption(as_of_caption(filters))
slas = fetched(lambda: client.slas(as_of=filters.api_as_of), what="SLAs")
if slas is not None and not slas:
    show_empty("No SLA has timers yet. " + NO_TRAFFIC)
elif slas:
    columns = st.columns(min(len(slas), 4))
    for position, sla in enumerate(slas):
        counts = sla.get("counts") or {}
        columns[position % len(columns)].metric(
            str(sla.get("name")),
            attainment_label(sla),
            delta=f"{counts.get('breached', 0)} breached · {counts.get('at_risk', 0)} at risk",
            delta_color="off",
            help=f"target {sla.get('target')}",
        )
    st.dataframe(sla_rows(slas), hide_index=True, key="sla_table")
    names = [str(s.get("name")) for s in slas]
    name = st.selectbox("SLA", names, key="sla_pick")
    sla = next(s for s in slas if str(s.get("name")) == name)
    scope = f" in {filters.legal_entity}" if filters.legal_entity else ""
    timers = fetched(
        lambda: client.sla_timers(
            str(name), as_of=filters.api_as_of, legal_entity=filters.legal_entity
        ),
        what=f"Timers of {name}",
    )
    if timers is not None and not timers:
        show_empty(f"{name} has no timers{scope} yet.")
    elif timers:
        left, right = st.columns(2)
        with left:
            st.subheader("Business duration against the target")
            st.plotly_chart(duration_histogram(timers, target_hours(sla)), key="sla_histogram")
        with right:
            st.subheader("Breached and at-risk timers by week")
            st.plotly_chart(breaches_over_time(timers), key="sla_breaches")
        st.subheader(f"Open at-risk timers{scope}")
        at_risk = open_at_risk_rows(timers, filters.as_of)
        if at_risk:
            st.dataframe(
                at_risk,
                hide_index=True,
                key="sla_at_risk",
                column_config={
                    "started_at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                    "deadline": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                },
            )
        else:
            show_empty(f"No open {name} timer is at risk{scope}.")
