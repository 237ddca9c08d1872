"""Overview, the landing page: how much money is stuck and since when, SLA attainment, close risk
of the current period (and of the one before while it closes), and the failures that block the most money, all for one instant."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from dashboard.api_session import PageInstant, client_for_this_session
from dashboard.figures.blocked import currency_bar, newly_blocked, shown_caption, top_failures
from dashboard.figures.close_risk import level_rank, levels_for_period
from dashboard.figures.money import format_money, format_totals
from dashboard.figures.slas import attainment_label, attainment_trend, trend_snapshots
from dashboard.filters import Filters, current_filters, instant_caption, offer_legal_entities
from dashboard.notices import (
    NO_TRAFFIC,
    fetched,
    missing_evidence_notice,
    show_api_error,
    show_empty,
)
from domain.periods import periods_back
from lineage.models import BlockedItemOut
from rest_client.client import ApiClient, ApiError

TREND_WEEKS = 6
# Page scripts run with Streamlit's magic: a bare string would be drawn, so notes are comments.
SLA_COLUMNS = 2  # per row of the half-width section: wide enough for the longest SLA name
LINEAGE_PAGE = "views/lineage_explorer.py"
LEVEL_BADGE = ("blue", "orange", "red", "red")  # per level rank: low, medium, high, critical


def blocked_section(reads: PageInstant, filters: Filters) -> list[BlockedItemOut]:
    st.subheader("Blocked invoice value")
    blocked = fetched(
        lambda: reads.blocked_invoices(period=filters.period, legal_entity=filters.legal_entity),
        what="Blocked invoices",
    )
    if blocked is None:
        return []
    offer_legal_entities(item.legal_entity for item in blocked.items)
    if not blocked.items:
        show_empty(
            "No invoice is blocked for this selection. If you expected some, check the period and "
            "legal-entity filters; if syncsight shows nothing anywhere: " + NO_TRAFFIC
        )
        return []
    newly = newly_blocked(blocked.items, filters.as_of)
    columns = st.columns(max(len(blocked.total), 1))
    for column, (currency, amount) in zip(
        columns, sorted(blocked.total.items(), key=lambda pair: -pair[1]), strict=False
    ):
        recent = newly.get(currency, Decimal(0))
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
    shown = shown_caption(len(blocked.items), blocked.count)
    st.caption(f"{shown.capitalize()}; amounts are per currency, never converted.")
    st.plotly_chart(currency_bar(blocked.total, newly), key="overview_currency_bar")
    return blocked.items


def sla_section(reads: PageInstant) -> None:
    st.subheader("SLA attainment")
    answers = fetched(
        lambda: (reads.slas(), reads.sla_trend(weeks=TREND_WEEKS)), what="SLA attainment"
    )
    if answers is None:
        return
    current, trend = answers
    if not current:
        show_empty("No business SLA has timers yet. " + NO_TRAFFIC)
        return
    snapshots = trend_snapshots(trend)
    earlier = snapshots[-2][1] if len(snapshots) > 1 else []
    week_ago = {s.name: s.attainment for s in earlier}
    columns = st.columns(SLA_COLUMNS)
    for position, sla in enumerate(current):
        before = week_ago.get(sla.name)
        columns[position % SLA_COLUMNS].metric(
            sla.name,
            attainment_label(sla.attainment),
            delta=None
            if sla.attainment is None or before is None
            else f"{(sla.attainment - before) * 100:+.1f} pp vs a week earlier",
            help=f"{sla.description} Target {sla.target}.",
        )
    st.plotly_chart(attainment_trend(snapshots), key="overview_sla_trend")


def close_risk_section(reads: PageInstant, filters: Filters) -> None:
    # Without a chosen period: the period as_of falls in and, while its close is still ahead,
    # the one before it (a month closes in the first business days of the next, when the
    # executive's question is about it), as the CloseRisk alert weighs them.
    current = filters.current_period
    heading = st.empty()
    heading.subheader(f"Close risk · {current}")
    risks = fetched(lambda: reads.close_risk(period=current), what="Close risk")
    if risks is None:
        return
    periods = [current]
    if not filters.period:
        previous = periods_back(filters.as_of, 2)[1]
        earlier = fetched(lambda: reads.close_risk(period=previous), what="Close risk")
        closing = [r for r in earlier or [] if r.period == previous and r.business_days_left > 0]
        if closing:
            periods, risks = [previous, current], closing + risks
            heading.subheader(f"Close risk · {previous} closing, {current}")
    offer_legal_entities(r.legal_entity for r in risks)
    if filters.legal_entity:
        risks = [r for r in risks if r.legal_entity == filters.legal_entity]
    rows = [row for period in periods for row in levels_for_period(risks, period)]
    if not rows:
        show_empty(f"No legal entity has items that must post in {' or '.join(periods)}.")
        return
    columns = st.columns(min(len(rows), 4))
    for position, row in enumerate(rows):
        with columns[position % len(columns)]:
            colour = LEVEL_BADGE[level_rank(row.level)]
            name = row.legal_entity if len(periods) == 1 else f"{row.legal_entity} {row.period}"
            st.markdown(f"**{name}** :{colour}-background[{row.level}]")
            st.caption(
                f"closes {row.close_date} · {row.business_days_left:g} business days left · "
                f"at risk {format_totals(row.amount_at_risk)}"
            )


def failures_section(items: list[BlockedItemOut]) -> None:
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


def missing_evidence_section(client: ApiClient, filters: Filters) -> None:
    """A warning naming the silent telemetry streams, in live mode only (silence is a fact of
    now, not of a past instant); nothing when every stream sends as usual."""
    if not filters.live:
        return
    try:
        silence = client.telemetry_silence()
    except ApiError as error:
        if not error.route_missing:  # a server without the detection has nothing to say
            show_api_error(error, what="Telemetry silence")
        return
    notice = missing_evidence_notice(silence)
    if notice:
        st.warning(notice, icon=":material/sensors_off:")


filters = current_filters()
reads = PageInstant(client_for_this_session(), filters.as_of)
st.title("How much money is stuck, and will we close on time?")
stamp = st.empty()
missing_evidence_section(reads.client, filters)
blocked_items = blocked_section(reads, filters)
left, right = st.columns(2)
with left:
    sla_section(reads)
with right:
    close_risk_section(reads, filters)
failures_section(blocked_items)
stamp.caption(instant_caption(filters, reads.known_at))
