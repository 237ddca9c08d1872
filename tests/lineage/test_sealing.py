"""The ledger's sealer on the real engine: a round seals the finished days and counts them; while
its table is gone every round fails, ``problem`` and the service's ``/readyz`` say why and
``/metrics`` counts the failures; once the table is back the next round seals and all is well."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

import lineage.sealing
from lineage.ledger import Ledger
from lineage.sealing import Sealer
from lineage.signing import Signer
from tests.lineage.test_ledger import NOON, add_facts
from tests.service import degraded_while_away, in_process_app, table_away
from tests.warehouse.test_mutations import metric

LATER = NOON + timedelta(days=1, hours=2)


def until(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.fixture
def sealer(migrated: Client) -> Iterator[Sealer]:
    """A sealer of two days of facts (the first one over), going round every 50 ms."""
    add_facts(migrated, 0, 3, NOON)
    add_facts(migrated, 3, 2, LATER - timedelta(hours=1))
    running = Sealer(
        lambda: migrated,
        Ledger(Signer.generate()),
        settle=timedelta(seconds=5),
        clock=lambda: LATER,
        interval=0.05,
        retry=0.05,
    )
    yield running
    running.stop()


def counted(sealer: Sealer, name: str) -> float:
    return metric(sealer.render().decode(), name).get("", 0.0)


class TestSealer:
    def test_a_round_seals_the_finished_days_and_counts_them(self, sealer: Sealer) -> None:
        sealer.start()
        until(lambda: counted(sealer, "syncsight_ledger_sealed_days_total") == 1, "never sealed")
        assert sealer.problem() is None
        assert counted(sealer, "syncsight_ledger_last_seal_success_timestamp_seconds") > 0
        assert counted(sealer, "syncsight_ledger_seal_failures_total") == 0

    def test_failing_rounds_are_reported_until_one_succeeds(
        self, sealer: Sealer, migrated: Client
    ) -> None:
        with table_away(migrated, "ledger_heads"):
            sealer.start()
            until(lambda: sealer.problem() is not None, "the failing rounds were not reported")
            assert "ledger_heads" in str(sealer.problem())
            until(lambda: counted(sealer, "syncsight_ledger_seal_failures_total") >= 2, "one try")
            assert counted(sealer, "syncsight_ledger_sealed_days_total") == 0
        until(lambda: sealer.problem() is None, "never recovered")
        until(lambda: counted(sealer, "syncsight_ledger_sealed_days_total") == 1, "never sealed")

    def test_sealing_asked_to_stop_ends_between_two_days(self, migrated: Client) -> None:
        """Three finished days, and a stop asked once the first is sealed: one head, and the
        next round seals the other two."""
        for day in range(3):
            add_facts(migrated, 10 * day, 2, NOON + timedelta(days=day))
        ledger = Ledger(Signer.generate())
        later = NOON + timedelta(days=4)
        asked: list[int] = []

        def stopping() -> bool:
            asked.append(1)
            return len(asked) > 1

        settle = timedelta(seconds=5)
        sealed = ledger.seal_finished_days(migrated, now=later, settle=settle, stopping=stopping)
        assert sealed == 1
        assert ledger.seal_finished_days(migrated, now=later, settle=settle) == 2

    def test_a_sealer_asked_to_stop_is_no_problem(self, sealer: Sealer) -> None:
        """A shutdown's stop is what was asked for: ``/readyz`` in the last moments of a
        shutdown does not report the ledger as failed."""
        sealer.start()
        sealer.stop()
        assert sealer.problem() is None

    @pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
    def test_a_sealer_whose_loop_died_is_a_problem(
        self, sealer: Sealer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A loop that ended without being asked (an error the round does not catch) is."""

        class Died(BaseException):
            pass

        def dies(*args: object, **kwargs: object) -> int:
            raise Died

        monkeypatch.setattr(Ledger, "seal_finished_days", dies)
        sealer.start()
        until(lambda: sealer.problem() is not None, "the dead loop was never reported")
        assert sealer.problem() == "the ledger-sealer loop has stopped"


def test_the_service_reports_a_failing_sealer(
    chdb_url: str,
    database: str,
    migrated: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the service's own endpoints: degraded (200) naming the sealer's error while its
    table is gone, failures counted in ``/metrics``, ``ok`` again once it is back."""
    monkeypatch.setattr(lineage.sealing, "SEALING_INTERVAL_SECONDS", 0.05)
    monkeypatch.setattr(lineage.sealing, "RETRY_SECONDS", 0.05)
    app = in_process_app(chdb_url, database, tmp_path, sla_interval=5)
    said = degraded_while_away(app, migrated, "ledger_heads")
    assert "ledger-sealer loop failed" in said.ready["ledger"]
    assert "ledger_heads" in said.ready["ledger"]
    assert metric(said.metrics, "syncsight_ledger_seal_failures_total")[""] >= 1
    assert "ledger" not in said.recovered
