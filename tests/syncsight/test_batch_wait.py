"""How long a span waits for company before its insert: by default longer when the journal
answers the sender (the wait then only delays when the span can be queried) than when the insert
does (the sender waits with it)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from syncsight.settings import INSERT_BATCH_WAIT_MS, JOURNAL_BATCH_WAIT_MS, Settings

URL = "chdb:///tmp/syncsight-batch-wait-test"


def test_auto_waits_longer_when_the_journal_acknowledges() -> None:
    journal = Settings(clickhouse_url=URL)
    insert = Settings(clickhouse_url=URL, ingest_acknowledge="insert")
    assert journal.batch_max_wait_ms == "auto"
    assert journal.batch_max_wait_seconds == JOURNAL_BATCH_WAIT_MS / 1000
    assert insert.batch_max_wait_seconds == INSERT_BATCH_WAIT_MS / 1000
    assert INSERT_BATCH_WAIT_MS < JOURNAL_BATCH_WAIT_MS


@pytest.mark.parametrize("acknowledge", ["journal", "insert"])
def test_a_wait_given_is_kept_whatever_acknowledges(
    acknowledge: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCSIGHT_BATCH_MAX_WAIT_MS", "20")
    monkeypatch.setenv("SYNCSIGHT_INGEST_ACKNOWLEDGE", acknowledge)
    assert Settings(clickhouse_url=URL).batch_max_wait_seconds == 0.02
    monkeypatch.setenv("SYNCSIGHT_BATCH_MAX_WAIT_MS", " auto ")
    assert Settings(clickhouse_url=URL).batch_max_wait_ms == "auto"


@pytest.mark.parametrize("value", ["-5", "1.5", "soon", ""])
def test_a_wait_that_is_not_milliseconds_names_the_setting(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCSIGHT_BATCH_MAX_WAIT_MS", value)
    with pytest.raises(
        ValidationError, match=r"SYNCSIGHT_BATCH_MAX_WAIT_MS=.*expected milliseconds"
    ):
        Settings(clickhouse_url=URL)


@pytest.mark.parametrize("value", ["auto", " 3 ", "0"])
def test_the_insert_quorum_takes_auto_or_a_count_too(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quorum's setting is read by the same rule as the wait (one reader of ``auto`` or a
    count), and refused the same way."""
    monkeypatch.setenv("SYNCSIGHT_CLICKHOUSE_INSERT_QUORUM", value)
    quorum = Settings(clickhouse_url=URL).clickhouse_insert_quorum
    assert quorum == ("auto" if value == "auto" else int(value))
    monkeypatch.setenv("SYNCSIGHT_CLICKHOUSE_INSERT_QUORUM", "majority")
    with pytest.raises(
        ValidationError, match=r"SYNCSIGHT_CLICKHOUSE_INSERT_QUORUM=majority: expected 0"
    ):
        Settings(clickhouse_url=URL)
