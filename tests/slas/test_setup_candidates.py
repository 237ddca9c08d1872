"""The candidate set-ups a process keeps (``slas.setup_candidates``) give the blocked invoices the
set-ups ``FAILED_SETUPS`` finds: a set-up failed after they were read is named once a later
``known_at`` is asked (only the rows stored since), rows rewritten under the watermark are read
again once a rebuild is recorded, and more candidates than kept are found by each answer, on the
real engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from domain import semconv as sc
from domain.business_event import BusinessEvent
from domain.instants import EPOCH
from lineage.owners import OwnerRouting
from lineage.rules import LineageRules
from slas import item_versions
from slas.business_state import WATERMARK_KEY, BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from slas.impact_answers import BlockedInvoiceAnswers
from slas.setup_candidates import SETUP_CANDIDATES
from tests.lineage.events import numbered_chain
from tests.slas.test_conflicting_errors import FIRST, _failed, _setup, _store
from warehouse.schema import SCHEMA_STATE
from warehouse.schema_state import REBUILD_KEY, write_state

POSTING_ERROR = (sc.MASTER_DATA, "E-POSTING")


def _set_up(signed: BusinessEvent, number: int, name: str) -> BusinessEvent:
    """Chain ``number``'s customer set-up ``name``, failed with ``FIRST``: a span of its own."""
    setup = _failed(_setup(signed, number), FIRST)
    return replace(
        setup,
        event_id=f"customer.synced:CUS-{number}-{name}",
        span_id=f"{number:04x}{name.encode().hex()}".ljust(16, "d")[:16],
    )


def _held_by_postings(client: Client, numbers: list[int]) -> dict[int, BusinessEvent]:
    """Chains ``numbers`` stored, each invoice's posting failed (its customer's set-ups count);
    each chain's signing, by number."""
    events, signed = [], {}
    for number in numbers:
        *steps, posted = numbered_chain(number)
        events += [*steps, _failed(posted, POSTING_ERROR)]
        signed[number] = steps[0]
    _store(client, events)
    return signed


def _state(client: Client) -> BusinessState:
    state = BusinessState(
        lambda: client,
        DEFAULT_SLAS,
        CalendarBook(),
        settle=timedelta(milliseconds=1),
        answer_watermarks_seconds=0,  # a watermark written from outside is seen at once
    )
    state.tick(datetime.now(UTC))
    return state


def _answers(
    client: Client, state: BusinessState, kept: int | None = None
) -> BlockedInvoiceAnswers:
    more = {} if kept is None else {"setups_kept": kept}
    return BlockedInvoiceAnswers(
        lambda: client, LineageRules.default(), OwnerRouting(), state, **more
    )


def _setups_named(
    answers: BlockedInvoiceAnswers, known_at: datetime | None = None
) -> tuple[datetime, dict[str, set[str]]]:
    """The answer's known_at, and each invoice's set-ups among its blockers."""
    known, found = answers.report(
        period=None, legal_entity=None, as_of=datetime.now(UTC), known_at=known_at
    )
    return known, {
        item.invoice or item.object.id: {
            b.event_id for b in item.blocked_by if b.event_type == sc.CUSTOMER_SYNCED
        }
        for item in found.items
    }


def _one_set_up_named(
    client: Client,
) -> tuple[dict[int, BusinessEvent], BusinessEvent, BusinessState, BlockedInvoiceAnswers, datetime]:
    """Chain 1 held by its failed posting, its customer's set-up failed, the state evaluated: the
    chain's signing, the set-up, the state, the answers and the known_at of their first answer
    (which names the set-up: the candidates are kept from then on)."""
    signed = _held_by_postings(client, [1])
    setup = _set_up(signed[1], 1, "a")
    _store(client, [setup])
    state = _state(client)
    answers = _answers(client, state)
    known, named = _setups_named(answers)
    assert named == {"INV-1": {setup.event_id}}
    return signed, setup, state, answers, known


def test_a_set_up_failed_after_the_candidates_were_read_is_named_at_a_later_known_at(
    migrated: Client,
) -> None:
    """The candidates kept cover the watermark they were read at; a set-up failed since, under a
    watermark another process wrote (no schema-state write of this process), is named at the new
    watermark, as a fresh read names it, and not at the first."""
    signed, first_setup, state, answers, first_known = _one_set_up_named(migrated)

    later_setup = _set_up(signed[1], 1, "b")
    _store(migrated, [later_setup])
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    migrated.insert(
        SCHEMA_STATE,
        [[key, later.isoformat(), later] for key in (WATERMARK_KEY, item_versions.WATERMARK_KEY)],
        column_names=["Key", "Value", "UpdatedAt"],
    )
    known, named = _setups_named(answers)
    assert known == later
    assert named == {"INV-1": {first_setup.event_id, later_setup.event_id}}
    assert (known, named) == _setups_named(_answers(migrated, state))
    assert _setups_named(answers, first_known) == (
        first_known,
        {"INV-1": {first_setup.event_id}},
    )


