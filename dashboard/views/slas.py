"""Business SLAs: attainment of each SLA, its error budget left and burn per legal entity, its
business durations against the target, breaches and at-risk timers over time, and the open at-risk
timers with their deadlines, all for one instant."""

from __future__ import annotations

import streamlit as st

from dashboard.api_session import PageInstant, client_for_this_session
from dashboard.figures.slas import (
    attainment_label,
    breaches_over_time,
    duration_histogram,
    objective_rows,
    open_at_risk_rows,
    sla_rows,
    target_hours,
)
from dashboard.filters import current_filters, instant_caption, offer_legal_entities
from dashboard.notices import NO_TRAFFIC, fetched, show_empty

filters = current_filters()
reads = PageInstant(client_for_this_session(), filters.as_of)
st.title("Business SLAs")
stamp = st.empty()
slas = fetched(reads.slas, what="SLAs")
if slas is not None and not slas:
    show_empty("No SLA has timers yet. " + NO_TRAFFIC)
elif slas:
    columns = st.columns(min(len(slas), 4))
    for position, sla in enumerate(slas):
        columns[position % len(columns)].metric(
            sla.name,
            attainment_label(sla.attainment),
            delta=f"{sla.counts.get('breached', 0)} breached · "
            f"{sla.counts.get('at_risk', 0)} at risk",
            delta_color="off",
            help=f"{sla.description} Target {sla.target}.",
        )
    st.dataframe(sla_rows(slas), hide_index=True, key="sla_table")
    st.subheader("Error budgets")
    objectives = fetched(reads.sla_objectives, what="Error budgets")
    budgets = objective_rows(objectives or [], filters.legal_entity)
    if budgets:
        st.dataframe(budgets, hide_index=True, key="sla_objectives")
    elif objectives:  # budgets of other legal entities only
        show_empty(
            f"No error budget of {filters.legal_entity} at this instant: no timer of it was "
            "decided in an objective's window."
        )
    elif objectives is not None:  # listed: entities configured or with a timer decided
        show_empty(
            "No error budget at this instant: no SLA with an objective had a timer decided in "
            "its window (met, or breached at its deadline), or no SLA has an objective yet: give "
            "one an `objective` (such as 0.95) in its [[slas]] table to see its error budget and "
            "burn rate (docs/operations.md)."
        )
    by_name = {sla.name: sla for sla in slas}
    name = str(st.selectbox("SLA", list(by_name), key="sla_pick"))
    scope = f" in {filters.legal_entity}" if filters.legal_entity else ""
    timers = fetched(
        lambda: reads.sla_timers(name, legal_entity=filters.legal_entity),
        what=f"Timers of {name}",
    )
    if timers is not None:
        offer_legal_entities(t.legal_entity for t in timers)
    if timers is not None and not timers:
        show_empty(f"{name} has no timers{scope} yet.")
    elif timers:
        left, right = st.columns(2)
        with left:
            st.subheader("Business duration against the target")
            st.plotly_chart(
                duration_histogram(timers, target_hours(by_name[name].target)),
                key="sla_histogram",
            )
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
stamp.caption(instant_caption(filters, reads.known_at))
