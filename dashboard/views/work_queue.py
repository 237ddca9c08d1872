"""Work queue: every failure that blocks invoice-level items and every breached SLA timer, grouped
by the owner of the fix, with the money each holds and its age in business time; operators (and
admins) acknowledge, assign, snooze, comment on, resolve and reopen items here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard.api_session import cached_fetch_json, client_for_this_session
from dashboard.figures.work_queue import item_label, item_rows, owner_groups
from dashboard.filters import current_filters, offer_legal_entities
from dashboard.notices import fetched, show_api_error, show_empty
from rest_client.client import ApiClient, ApiError
from slas.work_item_models import WorkItemOut, WorkItemPageOut

# Page scripts run with Streamlit's magic: a bare string would be drawn, so notes are comments.
PAGE_SIZE = 500
MOST_SHOWN = 2000  # pages read at most; the count above the groups is always the full one
DONE = "work_queue_done"  # session key of the message of the last action, shown after the rerun
DATETIME = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
VERBS = {
    "Acknowledge": "acknowledge",
    "Assign": "assign",
    "Snooze": "snooze",
    "Comment": "comment",
    "Resolve": "resolve",
    "Reopen": "reopen",
}


def read_queue(
    client: ApiClient, *, state: str | None, legal_entity: str | None
) -> WorkItemPageOut:
    """Pages of the queue up to ``MOST_SHOWN`` items, as one answer."""
    page = client.work_items(state=state, legal_entity=legal_entity, limit=PAGE_SIZE)
    items = list(page.items)
    while page.next_cursor and len(items) < MOST_SHOWN:
        page = client.work_items(
            state=state, legal_entity=legal_entity, limit=PAGE_SIZE, cursor=page.next_cursor
        )
        items += page.items
    return page.model_copy(update={"items": items})


def action_form(client: ApiClient, items: list[WorkItemOut]) -> None:
    st.subheader("Act on an item")
    labels = {item_label(item): item for item in items}
    with st.form("work_item_action"):
        picked = st.selectbox("Item", list(labels), key="work_item_pick")
        verb = st.radio("Action", list(VERBS), horizontal=True, key="work_item_verb")
        assignee = st.text_input("Assignee (assign)", key="work_item_assignee")
        hours = st.number_input("Snooze for hours (snooze)", 1, 24 * 365, 24, key="work_item_hours")
        text = st.text_area("Comment, or the reason (resolve needs one)", key="work_item_text")
        submitted = st.form_submit_button("Apply")
    if not submitted or picked is None:
        return
    item = labels[picked]
    body: dict[str, str] = {
        "acknowledge": {"text": text},
        "assign": {"assignee": assignee},
        "snooze": {"until": (datetime.now(UTC) + timedelta(hours=hours)).isoformat(), "text": text},
        "comment": {"text": text},
        "resolve": {"reason": text},
        "reopen": {"text": text},
    }[VERBS[str(verb)]]
    try:
        changed = client.act_on_work_item(item.id, VERBS[str(verb)], body)
    except ApiError as error:
        show_api_error(error, what=f"{verb} {item.title}")
        return
    cached_fetch_json.clear()  # the list read before the action is stale now
    st.session_state[DONE] = f"{item.title} ({item.detail}) is now {changed.state}."
    st.rerun()


def history(client: ApiClient, item: WorkItemOut) -> None:
    detail = fetched(lambda: client.work_item(item.id), what="The item's history")
    if detail is None:
        return
    st.dataframe(
        [h.model_dump() for h in detail.history],
        hide_index=True,
        key="work_item_history",
        column_config={"at": DATETIME, "snoozed_until": DATETIME},
    )
    if not detail.history:
        st.caption("Nobody has acted on this item yet.")


filters = current_filters()
client = client_for_this_session()
st.title("Work queue")
st.caption(
    "Now (the as-of and period filters do not apply): failures that block invoice-level items "
    f"and breached SLA timers · {filters.legal_entity or 'all legal entities'}"
)
if DONE in st.session_state:
    st.success(st.session_state.pop(DONE))
showing = st.radio("Show", ["Not resolved", "Resolved"], horizontal=True, key="work_queue_show")
state = "resolved" if showing == "Resolved" else None
queue = fetched(
    lambda: read_queue(client, state=state, legal_entity=filters.legal_entity),
    what="The work queue",
)
if queue is not None:
    offer_legal_entities(e for item in queue.items for e in item.legal_entities)
    groups = owner_groups(queue.items, queue.owners)
    columns = st.columns(3)
    columns[0].metric("Items", f"{queue.total}")
    columns[1].metric("Owners", f"{len(groups)}")
    columns[2].metric(
        "Oldest (business h)", f"{max((g.oldest_business_hours for g in groups), default=0):,.1f}"
    )
    if not queue.items:
        show_empty(
            "Nothing is waiting: no failure blocks an invoice-level item and no SLA timer is "
            "breached."
            if state is None
            else "No item has been resolved yet."
        )
    elif queue.total > len(queue.items):
        st.caption(
            f"The oldest {len(queue.items):,} of {queue.total:,} items are listed; each owner's "
            "count, money and oldest age cover all of them."
        )
    for group in groups:
        st.subheader(group.heading)
        selection = st.dataframe(
            item_rows(group.items),
            hide_index=True,
            key=f"work_queue_{group.owner}",
            on_select="rerun",
            selection_mode="single-row",
            column_config={"snoozed until": DATETIME},
        )
        picked = selection.selection.rows if selection is not None else []
        if picked:
            history(client, group.items[picked[0]])
    if queue.items:
        st.caption(
            "Money blocked is per failure or timer: an invoice held by two failures counts in "
            "both. Select a row to see the item's history."
        )
        if queue.may_act:
            action_form(client, list(queue.items))
        else:
            st.caption(
                "Your token may read the queue only: acting on items needs role operator or admin."
            )
