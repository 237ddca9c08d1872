"""A spool belongs to the database it was written for: elsewhere it is refused, never replayed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.spool import IDENTITY_FILE, Spool, SpoolOfAnotherDatabase
from syncsight.settings import Settings
from tests.collector.test_writer import rows
from warehouse.client import describe_database

FIRST = describe_database("chdb:///srv/first")
SECOND = describe_database("http://ingest:secret@ch.internal:8123/second")


class TestIdentity:
    def test_a_spool_holding_batches_for_another_database_is_refused_naming_both(
        self, tmp_path: Path
    ) -> None:
        """Start-up against another database stops with a message naming both databases."""
        Spool(tmp_path, max_bytes=10**7, database=FIRST).append(rows(3, "first"))
        with pytest.raises(SpoolOfAnotherDatabase) as refused:
            Spool(tmp_path, max_bytes=10**7, database=SECOND)
        message = str(refused.value)
        assert "written for the database chdb:///srv/first" in message
        assert "not for http://ingest@ch.internal:8123/second" in message
        assert "SYNCSIGHT_SPOOL_DIR" in message
        assert len(list(tmp_path.glob("*.spool"))) == 1  # nothing was touched

    def test_a_quarantined_batch_alone_also_ties_the_spool(self, tmp_path: Path) -> None:
        """Batches set aside belong to their database too."""
        Spool(tmp_path, max_bytes=10**7, database=FIRST).quarantine_batch(rows(1, "q"), "bad")
        with pytest.raises(SpoolOfAnotherDatabase):
            Spool(tmp_path, max_bytes=10**7, database=SECOND)

    def test_an_empty_spool_is_taken_over_by_another_database(self, tmp_path: Path) -> None:
        """Nothing to replay, nothing to protect: the spool records its new database."""
        Spool(tmp_path, max_bytes=10**7, database=FIRST)
        Spool(tmp_path, max_bytes=10**7, database=SECOND)
        recorded = json.loads((tmp_path / IDENTITY_FILE).read_text())
        assert recorded["database"] == SECOND

    def test_the_same_database_reopens_its_spool(self, tmp_path: Path) -> None:
        Spool(tmp_path, max_bytes=10**7, database=FIRST).append(rows(3, "first"))
        assert Spool(tmp_path, max_bytes=10**7, database=FIRST).file_count == 1

    def test_an_unreadable_identity_file_is_refused_with_its_expected_shape(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / IDENTITY_FILE).write_text("{not json")
        with pytest.raises(SpoolOfAnotherDatabase, match="is not readable"):
            Spool(tmp_path, max_bytes=10**7, database=FIRST)


class TestDatabaseDescription:
    def test_the_password_never_reaches_the_description(self) -> None:
        assert "secret" not in SECOND
        assert SECOND == "http://ingest@ch.internal:8123/second"

    @pytest.mark.parametrize(
        ("url", "database", "expected"),
        [
            ("chdb:///srv/data", None, "chdb:///srv/data"),
            ("chdb:///srv/data", "test_1", "chdb:///srv/data database test_1"),
            ("chdb://memory", None, "chdb://memory"),
            ("https://ch:8443", None, "https://ch:8443/default"),
            ("http://u:p@ch:8123/traces", "other", "http://u@ch:8123/other"),
        ],
    )
    def test_each_engine_is_described_by_what_tells_databases_apart(
        self, url: str, database: str | None, expected: str
    ) -> None:
        assert describe_database(url, database=database) == expected


class TestDefaultDirectory:
    def test_an_embedded_engines_spool_lives_in_its_data_directory(self) -> None:
        """Two data directories, two spools, whatever the working directory."""
        settings = Settings(clickhouse_url="chdb:///srv/syncsight/data")
        assert settings.spool_directory == Path("/srv/syncsight/data/syncsight-spool")

    def test_a_server_url_keeps_the_working_directorys_spool(self) -> None:
        settings = Settings(clickhouse_url="http://ch:8123/db")
        assert settings.spool_directory == Path(".syncsight/spool")

    def test_an_explicit_spool_dir_wins(self, tmp_path: Path) -> None:
        settings = Settings(clickhouse_url="chdb:///srv/data", spool_dir=tmp_path)
        assert settings.spool_directory == tmp_path
