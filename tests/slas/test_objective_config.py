"""Objectives in the [[slas]] tables: what they accept, what they default to, how they say no."""

from __future__ import annotations

from pathlib import Path

import pytest

from slas.definitions import DEFAULT_SLAS, BusinessDuration
from slas.objectives import DEFAULT_WINDOW, Objective, ObjectiveBook
from syncsight.config_file import ConfigFileError, load_config
from tests.slas.test_config import write


class TestObjectives:
    def test_without_an_objective_no_sla_has_a_budget(self, tmp_path: Path) -> None:
        """The safe default: no objective, no error budget, no SlaBudgetBurn."""
        book = load_config(write(tmp_path, "")).sla.objectives
        assert book == ObjectiveBook()
        assert not book

    def test_an_objective_with_its_window_and_an_entity_of_its_own(self, tmp_path: Path) -> None:
        """The SLA's objective and window; the entity inherits the window it leaves out."""
        text = """
[[slas]]
name = "time-to-invoice-posting"
objective = 0.95
window = "10d"

[slas.entity_objectives."LE-DE01"]
objective = 0.99

[[slas]]
name = "time-to-bill-readiness"
objective = 0.9
"""
        sla = load_config(write(tmp_path, text)).sla
        assert sla.definitions == DEFAULT_SLAS, "an objective changes no definition"
        book = sla.objectives
        assert book.objective("time-to-invoice-posting", "LE-US01") == Objective(
            0.95, BusinessDuration(days=10)
        )
        assert book.objective("time-to-invoice-posting", "LE-DE01") == Objective(
            0.99, BusinessDuration(days=10)
        )
        assert book.objective("time-to-bill-readiness", "LE-DE01") == Objective(0.9, DEFAULT_WINDOW)
        assert book.objective("time-to-revenue-posting", "LE-DE01") is None

    def test_an_entity_may_have_an_objective_its_sla_lacks(self, tmp_path: Path) -> None:
        """Only LE-UK01 watches its budget; the other entities have none."""
        text = """
[[slas]]
name = "time-to-project-creation"

[slas.entity_objectives."LE-UK01"]
objective = 0.8
window = "5d"
"""
        book = load_config(write(tmp_path, text)).sla.objectives
        assert book.slas == ["time-to-project-creation"]
        assert book.objective("time-to-project-creation", "LE-UK01") == Objective(
            0.8, BusinessDuration(days=5)
        )
        assert book.objective("time-to-project-creation", "LE-US01") is None

    def test_a_disabled_sla_keeps_no_objective(self, tmp_path: Path) -> None:
        """enabled = false drops the SLA's objective with it."""
        text = """
[[slas]]
name = "time-to-invoice-posting"
objective = 0.95

[[slas]]
name = "time-to-invoice-posting"
enabled = false
"""
        assert not load_config(write(tmp_path, text)).sla.objectives

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ("objective = 1.0\n", r":3: \[\[slas\]\] #1 \(time-to-invoice-posting\): objective: "
             r"1.0: expected the share of timers to meet, between 0 and 1"),
            ('objective = "95%"\n', r"objective: '95%': expected the share"),
            ('objective = 0.9\nwindow = "a month"\n', r":4: .*window: 'a month': expected "
             r"business days/hours/minutes"),
            ('window = "10d"\n', r":3: .*window: a window needs an objective"),
            ('\n[slas.entity_objectives."LE-DE01"]\nwindow = "5d"\n',
             r"entity_objectives.LE-DE01.objective: no objective to inherit"),
            ('\n[slas.entity_objectives."LE-DE01"]\nobjectiv = 0.9\n',
             r"unknown key; expected one of objective, window"),
        ],
    )  # fmt: skip
    def test_a_bad_objective_is_refused_with_its_line(
        self, tmp_path: Path, body: str, message: str
    ) -> None:
        """file:line: [[slas]] #n (name): field: the value and what was expected."""
        text = '[[slas]]\nname = "time-to-invoice-posting"\n' + body
        with pytest.raises(ConfigFileError, match=message):
            load_config(write(tmp_path, text))
