"""The separate ClickHouse URLs of serve: inserts (an insert-only user) and REST API reads (a
read-only user), each falling back to the main URL, never a second embedded engine, and never
shown with their passwords."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from syncsight.redaction import secrets_of
from syncsight.settings import Settings

ADMIN = "http://syncsight:admin-secret-0123456789@clickhouse:8123/syncsight"
WRITER = "http://syncsight_writer:writer-secret-0123456789@clickhouse:8123/syncsight"
READER = "http://syncsight_reader:reader-secret-0123456789@clickhouse:8123/syncsight"


class TestClickHouseUrls:
    def test_insert_and_read_urls_default_to_the_main_url(self) -> None:
        """Without them, serve inserts and reads as the main URL's user, as before."""
        settings = Settings(clickhouse_url=ADMIN)
        assert (settings.insert_url, settings.read_url) == (ADMIN, ADMIN)

    def test_separate_users_are_used_when_given(self) -> None:
        settings = Settings(
            clickhouse_url=ADMIN, clickhouse_insert_url=WRITER, clickhouse_read_url=READER
        )
        assert (settings.insert_url, settings.read_url) == (WRITER, READER)

    @pytest.mark.parametrize("name", ["clickhouse_insert_url", "clickhouse_read_url"])
    def test_an_embedded_engine_has_no_second_url(self, name: str) -> None:
        """chdb runs one engine per process: another chdb path is refused, naming the setting."""
        with pytest.raises(ValidationError, match=f"SYNCSIGHT_{name.upper()}='chdb:///other'"):
            Settings(clickhouse_url="chdb:///data", **{name: "chdb:///other"})  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="one data path per process"):
            Settings(clickhouse_url="chdb:///data", **{name: WRITER})  # type: ignore[arg-type]
        same = Settings(clickhouse_url="chdb:///data", **{name: "chdb:///data"})  # type: ignore[arg-type]
        assert getattr(same, name) == "chdb:///data"

    def test_an_unknown_scheme_names_the_setting_without_the_password(self) -> None:
        with pytest.raises(ValidationError) as refused:
            Settings(
                clickhouse_url=ADMIN, clickhouse_read_url="ftp://u:reader-secret-0123456789@h/db"
            )
        message = str(refused.value)
        assert "SYNCSIGHT_CLICKHOUSE_READ_URL='ftp://u:***@h/db'" in message
        assert "reader-secret" not in message

    def test_passwords_are_masked_in_repr_and_known_to_the_log_redactor(self) -> None:
        settings = Settings(
            clickhouse_url=ADMIN, clickhouse_insert_url=WRITER, clickhouse_read_url=READER
        )
        text = repr(settings)
        assert "writer-secret" not in text
        assert "reader-secret" not in text
        assert "http://syncsight_reader:***@clickhouse:8123/syncsight" in text
        secrets = secrets_of(settings)
        assert "writer-secret-0123456789" in secrets
        assert "reader-secret-0123456789" in secrets
