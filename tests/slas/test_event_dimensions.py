"""Every event's legal entity and period as the business state resolves and keeps them
(``event_dimensions``): the period rule on its own, and on the real engine the versions ticks
write, which end where a derivation from scratch ends and stay as they were for a past
``known_at``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.periods import period_text
from slas.business_state import BusinessState
from tests.slas.events import at, event, retried, snapshot_of, span_rows
from tests.slas.tiny_quarter import Streamed, tick
from warehouse.spans import OTEL_TRACES_COLUMNS

pytestmark = pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)

LATEST = """
SELECT EventId, argMax((LegalEntity, Period), KnownAt)
FROM event_dimensions WHERE KnownAt <= {known_at:DateTime64(3, 'UTC')}
GROUP BY EventId ORDER BY EventId
"""


def latest(client: Client, known_at: datetime | None = None) -> dict[str, tuple[str, str]]:
    moment = known_at or datetime(2100, 1, 1, tzinfo=UTC)
    rows = client.query(LATEST, parameters={"known_at": moment}).result_rows
    return {str(event_id): (str(dims[0]), str(dims[1])) for event_id, dims in rows}


class TestPeriodRule:
    @pytest.mark.parametrize(
        ("attempts", "expected"),
        [
            # refused into a closed September, posted into October: October
            ([(at(0), sc.FAILED, "2026-09"), (at(1), sc.SUCCESS, "2026-10")], "2026-10"),
            # never succeeded: the first attempt's
            ([(at(0), sc.FAILED, "2026-09"), (at(1), sc.FAILED, "2026-10")], "2026-09"),
            # the success carries none: the first attempt's
            ([(at(0), sc.FAILED, "2026-08"), (at(1), sc.SUCCESS, "")], "2026-08"),
            # no period at all: the UTC month of the first attempt
            ([(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), sc.SUCCESS, "")], "2026-12"),
            ([(datetime(2027, 1, 1, tzinfo=UTC), sc.SUCCESS, ""),
              (datetime(2027, 2, 1, tzinfo=UTC), sc.FAILED, "")], "2027-01"),
        ],
    )  # fmt: skip
    def test_posted_into_else_first_attempt_else_its_month(
        self, attempts: list[tuple[datetime, str, str]], expected: str
    ) -> None:
        """The period an event belongs to, whatever order its attempts came in."""
        first = event(sc.INVOICE_POSTED, "INV-1", {sc.INVOICE: "INV-1"}, attempts[0][0])
        first.attempts = [attempts[0]]
        snapshot = snapshot_of([retried(first, *attempts[1:])], datetime(2030, 1, 1, tzinfo=UTC))
        assert period_text(int(snapshot.periods[0])) == expected


class TestStoredDimensions:
    def test_ticks_end_where_a_derivation_from_scratch_ends(
        self, streamed_quarter: Streamed
    ) -> None:
        """The tiny quarter tick by tick: every event's latest dimensions equal those of one
        derivation from everything; every event that references an object has them."""
        migrated, state = streamed_quarter.client, streamed_quarter.keeper
        incremental = latest(migrated)
        migrated.command("TRUNCATE TABLE event_dimensions")
        state.reset(datetime.now(UTC))
        tick(state)
        assert latest(migrated) == incremental
        keyed = migrated.query(
            "SELECT uniqExact(EventId) FROM biz_events "
            "WHERE arrayExists(r -> r.type NOT IN ('legal_entity', 'customer'), ObjectRefs)"
        ).result_rows[0][0]
        assert len(incremental) == keyed > 100
        assert sum(1 for entity, _ in incremental.values() if entity) > 0.9 * len(incremental)

    def test_an_entity_learnt_later_is_a_new_version_and_the_past_stays(
        self, migrated: Client, state: BusinessState
    ) -> None:
        """A time entry approved before its project's activation arrived has no legal entity as
        known then; once the activation is stored it takes the project's, from that tick on."""
        approval = event(
            sc.TIME_APPROVED, "TE-1", {sc.TIME_ENTRY: "TE-1", sc.PROJECT: "P-1"}, at(1)
        )
        activation = event(
            sc.PROJECT_ACTIVATED, "P-1", {sc.PROJECT: "P-1"}, at(0), legal_entity="LE-DE01"
        )
        migrated.insert("otel_traces", span_rows([approval]), column_names=OTEL_TRACES_COLUMNS)
        tick(state)
        before = state.watermark()
        migrated.insert("otel_traces", span_rows([activation]), column_names=OTEL_TRACES_COLUMNS)
        tick(state)
        assert latest(migrated, before) == {approval.event_id: ("", "2026-09")}
        assert latest(migrated) == {
            approval.event_id: ("LE-DE01", "2026-09"),
            activation.event_id: ("LE-DE01", "2026-09"),
        }
        tick(state)  # nothing new: no version
        count = migrated.query("SELECT count() FROM event_dimensions").result_rows[0][0]
        assert count == 3
