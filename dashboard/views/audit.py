"""Audit: the signed completeness-and-accuracy report of a period and legal entity, interface by
interface, each difference a drill-down into its lineage; the report as JSON, CSV and PDF
downloads, the ledger's signed tree heads, and for admins the access trail. Needs an auditor or
admin token; a viewer is told so, from the role the API names (``/api/v1/me``) or its 403."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard.api_session import (
    PageInstant,
    caller_acts_as,
    client_for_this_session,
    session_caller,
)
from dashboard.figures.audit import (
    difference_kinds,
    difference_rows,
    download_rows,
    filter_differences,
    head_rows,
    interface_rows,
)
from dashboard.filters import (
    Filters,
    current_filters,
    instant_caption,
    offer_legal_entities,
    recent_periods,
)
from dashboard.notices import explain, fetched, show_api_error, show_empty
from lineage.audit_models import AuditReportOut, DifferenceOut
from rest_client.client import AUDIT_REPORT_FORMATS, ApiClient, ApiError

# Page scripts run with Streamlit's magic: a bare string would be drawn, so notes are comments.
LINEAGE_PAGE = "views/lineage_explorer.py"
KEY_PERIOD, KEY_ENTITY = "audit_period", "audit_legal_entity"
TRAIL_SHOWN = 50  # newest access-trail entries listed
HEADS_SHOWN = 10  # latest tree heads listed besides the report's own
MEDIA = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf"}


def pick_period(filters: Filters) -> str:
    """The report's period: the one chosen on this page, else the sidebar's, else the one the
    as-of time falls in."""
    periods = recent_periods(filters.as_of)
    if filters.current_period not in periods:
        periods.append(filters.current_period)
    if st.session_state.get(KEY_PERIOD) not in periods:
        st.session_state[KEY_PERIOD] = filters.current_period
    return str(st.selectbox("Period", periods, key=KEY_PERIOD))


def pick_entity(area: DeltaGenerator, filters: Filters, entities: Sequence[str]) -> str | None:
    """The report's legal entity: the one chosen on this page, else the sidebar's, else the
    first the period has items of."""
    wanted = filters.legal_entity
    chosen = st.session_state.get(KEY_ENTITY)
    options = sorted({*entities, *(str(e) for e in (wanted, chosen) if e)})
    if chosen not in options:
        st.session_state[KEY_ENTITY] = wanted or (options[0] if options else None)
    picked = area.selectbox(
        "Legal entity",
        options,
        key=KEY_ENTITY,
        accept_new_options=True,
        placeholder="Type a legal entity id",
        help="The entities with items due in the period (close risk); type another to report it.",
    )
    return str(picked) if picked else None


def acting_as() -> str:
    """Who the API takes this session for, as the sidebar names it."""
    caller = session_caller()
    return f"**{caller.token_name}** ({caller.role})" if caller else "this session"


def role_notice(reason: str) -> None:
    """A viewer (or any role below auditor) is told what the page needs, not shown an error."""
    st.info(
        "The completeness-and-accuracy report is auditor material: it needs the **auditor** or "
        f"**admin** role, and {reason}. Ask an administrator for a token with the auditor role, "
        "sign out and sign in with it.",
        icon=":material/lock:",
    )


def interfaces_table(report: AuditReportOut) -> None:
    st.subheader("Interfaces")
    st.dataframe(interface_rows(report), hide_index=True, key="audit_interfaces")
    st.caption(
        "Items: objects of the interface's type fed by a source event of the period. Each side "
        "counts distinct business events and their money per currency; a difference kind shown "
        "as — is not checked for that interface."
    )


def differences_table(report: AuditReportOut) -> None:
    st.subheader("Differences")
    if report.truncated:
        st.warning(
            f"Some differences are counted but not listed: at most "
            f"{report.max_differences_per_kind:,} per kind and interface are listed (the "
            "interface table counts them all).",
            icon=":material/content_cut:",
        )
    if not report.differences:
        st.success(
            "No difference: every checked item reached its target in time, once, with its amount.",
            icon=":material/verified:",
        )
        return
    left, right = st.columns(2)
    kinds = left.multiselect("Kind", difference_kinds(report), key="audit_kinds")
    interfaces = right.multiselect(
        "Interface",
        sorted({d.interface for d in report.differences}),
        key="audit_interfaces_chosen",
    )
    shown = filter_differences(report.differences, kinds=kinds, interfaces=interfaces)
    selection = st.dataframe(
        difference_rows(shown),
        key="audit_differences",
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
    )
    st.caption(f"{len(shown)} of {len(report.differences)} listed differences match.")
    picked = selection.selection.rows if selection is not None else []
    if picked and picked[0] < len(shown):
        lineage_link(shown[picked[0]])
    else:
        st.caption("Select a row to open the item's lineage and evidence.")


def lineage_link(difference: DifferenceOut) -> None:
    st.page_link(
        LINEAGE_PAGE,
        label=f"Open the lineage of {difference.object_type} {difference.object_id} →",
        query_params={
            "type": difference.object_type,
            "id": difference.object_id,
            "direction": "both",
        },
    )


def downloads(client: ApiClient, report: AuditReportOut) -> None:
    """One button per format; the file is fetched from the API only when clicked, with this
    person's token and the report's known_at, so it has the root shown here and the access trail
    records who took it."""
    st.subheader("Download")
    columns = st.columns(len(AUDIT_REPORT_FORMATS))
    stem = f"audit-report-{report.legal_entity}-{report.period}"
    for column, file_format in zip(columns, AUDIT_REPORT_FORMATS, strict=True):

        def rendered(file_format: str = file_format) -> bytes:
            return client.audit_report_file(
                period=report.period,
                legal_entity=report.legal_entity,
                known_at=report.known_at,
                file_format=file_format,
            )

        column.download_button(
            f"Report ({file_format.upper()})",
            data=rendered,
            file_name=f"{stem}.{file_format}",
            mime=MEDIA[file_format],
            key=f"audit_download_{file_format}",
            icon=":material/download:",
            on_click="ignore",
        )
    st.caption(
        f"Root hash `{report.root_hash}`, signed by key `{report.signature.key_id}` "
        f"({report.signature.algorithm}). Every download, and every read of this page, is on "
        "the access trail under your token."
    )


def query_details(report: AuditReportOut) -> None:
    with st.expander("The query that computed the report"):
        st.caption(f"SHA-256 of its text and parameters: `{report.query.sha256}`")
        st.code(report.query.sql, language="sql")
        st.json(report.query.parameters, expanded=False)


def ledger(client: ApiClient, report: AuditReportOut) -> None:
    st.subheader("Ledger")
    st.dataframe(
        head_rows(report),
        hide_index=True,
        key="audit_heads",
        column_config={"tree size": st.column_config.NumberColumn(format="%d")},
    )
    st.caption(
        "The latest signed tree head of each day the report's facts were stored on; "
        "`syncsight verify-evidence` checks packs against them."
    )
    latest = fetched(lambda: client.ledger_heads(limit=HEADS_SHOWN), what="Tree heads")
    if latest is not None:
        with st.expander(f"Latest {HEADS_SHOWN} heads the ledger published"):
            st.dataframe(
                [head.model_dump() for head in latest.heads],
                hide_index=True,
                key="audit_latest_heads",
            )


def access_trail(client: ApiClient) -> None:
    st.subheader("Access trail")
    if not caller_acts_as("admin"):
        st.caption(
            f"The access trail is listed for admins only; this session acts as {acting_as()}."
        )
        return
    try:
        trail = client.downloads(limit=TRAIL_SHOWN)
    except ApiError as error:
        if error.status == 403:
            st.caption(f"The access trail is listed for admins only: {explain(error)}")
        else:
            show_api_error(error, what="Access trail")
        return
    if not trail.downloads:
        show_empty("Nobody has downloaded evidence, an OCEL export or a report yet.")
        return
    st.dataframe(download_rows(trail.downloads), hide_index=True, key="audit_trail")
    st.caption(f"The newest {TRAIL_SHOWN} evidence, OCEL and report downloads, newest first.")


filters = current_filters()
client = client_for_this_session()
reads = PageInstant(client, filters.as_of)
st.title("Audit")
stamp = st.empty()
left, right = st.columns(2)
with left:
    period = pick_period(filters)
risks = fetched(lambda: reads.close_risk(period=period), what="Legal entities of the period")
entities = sorted({r.legal_entity for r in risks or [] if r.period == period})
offer_legal_entities(entities)
legal_entity = pick_entity(right, filters, entities)
report: AuditReportOut | None = None
if legal_entity is None:
    show_empty(f"No legal entity has items due in {period}: type the legal entity to report.")
elif not caller_acts_as("auditor"):
    role_notice(f"this session acts as {acting_as()}")
else:
    try:
        report = reads.audit_report(period=period, legal_entity=legal_entity)
    except ApiError as error:
        if error.status == 403:
            role_notice(f"the API refused this session ({explain(error)})")
        else:
            show_api_error(error, what=f"The report of {legal_entity} for {period}")
if report is not None:
    counted = sum(sum(i.differences.values()) for i in report.interfaces)
    columns = st.columns(3)
    columns[0].metric("Interfaces", f"{len(report.interfaces)}")
    columns[1].metric("Differences", f"{counted}")
    columns[2].metric("Close deadline", report.close_deadline[:10])
    interfaces_table(report)
    differences_table(report)
    downloads(client, report)
    query_details(report)
    ledger(client, report)
    access_trail(client)
stamp.caption(
    instant_caption(replace(filters, period=period, legal_entity=legal_entity), reads.known_at)
)
