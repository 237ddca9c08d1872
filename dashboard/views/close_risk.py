"""Close risk: per legal entity and period the close date, business days left, amount at risk
against materiality, the level and what contributes to it; an entity-by-period heatmap."""

from __future__ import annotations

import streamlit as st

from dashboard.api_client import ApiClient
from dashboard.figures.close_risk import (
    amount_vs_materiality,
    contributor_rows,
    heatmap,
    level_rank,
    risk_rows,
)
from dashboard.figures.money import format_totals
from dashboard.filters import as_of_caption, current_filters
from dashboard.notices import NO_TRAFFIC, fetched, show_empty

filters = current_filters()
client = ApiClient.for_this_session()
st.title("Close risk")
st.caption(as_of_caption(filters))
risks = fetched(
    lambda: client.close_risk(as_of=filters.api_as_of, period=filters.period), what="Close risk"
)
if risks is not None:
    if filters.legal_entity:
        risks = [r for r in risks if r.get("legal_entity") == filters.legal_entity]
    if not risks:
        show_empty(
            "No legal entity has items that must post in this selection. Choose another period "
            "or legal entity; if the dashboard shows nothing anywhere: " + NO_TRAFFIC
        )
    else:
        worst = max(risks, key=lambda r: level_rank(r.get("level")))
        columns = st.columns(3)
        columns[0].metric("Entity-periods assessed", f"{len(risks)}")
        columns[1].metric(
            "Highest risk",
            str(worst.get("level", "?")),
            help=f"{worst.get('legal_entity')} · {worst.get('period')}",
        )
        columns[2].metric(
            "At risk in the worst case", format_totals(worst.get("amount_at_risk") or {})
        )
        st.subheader("Legal entity by period")
        st.plotly_chart(heatmap(risks), key="close_risk_heatmap")
        st.subheader("Amount at risk against materiality")
        st.plotly_chart(amount_vs_materiality(risks), key="close_risk_materiality")
        st.subheader("Every legal entity and period")
        st.dataframe(risk_rows(risks), hide_index=True, key="close_risk_table")
        st.subheader("Top contributors")
        by_label = {
            f"{r.get('legal_entity')} · {r.get('period')} ({r.get('level')})": r
            for r in sorted(risks, key=lambda r: -level_rank(r.get("level")))
        }
        label = st.selectbox("Legal entity and period", list(by_label), key="close_risk_pick")
        chosen = by_label[str(label)]
        contributors = contributor_rows(chosen)
        if contributors:
            st.dataframe(contributors, hide_index=True, key="close_risk_contributors")
        else:
            show_empty("Nothing contributes to this entity's risk in this period.")
