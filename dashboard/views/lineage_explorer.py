"""Lineage explorer for auditors: any object type and id → its lineage as a swim-lane graph, the
event table with trace and span ids, completeness and gaps, and the evidence pack and OCEL export
as downloads. Other pages link here with ``?type=…&id=…&direction=…``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from dashboard.api_session import client_for_this_session
from dashboard.figures.lineage import event_rows, failed_count, gap_rows, lane_graph
from dashboard.notices import denied, explain, fetched, show_api_error
from rest_client.client import ApiClient, ApiError

OBJECT_TYPES = [
    "invoice",
    "billing_event",
    "time_entry",
    "expense",
    "milestone",
    "project",
    "contract",
    "obligation",
    "revenue_schedule",
    "journal",
    "event",
]
DIRECTIONS = ["upstream", "downstream", "both"]
KEY_TYPE, KEY_ID, KEY_DIRECTION = "lineage_type", "lineage_id", "lineage_direction"
KEY_FROM_URL = "lineage_from_url"


def take_target_from_url() -> None:
    """A link from another page (or a shared URL) fills the search once."""
    wanted = (
        st.query_params.get("type", "invoice"),
        st.query_params.get("id", ""),
        st.query_params.get("direction", "upstream"),
    )
    if not wanted[1] or wanted == st.session_state.get(KEY_FROM_URL):
        return
    st.session_state[KEY_TYPE] = wanted[0]
    st.session_state[KEY_ID] = wanted[1]
    st.session_state[KEY_DIRECTION] = wanted[2] if wanted[2] in DIRECTIONS else "upstream"
    st.session_state[KEY_FROM_URL] = wanted


def search_form() -> tuple[str, str, str]:
    chosen_type = st.session_state.get(KEY_TYPE, "invoice")
    types = OBJECT_TYPES if chosen_type in OBJECT_TYPES else [*OBJECT_TYPES, chosen_type]
    left, middle, right = st.columns([2, 4, 3])
    object_type = left.selectbox("Object type", types, key=KEY_TYPE, accept_new_options=True)
    object_id = middle.text_input(
        "Id",
        key=KEY_ID,
        placeholder="for example INV-UK01-00029-002",
        help="Press Enter to search.",
    )
    st.session_state.setdefault(KEY_DIRECTION, "upstream")
    direction = right.segmented_control("Direction", DIRECTIONS, key=KEY_DIRECTION)
    target = (str(object_type or "invoice"), object_id.strip(), str(direction or "upstream"))
    if target[1]:
        st.query_params.update({"type": target[0], "id": target[1], "direction": target[2]})
        st.session_state[KEY_FROM_URL] = target
    return target


def download(area: Any, label: str, read: Callable[[], Any], file_name: str, *, key: str) -> None:
    """A download button for one export, or the reason it cannot be offered."""
    try:
        document = read()
    except ApiError as error:
        if denied(error):
            area.warning(
                f"{label}: needs an auditor token; {explain(error)}", icon=":material/lock:"
            )
        else:
            with area:
                show_api_error(error, what=label)
        return
    area.download_button(
        label,
        data=json.dumps(document, indent=2, ensure_ascii=False),
        file_name=file_name,
        mime="application/json",
        key=key,
        icon=":material/download:",
    )


def show_lineage(client: ApiClient, object_type: str, object_id: str, direction: str) -> None:
    lineage = fetched(
        lambda: client.lineage(object_type, object_id, direction),
        what=f"Lineage of {object_type} {object_id}",
    )
    if lineage is None:
        return
    columns = st.columns(4)
    columns[0].metric("Events", f"{len(lineage.nodes)}")
    columns[1].metric("Failed events", f"{failed_count(lineage)}")
    columns[2].metric("Source events", f"{len(lineage.source_events)}")
    columns[3].metric(
        "Completeness", "complete" if lineage.complete else f"{len(lineage.gaps)} gap(s)"
    )
    if lineage.truncated:
        st.warning(
            f"Truncated: only the first {len(lineage.nodes)} events are shown (the API's node "
            "limit).",
            icon=":material/content_cut:",
        )
    exports = st.columns(2)
    st.subheader("Path across systems")
    true_time = st.toggle("True time scale", key="lineage_true_time")
    st.plotly_chart(lane_graph(lineage, true_time=true_time), key="lineage_graph")
    st.caption(
        "Each event is a hop from its source to its target system; red hops failed, ↻n marks "
        "events delivered n times (retries and replays); arrows show which event feeds which."
    )
    st.subheader("Events")
    st.dataframe(
        event_rows(lineage),
        hide_index=True,
        key="lineage_events",
        column_config={"timestamp": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    )
    st.subheader("Completeness")
    if lineage.complete:
        st.success(
            "Complete: every posting traces back to its source events.", icon=":material/verified:"
        )
    else:
        st.warning(
            f"Incomplete: {len(lineage.gaps)} gap(s) in the chain.", icon=":material/link_off:"
        )
        st.dataframe(gap_rows(lineage), hide_index=True, key="lineage_gaps")
    stem = f"{object_type}-{object_id}-{direction}"
    download(
        exports[0],
        "Download evidence pack (JSON)",
        lambda: client.evidence(object_type, object_id, direction),
        f"evidence-{stem}.json",
        key="download_evidence",
    )
    download(
        exports[1],
        "Download OCEL 2.0 export (JSON)",
        lambda: client.ocel(object_type, object_id, direction),
        f"ocel-{stem}.json",
        key="download_ocel",
    )


client = client_for_this_session()
st.title("Lineage explorer")
st.caption(
    "Now, as syncsight has stored the events (a lineage is not time-travelled: the as-of, period "
    "and legal-entity filters do not apply)"
)
take_target_from_url()
object_type, object_id, direction = search_form()
if object_id:
    show_lineage(client, object_type, object_id, direction)
else:
    st.info(
        "Enter an object id — an invoice number such as INV-UK01-00029-002, a billing event, a "
        "contract, … — or open an item from the Overview or Blocked invoices page.",
        icon=":material/search:",
    )
