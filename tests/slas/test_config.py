"""The [[slas]], [calendars], [notifications], [alerts] and [telemetry] tables: what they accept, and how they say no."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from simulator.firm import LEGAL_ENTITIES, firm_config_toml
from slas.calendars import DEFAULT_CALENDAR
from slas.definitions import DEFAULT_SLAS, BusinessDuration, DefinitionError
from syncsight.config_file import ConfigFileError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syncsight.toml"
    path.write_text(text, encoding="utf-8")
    return path


class TestDefaults:
    def test_without_a_file_the_four_design_slas_apply(self, tmp_path: Path) -> None:
        """The README's four SLAs with their targets, and 50 % / 75 % warnings."""
        slas = load_config(write(tmp_path, "")).sla.definitions
        assert [(d.name, str(d.target)) for d in slas] == [
            ("time-to-project-creation", "2d"),
            ("time-to-bill-readiness", "3d"),
            ("time-to-invoice-posting", "1d"),
            ("time-to-revenue-posting", "2d"),
        ]
        assert all(d.warning_thresholds == (0.5, 0.75) for d in slas)
        assert slas == DEFAULT_SLAS

    def test_without_a_file_no_entity_has_a_calendar_of_its_own(self) -> None:
        """Production defaults know no legal entity: every one uses [calendars.default]."""
        sla = load_config(None).sla
        assert sla.calendars == {}
        assert sla.calendar_book().for_entity("LE-US01") == DEFAULT_CALENDAR

    def test_the_simulators_firm_file_gives_its_entities_calendars(self, tmp_path: Path) -> None:
        """LE-US01, LE-UK01 and LE-DE01 come from the file the simulator writes for its firm."""
        calendars = load_config(write(tmp_path, firm_config_toml())).sla.calendars
        assert {(k, c.time_zone, c.close_day) for k, c in calendars.items()} == {
            (entity.id, entity.time_zone, entity.close_day) for entity in LEGAL_ENTITIES
        }
        assert calendars["LE-UK01"].holiday_subdivision == "ENG"


class TestSlaTables:
    def test_a_default_can_be_partly_overridden_or_disabled(self, tmp_path: Path) -> None:
        """Keys given replace the default's; enabled = false drops the SLA."""
        text = """
[[slas]]
name = "time-to-invoice-posting"
target = "1d 4h"
owner = "ar-team"
legal_entities = ["LE-US01"]

[[slas]]
name = "time-to-project-creation"
enabled = false
"""
        slas = {d.name: d for d in load_config(write(tmp_path, text)).sla.definitions}
        assert "time-to-project-creation" not in slas
        posting = slas["time-to-invoice-posting"]
        assert posting.target == BusinessDuration(days=1, hours=4)
        assert (posting.owner, posting.legal_entities) == ("ar-team", ("LE-US01",))
        assert posting.key_types == ("billing_event",)

    def test_a_new_sla_is_added(self, tmp_path: Path) -> None:
        """A full definition under a new name joins the defaults."""
        text = """
[[slas]]
name = "time-to-customer-sync"
start = "contract.signed"
stop = "customer.synced"
key = "customer_x"
target = "4h"
"""
        with pytest.raises(ConfigFileError, match=r"syncsight.toml:6: .*key: 'customer_x'"):
            load_config(write(tmp_path, text))

    @pytest.mark.parametrize(
        ("body", "line", "message"),
        [
            ('name = "x"\nstart = "contract.signed"\n', 3, "a new SLA needs stop, key, target"),
            ('name = "time-to-invoice-posting"\ntarget = "soon"\n', 5, r"target: 'soon'"),
            ('name = "time-to-invoice-posting"\nseverity = "page"\n', 5, "severity: 'page'"),
            ('name = "time-to-invoice-posting"\nwarning_thresholds = [0.8, 0.5]\n', 5, "ascending"),
            ('name = "time-to-invoice-posting"\nstop = "invoice.post"\n', 5, "unknown event type"),
            ('name = "time-to-invoice-posting"\ncolour = "red"\n', 5, "colour: unknown key"),
            (
                'name = "time-to-invoice-posting"\nstart = "invoice.posted"\n',
                5,
                "start and stop both name invoice.posted",
            ),
        ],
    )
    def test_a_bad_definition_is_refused_with_its_line(
        self, tmp_path: Path, body: str, line: int, message: str
    ) -> None:
        """file:line: [[slas]] #n (name): field: reason."""
        text = "# SLAs\n\n[[slas]]\n" + body
        with pytest.raises(
            ConfigFileError, match=rf"syncsight.toml:{line}: \[\[slas\]\] #1.*{message}"
        ):
            load_config(write(tmp_path, text))

    def test_the_second_table_is_named_by_its_position(self, tmp_path: Path) -> None:
        """Errors in the n-th [[slas]] say #n and point at that table's lines."""
        text = '[[slas]]\nname = "time-to-invoice-posting"\n\n[[slas]]\nname = "x y"\n'
        with pytest.raises(ConfigFileError, match=r":5: \[\[slas\]\] #2 \(x y\): name: 'x y'"):
            load_config(write(tmp_path, text))


