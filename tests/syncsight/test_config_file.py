"""The TOML config file: what it accepts and how it says no."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain import semconv as sc
from syncsight.config_file import ConfigFileError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syncsight.toml"
    path.write_text(text, encoding="utf-8")
    return path


class TestLoadConfig:
    def test_no_file_means_every_default(self) -> None:
        """Without SYNCSIGHT_CONFIG the default correlation rules apply."""
        assert load_config(None).correlation.keys_by_object_type()[sc.INVOICE] == [
            sc.object_id_key(sc.INVOICE)
        ]

    @pytest.mark.parametrize(
        "line",
        ['"salesforce.opportunity.id" = "contract"', 'salesforce.opportunity.id = "contract"'],
    )
    def test_correlation_keys_may_be_quoted_or_dotted(self, tmp_path: Path, line: str) -> None:
        """TOML dotted keys would nest; both spellings yield the same flat attribute key."""
        config = load_config(write(tmp_path, f"[correlation]\n{line}\n"))
        assert "salesforce.opportunity.id" in config.correlation.keys_by_object_type()[sc.CONTRACT]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('[correlation]\n"x.id" = "deal"\n', r"\[correlation\].*'deal': unknown object type"),
            ("[correlation\n", "invalid TOML"),
            ('[corelation]\n"x.id" = "contract"\n', "top level: corelation: unknown table"),
            ('correlation = "contract"\n', r"top level: correlation: 'contract': expected a table"),
        ],
    )
    def test_bad_files_are_refused_naming_the_problem(
        self, tmp_path: Path, text: str, message: str
    ) -> None:
        """Each mistake gets one message that names the file and what is wrong."""
        path = write(tmp_path, text)
        with pytest.raises(ConfigFileError, match=message) as raised:
            load_config(path)
        assert str(path) in str(raised.value)

    def test_an_unreadable_file_names_the_setting(self, tmp_path: Path) -> None:
        """A missing file is reported as the SYNCSIGHT_CONFIG value that points at it."""
        with pytest.raises(ConfigFileError, match=r"SYNCSIGHT_CONFIG=.*cannot read"):
            load_config(tmp_path / "missing.toml")


class TestCorrelationKeys:
    def test_an_unknown_object_type_is_refused_with_the_known_ones(self, tmp_path: Path) -> None:
        """The message names the key, the bad type and what is expected."""
        with pytest.raises(ConfigFileError, match=r"x.id: 'opportunity': unknown .*contract"):
            load_config(write(tmp_path, '[correlation]\n"x.id" = "opportunity"\n'))

    @pytest.mark.parametrize("key", ["a'b", "a b", "", "x" * 201, "k]) OR 1=1 --"])
    def test_keys_outside_the_safe_alphabet_are_refused(self, tmp_path: Path, key: str) -> None:
        """Keys become SQL literals in view DDL, so anything unusual is refused."""
        text = f'[correlation]\n"{key}" = "contract"\n'
        with pytest.raises(ConfigFileError, match="attribute keys may contain"):
            load_config(write(tmp_path, text))


class TestEveryTableSaysWhere:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                '# site rules\n[correlation]\n"crm.deal.id" = "deal"\n',
                "3: [correlation]: crm.deal.id: 'deal': unknown object type; expected one of ",
            ),
            (
                '[lineage]\nsource_event_types = ["ok.type", "no spaces"]\n',
                "2: [lineage]: source_event_types: ['ok.type', 'no spaces']: not an event type ",
            ),
            (
                '[[lineage.hops]]\nevent_type = "a.b"\nvia = "invoice"\nfrom = "c.d"\n'
                "required = 1\n",
                "5: [[lineage.hops]] #1: required: 1: expected a boolean",
            ),
            (
                "[lineage.stuck_after_days]\ndefault = 7\ncontract.signed = 0\n",
                "3: [lineage.stuck_after_days]: contract.signed: 0: expected a positive number",
            ),
            (
                '[owners]\nmapping = "data team"\n"no spaces please" = "x"\n',
                "3: [owners]: no spaces please: 'no spaces please': not an error category ",
            ),
            (
                '[[slas]]\nname = "time-to-invoice-posting"\n\n[[slas]]\nname = "new-one"\n'
                'start = "contract.signed"\nstop = "project.activated"\nkey = "contract"\n'
                'target = "2d"\nowner = 7\n',
                "10: [[slas]] #2 (new-one): owner: 7: expected a string",
            ),
            (
                '[calendars.default]\nclose_day = 3\n\n[calendars."LE-FR01"]\n'
                'working_hours = "9-17"\n',
                "5: [calendars.\"LE-FR01\"]: working_hours: '9-17': expected 'HH:MM-HH:MM'",
            ),
            (
                '[calendars.default]\nholiday_country = "DE"\nholiday_subdivision = "XX"\n',
                "3: [calendars.default]: holiday_subdivision: 'DE' (subdivision 'XX'): not known",
            ),
            (
                '[notifications]\npublic_url = "https://ok.example"\nresend_seconds = "soon"\n',
                "3: [notifications]: resend_seconds: 'soon': expected a positive number",
            ),
            (
                '[notifications.slack]\nurl = "https://hooks.example"\n',
                "2: [notifications.slack]: url: unknown key; expected one of webhook_url",
            ),
        ],
    )
    def test_each_table_refuses_with_file_line_table_field_reason(
        self, tmp_path: Path, text: str, expected: str
    ) -> None:
        """Every table's mistakes read ``file:line: table: field: reason``."""
        path = write(tmp_path, text)
        with pytest.raises(ConfigFileError) as raised:
            load_config(path)
        assert str(raised.value).startswith(f"{path}:{expected}")

    def test_every_mistake_of_a_file_is_listed(self, tmp_path: Path) -> None:
        """Two bad keys in two tables: one line each, so a site fixes them in one go."""
        text = '[owners]\nmapping = ""\n\n[calendars."LE-FR01"]\nclose_day = 40\n'
        path = write(tmp_path, text)
        with pytest.raises(ConfigFileError) as raised:
            load_config(path)
        assert [line.split(": ")[:3] for line in str(raised.value).splitlines()] == [
            [f"{path}:2", "[owners]", "mapping"],
            [f"{path}:5", '[calendars."LE-FR01"]', "close_day"],
        ]
