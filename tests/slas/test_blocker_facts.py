"""The facts of the failures that hold close items, kept on the items' rows (migration 20), on the
real engine: the blocked-invoice answer and the work-queue count read them there instead of from
``biz_events``, and give what the oracle (``BlockedInvoiceAnswers(narrowed=False)``, every item in
flight assessed in Python and every blocking event read from ``biz_events``) gives, at random
instants and knowledge times of a quarter streamed with late arrivals. Rows written before the
migration hold no facts: the answer reads those from ``biz_events``, until the re-derivation the
changed configuration fingerprint starts writes versions that hold them."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BLOCKERS, BlockedInvoiceAnswers
from slas.state_config import CONFIG_KEY
from slas.timer_answers import TimerAnswers
from slas.work_item_metrics import WorkItemCounts
from slas.work_items import ACKNOWLEDGED, ActionRequest
from slas.work_queue import WorkQueue
from tests.slas.test_work_queue import samples
from tests.slas.tiny_quarter import END, late_arrivals_copy, tick
from tests.templates import Templates
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate
from warehouse.schema import BLOCKER_FACT_COLUMNS, SCHEMA_MIGRATIONS
from warehouse.schema_state import write_state

pytestmark = pytest.mark.dear  # minutes: scheduled first (tests/conftest.py)

START = END - timedelta(days=100)
WITH_FACTS = " OR ".join(
    f"{name} IS NOT NULL" for name, _ in BLOCKER_FACT_COLUMNS if name.endswith("Since")
)


class ReadsOfBiz:
    """A client on the real engine that counts the event ids the answers read from
    ``biz_events`` (``BLOCKERS``)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.event_ids = 0

    def query(self, statement: str, parameters: dict[str, Any] | None = None) -> Any:
        if statement == BLOCKERS and parameters is not None:
            self.event_ids += len(parameters["event_ids"])
        return self._client.query(statement, parameters=parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def compare(
    client: Client,
    keeper: BusinessState,
    instants: list[tuple[datetime, datetime | None, str | None, str | None]],
) -> tuple[int, int]:
    """Assert the narrowed answer equals the oracle's at each (as_of, known_at, period, entity),
    listing every item or (every other instant) only the largest; the blockers shown, and how
    many of their events the narrowed answers read from ``biz_events``."""
    reads = ReadsOfBiz(client)
    rules, owners = LineageRules.default(), OwnerRouting()
    narrowed = BlockedInvoiceAnswers(lambda: reads, rules, owners, keeper)  # type: ignore[arg-type, return-value]
    oracle = BlockedInvoiceAnswers(lambda: client, rules, owners, keeper, narrowed=False)
    shown = 0
    for index, (as_of, known, period, entity) in enumerate(instants):
        limit = (None, 3)[index % 2]
        asked: dict[str, Any] = {
            "period": period,
            "legal_entity": entity,
            "as_of": as_of,
            "known_at": known,
        }
        answer = narrowed.report(**asked, limit=limit)
        expected = oracle.report(**asked, limit=limit)
        assert answer == expected, (as_of, known, period, entity, limit)
        shown += len({b.event_id for item in answer[1].items for b in item.blocked_by})
    return shown, reads.event_ids


def instants(
    client: Client, watermarks: list[datetime], count: int, seed: int
) -> list[tuple[datetime, datetime | None, str | None, str | None]]:
    """Random (as_of, known_at, period, entity): known_at before, between and after the late
    arrivals, or the latest."""
    periods = [
        str(r[0]) for r in client.query("SELECT DISTINCT DuePeriod FROM close_items").result_rows
    ]
    entities = [
        str(r[0]) for r in client.query("SELECT DISTINCT LegalEntity FROM close_items").result_rows
    ]
    rng = random.Random(seed)
    chosen = []
    for _ in range(count):
        as_of = START + timedelta(seconds=rng.uniform(0, (END - START).total_seconds() + 3e6))
        known = rng.choice(
            [None, rng.choice(watermarks), rng.choice(watermarks) - timedelta(milliseconds=1)]
        )
        chosen.append(
            (as_of, known, rng.choice([None, None, *periods]), rng.choice([None, None, *entities]))
        )
    return chosen


def forget_migration_20(client: Client) -> None:
    """Take ``close_items`` back to before migration 20: its rows lose the facts (and the
    projection and ``HeldUntil`` go), as rows written before it never had them; the digests of
    the rows that held some are what the code before it spelled (not what the code now
    spells for the same item)."""
    client.command(
        f"ALTER TABLE close_items UPDATE Digest = 0 WHERE {WITH_FACTS} SETTINGS mutations_sync = 2"
    )
    client.command("ALTER TABLE close_items DROP PROJECTION IF EXISTS held")
    dropped = ", ".join(
        f"DROP COLUMN {name}" for name, _ in (*BLOCKER_FACT_COLUMNS, ("HeldUntil", ""))
    )
    client.command(f"ALTER TABLE close_items {dropped}")
    client.command(f"DELETE FROM {SCHEMA_MIGRATIONS} WHERE Version = 20")


class TestFactsOnTheRows:
    def test_answers_from_the_rows_equal_the_oracle_before_and_after_the_upgrade(
        self, client: Client, engine_url: str, templates: Templates
    ) -> None:
        """Streamed with migration 20, the answers at 30 random instants equal the oracle's and
        read the blocking events from their rows (few from ``biz_events``). The same rows upgraded
        from before it hold no facts: the answers are still the oracle's, reading every blocking
        event from ``biz_events``. The changed configuration re-derives everything: the new
        versions hold the facts, the answers are the oracle's (and a past knowledge time's
        answer is the one it was), and read the events from the rows again."""
        watermarks, keeper = late_arrivals_copy(
            templates, engine_url, client, seed=7, scale="small", chunk=3000
        )
        migrated = client
        asked = instants(migrated, watermarks, 30, seed=8)
        shown, read = compare(migrated, keeper, asked)
        assert shown > 0
        assert read < shown / 5

        forget_migration_20(migrated)
        assert migrate(migrated, CorrelationRules.default()).applied == (20,)
        facts = f"SELECT countIf({WITH_FACTS}), count() FROM close_items"
        assert migrated.query(facts).result_rows[0][0] == 0
        shown_before, read_before = compare(migrated, keeper, asked)
        assert shown_before == shown
        assert read_before >= shown

        versions = migrated.query("SELECT count() FROM close_items").result_rows[0][0]
        write_state(migrated, CONFIG_KEY, "before migration 20", at=datetime.now(UTC))
        tick(keeper)
        with_facts, total = migrated.query(facts).result_rows[0]
        # the items some step of which failed got a version with the facts, no other item did
        assert with_facts > 0
        assert total - versions == with_facts
        upgraded = [*asked, *((as_of, None, period, entity) for as_of, _, period, entity in asked)]
        shown_after, read_after = compare(migrated, keeper, upgraded)
        assert read_after < shown_after / 2  # half the instants are before the re-derivation


class TestWorkQueueCount:
    def test_the_count_from_the_rows_is_the_one_the_oracle_gives(
        self, client: Client, engine_url: str, templates: Templates
    ) -> None:
        """``syncsight_work_items`` counted over the narrowed answer (the facts on the rows) is
        the count over the oracle's, by state and kind, with an item acknowledged."""
        _, keeper = late_arrivals_copy(
            templates, engine_url, client, seed=7, scale="small", chunk=3000
        )
        migrated = client
        book, owners = CalendarBook(), OwnerRouting()

        def queue(narrowed: bool, client: Callable[[], Any]) -> WorkQueue:
            return WorkQueue(
                client,
                BlockedInvoiceAnswers(
                    client, LineageRules.default(), owners, keeper, narrowed=narrowed
                ),
                TimerAnswers(client, DEFAULT_SLAS, book, keeper),
                book,
                sla_owners={d.name: d.owner for d in DEFAULT_SLAS},
                default_owner=owners.default,
            )

        now = datetime.now(UTC)
        rows = queue(True, lambda: migrated)
        oracle = queue(False, lambda: migrated)
        failing = sorted(i for i, item in rows.open_items(now).items() if item.blocked_items)
        assert failing
        rows.act(failing[0], ActionRequest(ACKNOWLEDGED, "dana.ops"), now)
        counted = samples(WorkItemCounts(rows, lambda: now, every=0, busy_share=1.0))
        assert counted == samples(WorkItemCounts(oracle, lambda: now, every=0, busy_share=1.0))
        assert counted[("acknowledged", "blocking_failure")] == 1
        assert counted[("open", "blocking_failure")] > 0

    def test_the_failures_read_as_steps_are_the_blockers_the_answer_names(
        self, client: Client, engine_url: str, templates: Templates
    ) -> None:
        """The failures the count reads as the steps that hold items (``blocking_events``, no item
        read) are, at random instants, the blockers the oracle's answer names over every item."""
        watermarks, keeper = late_arrivals_copy(
            templates, engine_url, client, seed=7, scale="small", chunk=3000
        )
        migrated = client
        rules, owners = LineageRules.default(), OwnerRouting()
        steps = BlockedInvoiceAnswers(lambda: migrated, rules, owners, keeper)
        oracle = BlockedInvoiceAnswers(lambda: migrated, rules, owners, keeper, narrowed=False)
        named = set()
        for as_of, _, _, _ in instants(migrated, watermarks, 12, seed=12):
            _, answer = oracle.report(period=None, legal_entity=None, as_of=as_of, known_at=None)
            wanted = {blocker.event_id for item in answer.items for blocker in item.blocked_by}
            assert steps.blocking_events(as_of) == wanted, as_of
            named |= wanted
        assert len(named) > 1