class TestCalendarTables:
    def test_an_entity_inherits_from_the_default_table(self, tmp_path: Path) -> None:
        """Keys an entity leaves out come from [calendars.default]."""
        text = """
[calendars.default]
working_hours = "09:00-17:30"
close_day = 3

[calendars."LE-FR01"]
time_zone = "Europe/Paris"
holiday_country = "FR"
holidays = [2026-12-24, "2026-12-31"]
materiality = 50000
"""
        sla = load_config(write(tmp_path, text)).sla
        paris = sla.calendars["LE-FR01"]
        assert paris.working_hours == (9.0, 17.5)
        assert paris.close_day == 3
        assert paris.custom_holidays == {date(2026, 12, 24), date(2026, 12, 31)}
        assert paris.materiality == 50000
        assert sla.default_calendar.close_day == 3
        assert set(sla.calendars) == {"LE-FR01"}

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ('time_zone = "Mars/Olympus"', "IANA time zone"),
            ('working_hours = "17:00-09:00"', "opening before the closing"),
            ('working_days = ["mon", "funday"]', "day names"),
            ('holiday_country = "XX"', "not known to the holidays package"),
            ("close_day = -1", "business day number"),
            ('holidays = ["24.12.2026"]', "ISO dates"),
        ],
    )
    def test_a_bad_calendar_is_refused_with_its_line(
        self, tmp_path: Path, line: str, message: str
    ) -> None:
        """The message names the file, the line, the table and the key."""
        text = f'[calendars."LE-FR01"]\nmateriality = 100000\n{line}\n'
        with pytest.raises(ConfigFileError, match=rf':3: \[calendars\."LE-FR01"\]: .*{message}'):
            load_config(write(tmp_path, text))


class TestNotificationTables:
    def test_channels_and_links(self, tmp_path: Path) -> None:
        """Each channel is optional; URLs lose their trailing slash."""
        text = """
[notifications]
public_url = "https://syncsight.example.com/"
resend_seconds = 30

[notifications.alertmanager]
url = "http://alertmanager:9093/"

[notifications.slack]
webhook_url = "https://hooks.slack.com/services/T/B/X"
"""
        notes = load_config(write(tmp_path, text)).sla.notifications
        assert notes.alertmanager_url == "http://alertmanager:9093"
        assert notes.public_url == "https://syncsight.example.com"
        assert notes.slack_webhook_url.endswith("/X")
        assert (notes.webhook_url, notes.resend_seconds) == ("", 30.0)

    def test_timer_alerts_each_by_default_or_grouped(self, tmp_path: Path) -> None:
        """One alert per timer unless the file asks for one per group."""
        assert load_config(None).sla.notifications.timer_alerts == "each"
        text = '[notifications]\ntimer_alerts = "grouped"\n'
        assert load_config(write(tmp_path, text)).sla.notifications.timer_alerts == "grouped"

    def test_an_unknown_timer_alerts_mode_is_refused(self, tmp_path: Path) -> None:
        """The table, key and the two modes accepted are named."""
        text = '[notifications]\ntimer_alerts = "per-owner"\n'
        with pytest.raises(
            ConfigFileError,
            match=r":2: \[notifications\]: timer_alerts: .*expected 'each' or 'grouped'",
        ):
            load_config(write(tmp_path, text))

    def test_each_owner_may_have_its_own_webhook_and_slack(self, tmp_path: Path) -> None:
        """[notifications.owners."<team>"]: either URL, both optional."""
        text = """
[notifications.owners."finance operations"]
webhook_url = "https://hooks.example.com/finance/"
slack_webhook_url = "https://hooks.slack.com/services/T/B/F"

[notifications.owners."master data team"]
webhook_url = "https://hooks.example.com/mdm"
"""
        owners = load_config(write(tmp_path, text)).sla.notifications.owners
        assert owners["finance operations"].webhook_url == "https://hooks.example.com/finance"
        assert owners["finance operations"].slack_webhook_url.endswith("/F")
        assert owners["master data team"].slack_webhook_url == ""

    def test_an_owner_url_that_is_not_http_is_refused(self, tmp_path: Path) -> None:
        """The owner's table and key are named."""
        text = '[notifications.owners."finance operations"]\nwebhook_url = "mailto:x@y"\n'
        with pytest.raises(
            ConfigFileError,
            match=r':2: \[notifications.owners."finance operations"\]: webhook_url: .*http',
        ):
            load_config(write(tmp_path, text))

    def test_a_url_that_is_not_http_is_refused(self, tmp_path: Path) -> None:
        """The channel's table and key are named."""
        text = '[notifications.webhook]\nurl = "ftp://example.com/hook"\n'
        with pytest.raises(ConfigFileError, match=r":2: \[notifications.webhook\]: url"):
            load_config(write(tmp_path, text))


