"""Blocked invoices: every invoice-level item held by a failure, where the money sits (error
category → system → legal entity), who owns each fix, how old each failure is, and a drill-down
to the item's lineage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard.api_session import PageInstant, client_for_this_session
from dashboard.figures.blocked import (
    blocked_rows,
    by_group_bar,
    filter_items,
    item_owners,
    sankey,
    shown_caption,
    treemap,
)
from dashboard.figures.money import format_money, sum_by_currency
from dashboard.filters import current_filters, instant_caption, offer_legal_entities
from dashboard.notices import NO_TRAFFIC, fetched, show_empty
from lineage.models import BlockedItemOut

LINEAGE_PAGE = "views/lineage_explorer.py"


def local_filters(items: Sequence[BlockedItemOut]) -> list[BlockedItemOut]:
    """The owner of the fix, on top of the shared period and legal-entity filters."""
    owners = sorted({owner for item in items for owner in item_owners(item)})
    chosen_owners = st.multiselect("Owner", owners, key="blocked_owners")
    return filter_items(items, owners=chosen_owners)


def charts(rows: Sequence[Mapping[str, Any]]) -> None:
    currencies = sorted({str(r["currency"]) for r in rows if r.get("amount") is not None})
    tree, flow, entity, owner = st.tabs(
        ["Where the money sits", "Failure → system flow", "By legal entity", "By owner"]
    )
    with tree:
        st.plotly_chart(treemap(rows), key="blocked_treemap")
        st.caption("currency → error category of the root-cause failure → system → legal entity")
    with flow:
        currency = st.radio("Currency", currencies, horizontal=True, key="blocked_flow_currency")
        st.plotly_chart(sankey(rows, str(currency)), key="blocked_sankey")
    for tab, group, key in ((entity, "legal_entity", "entity"), (owner, "owner", "owner")):
        with tab:
            for currency in currencies:
                st.plotly_chart(
                    by_group_bar(rows, group, currency), key=f"blocked_{key}_{currency}"
                )


def table(rows: Sequence[Mapping[str, Any]]) -> None:
    st.subheader("Blocked items")
    shown = [
        {
            "invoice": r["invoice"],
            "amount": format_money(r["amount"], r["currency"]),
            "legal_entity": r["legal_entity"],
            "period": r["period"],
            "stuck at": r["stuck_at"],
            "error category": r["error_category"],
            "error code": r["error_code"],
            "system": r["system"],
            "owner": r["owner"],
            "failing since": r["failed_since"],
            "age (days)": r["age_days"],
            "failures": r["blockers"],
        }
        for r in rows
    ]
    selection = st.dataframe(
        shown,
        key="blocked_table",
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "failing since": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "age (days)": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    picked = selection.selection.rows if selection is not None else []
    if picked:
        row = rows[picked[0]]
        st.page_link(
            LINEAGE_PAGE,
            label=f"Open the lineage of {row['invoice']} →",
            query_params={"type": row["object_type"], "id": row["object_id"], "direction": "both"},
        )
    else:
        st.caption("Select a row to open the item's lineage and evidence.")


filters = current_filters()
reads = PageInstant(client_for_this_session(), filters.as_of)
st.title("Blocked invoices")
stamp = st.empty()
blocked = fetched(
    lambda: reads.blocked_invoices(period=filters.period, legal_entity=filters.legal_entity),
    what="Blocked invoices",
)
if blocked is not None:
    items = blocked.items
    offer_legal_entities(item.legal_entity for item in items)
    if not items:
        show_empty(
            "No invoice is blocked for this selection. Widen the period or legal-entity filter; "
            "if the dashboard shows nothing anywhere: " + NO_TRAFFIC
        )
    else:
        kept = local_filters(items)
        rows = blocked_rows(kept, filters.as_of)
        # the answer's totals count every item, those not shown too; a filter's, those it keeps
        totals = (
            dict(sorted(blocked.total.items()))
            if len(kept) == len(items)
            else sum_by_currency((item.amount, item.currency) for item in kept)
        )
        columns = st.columns(max(len(totals), 1))
        for column, (currency, amount) in zip(columns, totals.items(), strict=False):
            column.metric(f"Blocked · {currency}", format_money(amount, currency))
        shown = shown_caption(len(items), blocked.count)
        st.caption(f"{len(kept):,} of {shown} match the filters.")
        if rows:
            charts(rows)
            table(rows)
        else:
            show_empty("No blocked item matches the owner filter.")
stamp.caption(instant_caption(filters, reads.known_at))