class _Counted:
    """A client that keeps the ``after`` of every ``SETUP_CANDIDATES`` read."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.afters: list[datetime] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)

    def query(
        self, sql: str, parameters: dict[str, object] | None = None, **more: object
    ) -> object:
        if sql == SETUP_CANDIDATES and parameters is not None:
            after = parameters["after"]
            assert isinstance(after, datetime)
            self.afters.append(after)
        return self.client.query(sql, parameters=parameters, **more)


def test_a_tick_adds_the_rows_stored_since_and_only_a_rebuild_reads_them_all_again(
    migrated: Client,
) -> None:
    """After ticks (schema-state writes of this process), a later ``known_at`` reads only the
    rows stored after what is kept (and names the set-up failed since); a rebuild record, by any
    process, makes the next read take every row again."""
    signed = _held_by_postings(migrated, [1])
    first = _set_up(signed[1], 1, "a")
    _store(migrated, [first])
    state = _state(migrated)
    counted = _Counted(migrated)
    answers = BlockedInvoiceAnswers(lambda: counted, LineageRules.default(), OwnerRouting(), state)
    known, named = _setups_named(answers)
    assert named == {"INV-1": {first.event_id}}
    assert counted.afters == [EPOCH]

    later = _set_up(signed[1], 1, "b")
    _store(migrated, [later])
    state.tick(datetime.now(UTC))
    state.tick(datetime.now(UTC))
    known_later, named = _setups_named(answers)
    assert known_later > known
    assert named == {"INV-1": {first.event_id, later.event_id}}
    assert counted.afters[1:] == [known]  # the rows stored after the first read's cover only

    write_state(migrated, REBUILD_KEY, "done", at=datetime.now(UTC))
    assert _setups_named(answers, known_later)[1] == named
    assert counted.afters[2:] == [EPOCH]


def test_rows_rewritten_under_the_watermark_are_read_again_once_a_rebuild_is_recorded(
    migrated: Client,
) -> None:
    """A rebuild rewrites the stored rows under the watermark and records itself: the
    candidates kept before are dropped, and the answer is what the rows now say (here the set-up's
    row of its customer rewritten as a success: no longer a candidate, so not named)."""
    _, setup, state, answers, known = _one_set_up_named(migrated)

    migrated.command(
        "ALTER TABLE biz_event_objects UPDATE Outcome = 'success' "
        f"WHERE EventId = '{setup.event_id}' SETTINGS mutations_sync = 2"
    )
    write_state(migrated, REBUILD_KEY, "done", at=datetime.now(UTC))
    assert _setups_named(answers) == (known, {"INV-1": set()})
    assert _setups_named(_answers(migrated, state)) == (known, {"INV-1": set()})


@pytest.mark.parametrize("kept", [0, 1, 2])
def test_more_candidates_than_kept_are_found_by_each_answer(migrated: Client, kept: int) -> None:
    """Two customers with a failed set-up each (two candidates): kept or not, every answer names
    both, in every order of asking."""
    signed = _held_by_postings(migrated, [1, 2])
    setups = {n: _set_up(signed[n], n, "a") for n in (1, 2)}
    _store(migrated, list(setups.values()))
    state = _state(migrated)
    answers = _answers(migrated, state, kept)
    expected = {f"INV-{n}": {setups[n].event_id} for n in (1, 2)}
    for _ in range(2):
        assert _setups_named(answers)[1] == expected


def test_a_set_up_stored_again_after_the_read_is_kept_once(migrated: Client) -> None:
    """A failed set-up re-sent (another span of the same event) after the candidates were read
    is among the rows stored since, but is the candidate already kept: kept once, so one
    candidate still fits a process that keeps one, and later reads stay the rows stored since."""
    signed = _held_by_postings(migrated, [1])
    setup = _set_up(signed[1], 1, "a")
    _store(migrated, [setup])
    state = _state(migrated)
    counted = _Counted(migrated)
    answers = BlockedInvoiceAnswers(
        lambda: counted, LineageRules.default(), OwnerRouting(), state, setups_kept=1
    )
    known, named = _setups_named(answers)
    assert named == {"INV-1": {setup.event_id}}

    _store(migrated, [replace(setup, span_id="e" * 16)])
    state.tick(datetime.now(UTC))
    known_again, named = _setups_named(answers)
    assert named == {"INV-1": {setup.event_id}}
    state.tick(datetime.now(UTC) + timedelta(seconds=1))
    _setups_named(answers)
    # the re-sent row read once, after the first cover; then only what was stored since
    assert counted.afters == [EPOCH, known, known_again]
