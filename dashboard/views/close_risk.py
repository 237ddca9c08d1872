"""Close risk: per legal entity and period the close date, business days left, amount at risk
against materiality, the level and what contributes to it; an entity-by-period heatmap."""

from __future__ import annotations

import streamlit as st

from dashboard.api_session import PageInstant, client_for_this_session
from dashboard.figures.close_risk import (
    amount_vs_materiality,
    by_severity,
    contributor_rows,
    heatmap,
    risk_rows,
)
from dashboard.figures.money import format_totals
from dashboard.filters import current_filters, instant_caption, offer_legal_entities
from dashboard.notices import NO_TRAFFIC, fetched, show_empty

filters = current_filters()
reads = PageInstant(client_for_this_session(), filters.as_of)
st.title("Close risk")
stamp = st.empty()
risks = fetched(lambda: reads.close_risk(period=filters.period), what="Close risk")
if risks is not None:
    offer_legal_entities(r.legal_entity for r in risks)
    if filters.legal_entity:
        risks = [r for r in risks if r.legal_entity == filters.legal_entity]
    if not risks:
        show_empty(
            "No legal entity has items that must post in this selection. Choose another period "
            "or legal entity; if the dashboard shows nothing anywhere: " + NO_TRAFFIC
        )
    else:
        ranked = by_severity(risks)
        worst = ranked[0]
        columns = st.columns(3)
        columns[0].metric("Entity-periods assessed", f"{len(risks)}")
        columns[1].metric(
            "Highest risk", worst.level, help=f"{worst.legal_entity} · {worst.period}"
        )
        columns[2].metric("At risk in the worst case", format_totals(worst.amount_at_risk))
        st.subheader("Legal entity by period")
        st.plotly_chart(heatmap(risks), key="close_risk_heatmap")
        st.subheader("Amount at risk against materiality")
        st.plotly_chart(amount_vs_materiality(risks), key="close_risk_materiality")
        st.caption(
            "Materiality is the entity's threshold; the level compares the largest amount at "
            "risk in any one currency with it."
        )
        st.subheader("Every legal entity and period")
        st.dataframe(risk_rows(risks), hide_index=True, key="close_risk_table")
        st.subheader("Top contributors")
        by_label = {f"{r.legal_entity} · {r.period} ({r.level})": r for r in ranked}
        label = st.selectbox("Legal entity and period", list(by_label), key="close_risk_pick")
        contributors = contributor_rows(by_label[str(label)])
        if contributors:
            st.dataframe(contributors, hide_index=True, key="close_risk_contributors")
        else:
            show_empty("Nothing contributes to this entity's risk in this period.")
stamp.caption(instant_caption(filters, reads.known_at))
