"""Overview, the landing page: how much money is stuck and since when, SLA attainment, close risk
of the current period, and the failures that block the most money."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard.api_client import ApiClient, ApiError, EndpointMissing
from dashboard.figures.blocked import currency_bar, newly_blocked, top_failures
from dashboard.figures.close_risk import level_rank, levels_for_period
from dashboard.figures.money import format_money
from dashboard.figures.slas import attainment_share, attainment_trend, trend_snapshots
from dashboard.filters import Filters, as_of_caption, current_filters
from dashboard.notices import (
    NO_TRAFFIC,
    fetched,
    missing_evidence_notice,
    show_api_error,
    show_empty,
)

TREND_WEEKS = 6
LINEAGE_PAGE = "views/lineage_explorer.py"
LEVEL_BADGE = {0: "green", 1: "blue", 2: "orange", 3: "red", 4: "red"}


def blocked_section(client: ApiClient, filters: Filters) -> list[Mapping[str, Any]]:
    st.subheader("Blocked invoice value")
    blocked = fetched(
        lambda: client.blocked_invoices(period=filters.period, legal_entity=filters.legal_entity),
        what="Blocked invoices",
    )
    if blocked is None:
        return []
    total: dict[str, float] = blocked.get("total") or {}
    items: list[Mapping[str, Any]] = blocked.get("items") or []
    if not items:
        show_empty(
            "No invoice is blocked for this selection. If you expected some, check the period and "
            "legal-entity filters; if syncsight shows nothing anywhere: " + NO_TRAFFIC
        )
        return []
    newly = newly_blocked(items, filters.as_of)
    columns = st.columns(max(len(total), 1))
    for column, (currency, amount) in zip(
        columns, sorted(total.items(), key=lambda pair: -pair[1]), strict=False
    ):
        recent = newly.get(currency, 0.0)
        column.metric(
            f"Blocked · {currency}",
            format_money(amount, currency),
            delta=f"+{format_money(recent, currency)} in 7 days"
            if recent
            else "none new in 7 days",
            delta_color="inverse" if recent else "off",
            help="Invoice-level items that cannot post because a sync step failed. The change "
            "counts items whose first failure falls in the last 7 days.",
        )
    st.caption(f"{len(items)} blocked items; amounts are per currency, never converted.")
    st.plotly_chart(currency_bar(total, newly), key="overview_currency_bar")
    return items


def sla_section(client: ApiClient, filters: Filters) -> None:
    st.subheader("SLA attainment")
    try:
        current = client.slas(as_of=filters.api_as_of)
        trend = client.sla_trend(as_of=filters.api_as_of, weeks=TREND_WEEKS)
    except ApiError as error:
        show_api_error(error, what="SLA attainment")
        return
    if not current:
        show_empty("No business SLA has timers yet. " + NO_TRAFFIC)
        return
    snapshots = trend_snapshots(trend)
    earlier = snapshots[-2][1] if len(snapshots) > 1 else []
    week_ago = {str(s.get("name")): attainment_share(s) for s in earlier}
    columns = st.columns(min(len(current), 4))
    for position, sla in enumerate(current):
        share = attainment_share(sla)
        before = week_ago.get(str(sla.get("name")))
        columns[position % len(columns)].metric(
            str(sla.get("name")),
            "—" if share is None else f"{share * 100:.1f} %",
            delta=None
            if share is None or before is None
            else f"{(share - before) * 100:+.1f} pp vs a week earlier",
            help=f"target {sla.get('target')}",
        )
    st.plotly_chart(attainment_trend(snapshots), key="overview_sla_trend")


def close_risk_section(client: ApiClient, filters: Filters) -> None:
    period = filters.current_period
    st.subheader(f"Close risk · {period}")
    risks = fetched(
        lambda: client.close_risk(as_of=filters.api_as_of, period=period), what="Close risk"
    )
    if risks is None:
        return
    if filters.legal_entity:
        risks = [r for r in risks if r.get("legal_entity") == filters.legal_entity]
    rows = levels_for_period(risks, period)
    if not rows:
        show_empty(f"No legal entity has items that must post in {period}.")
        return
    columns = st.columns(min(len(rows), 4))
    for position, row in enumerate(rows):
        with columns[position % len(columns)]:
            colour = LEVEL_BADGE[level_rank(row["level"])]
            st.markdown(f"**{row['legal_entity']}** :{colour}-background[{row['level']}]")
            st.caption(
                f"closes {row['close_date']} · {row['business_days_left']} business days left · "
                f"at risk {row['amount_at_risk']}"
            )


def failures_section(items: Sequence[Mapping[str, Any]]) -> None:
    st.subheader("Failures blocking the most money")
    failures = top_failures(items, limit=10)
    if not failures:
        show_empty("No failure is blocking an invoice right now.")
        return
    header = st.columns([4, 3, 2, 2, 2])
    for column, title in zip(
        header,
        ["failure (opens its lineage)", "blocks", "category", "owner", "failing since"],
        strict=True,
    ):
        column.markdown(f"**{title}**")
    for rank, failure in enumerate(failures, start=1):
        row = st.columns([4, 3, 2, 2, 2])
        row[0].page_link(
            LINEAGE_PAGE,
            label=f"{rank}. {failure.event_id}",
            query_params={"type": "event", "id": failure.event_id, "direction": "both"},
        )
        row[1].write(
            " · ".join(format_money(v, c) for c, v in sorted(failure.blocked.items()))
            + (" (1 item)" if failure.items == 1 else f" ({failure.items} items)")
        )
        row[2].write(failure.error_category or "—")
        row[3].write(failure.owner or "—")
        row[4].write(failure.failed_since.strftime("%Y-%m-%d") if failure.failed_since else "—")


def missing_evidence_section(client: ApiClient) -> None:
    """A warning naming the silent telemetry streams, now; nothing when all send as usual."""
    try:
        silence = client.telemetry_silence()
    except EndpointMissing:
        return  # a server without missing-telemetry detection has nothing to say here
    except ApiError as error:
        show_api_error(error, what="Telemetry silence")
        return
    notice = missing_evidence_notice(silence)
    if notice:
        st.warning(notice, icon=":material/sensors_off:")


filters = current_filters()
client = ApiClient.for_this_session()
st.title("How much money is stuck, and will we close on time?")
st.caption(as_of_caption(filters))
missing_evidence_section(client)
blocked_items = blocked_section(client, filters)
left, right = st.columns(2)
with left:
    sla_section(client, filters)
with right:
    close_risk_section(client, filters)
failures_section(blocked_items)
