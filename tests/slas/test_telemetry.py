"""Missing telemetry: the cadence learnt in business time (pure), and the silence of streams read
from business events stored in the real engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from lineage.owners import OwnerRouting
from slas.calendars import EntityCalendar
from slas.definitions import BusinessDuration
from slas.telemetry import (
    MIN_LEARNT_SECONDS,
    PAIR,
    SERVICE,
    TELEMETRY_MISSING,
    SilenceBounds,
    StreamSilence,
    TelemetrySilence,
    learnt_limit,
    silence_alerts,
    stream_owner,
)
from tests.warehouse.spans import span_row
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.spans import OTEL_TRACES_COLUMNS

WEEKDAYS = EntityCalendar()
"""Monday to Friday, around the clock, UTC."""
EVERY_DAY = EntityCalendar(working_days=(0, 1, 2, 3, 4, 5, 6))
FRIDAY = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def hourly(start: datetime, hours: int) -> list[datetime]:
    return [start + timedelta(hours=h) for h in range(hours)]


class TestLearntLimit:
    def test_an_hourly_stream_tolerates_twice_its_usual_gap(self) -> None:
        """Events every hour: the 99th percentile gap is an hour, the limit two."""
        assert learnt_limit(hourly(FRIDAY - timedelta(days=2), 40), EVERY_DAY) == 7200.0

    def test_a_weekend_is_no_gap_in_business_time(self) -> None:
        """Hourly on weekdays only: the weekend between adds no business time, so the limit
        stays two hours instead of becoming two days."""
        friday = hourly(datetime(2026, 11, 27, 0, 0, tzinfo=UTC), 24)
        monday = hourly(datetime(2026, 11, 30, 0, 0, tzinfo=UTC), 24)
        assert learnt_limit(friday + monday, WEEKDAYS) == 7200.0
        assert learnt_limit(friday + monday, EVERY_DAY) == pytest.approx(2 * 49 * 3600)

    def test_too_few_gaps_learn_nothing(self) -> None:
        """Twenty events are not yet a cadence: only the configured bound applies."""
        assert learnt_limit(hourly(FRIDAY, 20), EVERY_DAY) is None

    def test_a_busy_stream_is_never_held_to_less_than_ten_minutes(self) -> None:
        """Every minute: the learnt limit has a floor."""
        minutes = [FRIDAY + timedelta(minutes=m) for m in range(100)]
        assert learnt_limit(minutes, EVERY_DAY) == MIN_LEARNT_SECONDS


def stream(silence_hours: float, bound_hours: float, learnt_hours: float | None) -> StreamSilence:
    return StreamSilence(
        kind=PAIR,
        name="psa->erp",
        last_seen=FRIDAY,
        silence_seconds=silence_hours * 3600,
        bound_seconds=bound_hours * 3600,
        learnt_seconds=None if learnt_hours is None else learnt_hours * 3600,
    )


class TestStreamOwner:
    @pytest.mark.parametrize(
        ("teams", "owner"),
        [
            ({"erp": "erp team", "psa": "psa team"}, "erp team"),  # the target first
            ({"psa": "psa team"}, "psa team"),  # then the source
            ({}, "integration team"),  # then the default
        ],
    )
    def test_a_silent_pair_belongs_to_its_systems_team(
        self, teams: dict[str, str], owner: str
    ) -> None:
        """[owners] may name systems: a silent connector goes to the team of its systems."""
        assert stream_owner(stream(3, 2, None), OwnerRouting.configured(teams)) == owner

    def test_a_service_stream_belongs_to_the_default_team(self) -> None:
        """A service name is no system: the default team owns it."""
        service = replace(stream(3, 2, None), kind=SERVICE, name="erp")
        routing = OwnerRouting.configured({"erp": "erp team"}, default="platform")
        assert stream_owner(service, routing) == "platform"


class TestSilence:
    @pytest.mark.parametrize(
        ("silence", "bound", "learnt", "missing"),
        [
            (1.0, 2.0, None, False),  # within the bound, nothing learnt
            (2.5, 2.0, None, True),  # beyond the bound
            (1.0, 2.0, 0.5, True),  # beyond the usual cadence, within the bound
            (2.5, 2.0, 4.0, True),  # a slow cadence never loosens the bound
        ],
    )
    def test_silence_beyond_the_cadence_or_the_bound_is_missing(
        self, silence: float, bound: float, learnt: float | None, missing: bool
    ) -> None:
        """The limit is the shorter of the learnt cadence and the configured bound."""
        assert stream(silence, bound, learnt).missing is missing

    def test_a_missing_stream_is_one_alert_naming_it(self) -> None:
        """Labels name the stream; annotations say for how long and what is tolerated."""
        (alert,) = silence_alerts(
            [stream(3.0, 2.0, None), stream(1.0, 2.0, None)], now=FRIDAY, public_url="http://x"
        )
        assert alert.labels == {
            "alertname": TELEMETRY_MISSING,
            "stream_kind": PAIR,
            "stream": "psa->erp",
            "severity": "warning",
            "owner": "integration team",
        }
        assert alert.annotations["silence_business_hours"] == "3.00"
        assert alert.annotations["limit_business_hours"] == "2.00"


def insert(
    client: Client, at: datetime, *, source: str, target: str, service: str, number: int
) -> None:
    facts = {
        sc.EVENT_TYPE: sc.INVOICE_POSTED,
        sc.EVENT_ID: f"post:{number}",
        sc.SOURCE_SYSTEM: source,
        sc.TARGET_SYSTEM: target,
        sc.object_id_key(sc.INVOICE): f"INV-{number}",
    }
    row = span_row(
        facts,
        span_id=f"{number:016x}",
        start_ns=int(at.timestamp() * 1e9),
        service_name=service,
        resource_attributes={"service.name": service},
    )
    client.insert("otel_traces", [row], column_names=OTEL_TRACES_COLUMNS)


class TestStoredStreams:
    def test_streams_are_read_from_business_events(self, client: Client) -> None:
        """An hourly psa->erp stream went quiet 3 hours ago: it and its service are missing
        under a 2-hour cadence; a crm->erp stream seen 10 minutes ago is not."""
        migrate(client, CorrelationRules.default())
        now = datetime.now(UTC).replace(microsecond=0)
        quiet_since = now - timedelta(hours=3)
        for number, at in enumerate(hourly(quiet_since - timedelta(hours=39), 40)):
            insert(client, at, source="PSA", target="erp", service="mw-psa", number=number)
        insert(
            client,
            now - timedelta(minutes=10),
            source="crm",
            target="erp",
            service="mw-crm",
            number=99,
        )
        bounds = SilenceBounds(BusinessDuration(hours=8), {"crm->erp": BusinessDuration(hours=1)})
        silence = TelemetrySilence(lambda: client, EVERY_DAY, bounds)
        found = {(s.kind, s.name): s for s in silence.streams(now)}
        assert set(found) == {
            (PAIR, "psa->erp"),
            (SERVICE, "mw-psa"),
            (PAIR, "crm->erp"),
            (SERVICE, "mw-crm"),
        }
        psa = found[(PAIR, "psa->erp")]
        assert psa.last_seen == quiet_since
        assert psa.silence_seconds == pytest.approx(3 * 3600)
        assert (psa.learnt_seconds, psa.bound_seconds, psa.missing) == (7200.0, 8 * 3600, True)
        assert found[(SERVICE, "mw-psa")].missing
        crm = found[(PAIR, "crm->erp")]
        assert (crm.learnt_seconds, crm.bound_seconds, crm.missing) == (None, 3600, False)
        assert [a.labels["stream"] for a in silence.alerts(now)] == ["mw-psa", "psa->erp"]

    def test_a_new_event_ends_the_silence_without_relearning(self, client: Client) -> None:
        """Rows stored since the last read move the stream's last event forward."""
        migrate(client, CorrelationRules.default())
        now = datetime.now(UTC).replace(microsecond=0)
        insert(client, now - timedelta(hours=3), source="psa", target="erp", service="mw", number=1)
        silence = TelemetrySilence(lambda: client, EVERY_DAY, SilenceBounds())
        assert [s.missing for s in silence.streams(now)] == [True, True]
        insert(
            client, now - timedelta(minutes=1), source="psa", target="erp", service="mw", number=2
        )
        later = {s.name: s for s in silence.streams(now + timedelta(seconds=1))}
        assert later["psa->erp"].last_seen == now - timedelta(minutes=1)
        assert not later["psa->erp"].missing