class TestAlertTables:
    def test_by_default_close_risk_alerts_from_medium_and_no_blocked_money(self) -> None:
        """A safe default: CloseRisk from medium, BlockedMoney off until an entity is named."""
        alerts = load_config(None).sla.alerts
        assert (alerts.close_risk_from, dict(alerts.blocked_money)) == ("medium", {})

    def test_thresholds_are_exact_per_entity_and_currency(self, tmp_path: Path) -> None:
        """Amounts become Decimal (a float's text, never its binary value); off turns CloseRisk off."""
        text = """
[alerts.close_risk]
from_level = "off"

[alerts.blocked_money."LE-DE01"]
EUR = 50000.10
USD = "25000"
"""
        alerts = load_config(write(tmp_path, text)).sla.alerts
        assert alerts.close_risk_from == ""
        assert alerts.blocked_money == {
            "LE-DE01": {"EUR": Decimal("50000.10"), "USD": Decimal("25000")}
        }

    @pytest.mark.parametrize(
        ("body", "line", "message"),
        [
            ('[alerts.close_risk]\nfrom_level = "severe"', 2, "expected one of medium, high"),
            ('[alerts.blocked_money."LE-DE01"]\nEUR = -5', 2, "expected a positive amount"),
            ('[alerts.blocked_money."LE-DE01"]\neuro = 5', 2, "ISO 4217 currency code"),
            ("[alerts]\nthreshold = 5", 2, "unknown key"),
        ],
    )
    def test_a_bad_alert_table_is_refused_with_its_line(
        self, tmp_path: Path, body: str, line: int, message: str
    ) -> None:
        """file:line: table: key: reason, naming the value."""
        with pytest.raises(ConfigFileError, match=rf"syncsight.toml:{line}: \[alerts.*{message}"):
            load_config(write(tmp_path, body + "\n"))


class TestTelemetryTable:
    def test_without_a_table_every_stream_may_be_silent_two_business_hours(self) -> None:
        """The default bound is 2h, and no stream has one of its own."""
        silence = load_config(None).sla.silence
        assert (str(silence.default), dict(silence.by_stream)) == ("2h", {})

    def test_pairs_and_services_get_their_own_bounds(self, tmp_path: Path) -> None:
        """default, a source pair and a service name (dotted, quoted) each parse."""
        text = """
[telemetry.silence]
default = "4h"
"psa->erp" = "30m"
"mw.crm-sync" = "1d"
"""
        silence = load_config(write(tmp_path, text)).sla.silence
        assert str(silence.default) == "4h"
        assert {k: str(v) for k, v in silence.by_stream.items()} == {
            "psa->erp": "0.5h",
            "mw.crm-sync": "1d",
        }
        assert str(silence.bound("crm->erp")) == "4h"

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ('"PSA->ERP" = "30m"', "source pair in lower case"),
            ('default = "soon"', "business days/hours/minutes"),
            ('"psa->" = "1h"', "source pair in lower case"),
        ],
    )
    def test_a_bad_bound_is_refused_with_its_line(
        self, tmp_path: Path, line: str, message: str
    ) -> None:
        """file:line: [telemetry.silence]: key: reason."""
        text = f"[telemetry.silence]\n{line}\n"
        with pytest.raises(ConfigFileError, match=rf":2: \[telemetry.silence\]: .*{message}"):
            load_config(write(tmp_path, text))


class TestBusinessDuration:
    @pytest.mark.parametrize(
        ("text", "days", "hours"),
        [("2d", 2, 0), ("36h", 0, 36), ("1d 4h", 1, 4), ("90m", 0, 1.5), ("0.5d", 0.5, 0)],
    )
    def test_targets_parse(self, text: str, days: float, hours: float) -> None:
        """Days of the entity's business day plus hours."""
        assert BusinessDuration.parse(text) == BusinessDuration(days, hours)

    @pytest.mark.parametrize("text", ["", "2", "two days", "0d", "-1d"])
    def test_nonsense_targets_are_refused(self, text: str) -> None:
        """The message names the value."""
        with pytest.raises(DefinitionError, match="target"):
            BusinessDuration.parse(text)
