"""The filters every page shares (as-of time, period, legal entity): kept in ``st.session_state``,
drawn in the sidebar by the router, seeded from and mirrored to the URL's query parameters. The
legal entities offered are those the pages' own answers named, so the sidebar reads nothing."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from domain.periods import PERIOD_PATTERN, period_of, periods_back
from rest_client.client import iso

ALL = "All"
LIVE = "live"
PERIOD = re.compile(PERIOD_PATTERN)
PERIODS_SHOWN = 6

KEY_LIVE = "filter_live"
KEY_DATE = "filter_as_of_date"
KEY_TIME = "filter_as_of_time"
KEY_PERIOD = "filter_period"
KEY_ENTITY = "filter_legal_entity"
KEY_SEEDED = "filters_seeded"
KEY_ENTITIES_SEEN = "legal_entities_seen"


@dataclass(frozen=True)
class Filters:
    """What every page shows: data as of ``as_of``, optionally one period and one legal entity."""

    as_of: datetime
    period: str | None = None
    legal_entity: str | None = None
    live: bool = True

    @property
    def current_period(self) -> str:
        """The selected period, else the period ``as_of`` falls in."""
        return self.period or period_of(self.as_of)

    def query_params(self) -> dict[str, str]:
        """The URL form that reopens the dashboard with these filters."""
        params = {"as_of": LIVE if self.live else iso(self.as_of)}
        if self.period:
            params["period"] = self.period
        if self.legal_entity:
            params["legal_entity"] = self.legal_entity
        return params


def recent_periods(as_of: datetime, count: int = PERIODS_SHOWN) -> list[str]:
    """``count`` periods ending with the one ``as_of`` falls in, newest first."""
    return periods_back(as_of, count)


def live_now(now: datetime) -> datetime:
    """``now`` floored to the minute, so that cached API answers are reused within a minute."""
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def parse_as_of(text: str) -> datetime | None:
    """An RFC 3339 instant (naive means UTC), or None for ``live``, empty or unparsable text."""
    if not text or text == LIVE:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def initial_state(query: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """Session-state values for a new session, from the URL (invalid values are ignored)."""
    fixed = parse_as_of(query.get("as_of", ""))
    as_of = fixed or live_now(now)
    period = query.get("period", "")
    return {
        KEY_LIVE: fixed is None,
        KEY_DATE: as_of.date(),
        KEY_TIME: as_of.time().replace(second=0, microsecond=0),
        KEY_PERIOD: period if PERIOD.match(period) else ALL,
        KEY_ENTITY: query.get("legal_entity") or ALL,
        KEY_SEEDED: True,
    }


def filters_from_state(state: Mapping[str, Any], now: datetime) -> Filters:
    """The filters the widgets hold right now."""
    live = bool(state.get(KEY_LIVE, True))
    if live:
        as_of = live_now(now)
    else:
        day: date = state.get(KEY_DATE) or now.date()
        clock: time = state.get(KEY_TIME) or time(0, 0)
        as_of = datetime.combine(day, clock, tzinfo=UTC)
    period = state.get(KEY_PERIOD, ALL)
    entity = state.get(KEY_ENTITY, ALL)
    return Filters(
        as_of=as_of,
        period=None if period in (ALL, None) else str(period),
        legal_entity=None if entity in (ALL, None, "") else str(entity),
        live=live,
    )


def current_filters() -> Filters:
    """The shared filters, for a page (the router has drawn the widgets before the page runs)."""
    return filters_from_state(st.session_state.to_dict(), datetime.now(UTC))


def seed_from_url() -> None:
    """Fill the filter state from the query parameters once per session."""
    if st.session_state.get(KEY_SEEDED):
        return
    query = {name: st.query_params[name] for name in st.query_params}
    for key, value in initial_state(query, datetime.now(UTC)).items():
        st.session_state[key] = value


def sidebar_filters() -> DeltaGenerator:
    """Draw the as-of and period widgets in the sidebar; return the place the legal-entity filter
    is drawn in once the page has run (``legal_entity_filter``)."""
    seed_from_url()
    now = datetime.now(UTC)
    with st.sidebar:
        st.subheader("Filters")
        live = st.toggle("Live (as of now)", key=KEY_LIVE, help="Off: look at an earlier moment.")
        if not live:
            st.date_input("As of date (UTC)", key=KEY_DATE)
            st.time_input("As of time (UTC)", key=KEY_TIME, step=timedelta(minutes=15))
        as_of = filters_from_state(st.session_state.to_dict(), now).as_of
        periods = [ALL, *recent_periods(as_of)]
        chosen_period = st.session_state.get(KEY_PERIOD, ALL)
        if chosen_period not in periods:
            periods.append(chosen_period)
        st.selectbox("Period", periods, key=KEY_PERIOD)
        return st.container()


def offer_legal_entities(names: Iterable[str]) -> None:
    """Remember legal entities a page's answers named, for the sidebar's legal-entity filter."""
    seen: set[str] = st.session_state.setdefault(KEY_ENTITIES_SEEN, set())
    seen.update(name for name in names if name)


def legal_entity_filter(area: DeltaGenerator) -> Filters:
    """Draw the legal-entity filter in ``area`` (after the page ran, so it offers every entity
    the page's answers named) and mirror all filters to the URL."""
    seen: set[str] = st.session_state.get(KEY_ENTITIES_SEEN, set())
    entities = [ALL, *sorted(seen)]
    chosen_entity = st.session_state.get(KEY_ENTITY, ALL)
    if chosen_entity not in entities:
        entities.append(chosen_entity)
    area.selectbox(
        "Legal entity",
        entities,
        key=KEY_ENTITY,
        accept_new_options=True,
        help="The entities this session's answers have named; type another to look it up.",
    )
    filters = filters_from_state(st.session_state.to_dict(), datetime.now(UTC))
    for name, value in filters.query_params().items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    for name in ("period", "legal_entity"):
        if name in st.query_params and name not in filters.query_params():
            del st.query_params[name]
    return filters


def instant_caption(filters: Filters, known_at: datetime | None) -> str:
    """The line a page shows once under its title: the instant every widget of it describes
    (event time ``as_of``, knowledge time ``known_at``) and the scope."""
    moment = filters.as_of.strftime("%Y-%m-%d %H:%M UTC")
    mode = "live" if filters.live else "fixed"
    known = (
        f"known at **{known_at.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}**"
        if known_at
        else "known at: not reported"
    )
    return f"As of **{moment}** ({mode}) · {known} · {scope_caption(filters)}"


def scope_caption(filters: Filters) -> str:
    """Which period and legal entity a page shows."""
    return " · ".join(
        [
            f"period {filters.period}" if filters.period else "all periods",
            filters.legal_entity or "all legal entities",
        ]
    )
