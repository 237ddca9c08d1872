"""The TOML config file: what it accepts and how it says no."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncsight.config_file import ConfigFileError, load_config
from warehouse import semconv as sc


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
            ('[corelation]\n"x.id" = "contract"\n', "unknown table.*corelation"),
            ('correlation = "contract"\n', r"\[correlation\] must be a table"),
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
