"""Secrets kept out of logs and CLI output: the ClickHouse password, the webhook and Slack URLs and
the client's API token are replaced by ``***`` in every log record of the process (whoever logs it:
our code, uvicorn, httpx) and in the CLI's error lines. API and ingest tokens need no redaction:
the service keeps only their digests."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from syncsight.config_file import FileConfig
from syncsight.settings import Settings

MASK = "***"
SHORTEST_SECRET = 4
"""Shorter strings are not masked: replacing every "ab" would garble the log and hide nothing."""
SHORTEST_SECRET_PATH = 16
"""A URL path this long is masked on its own; shorter ones (``/alerts``) name, not authorize."""


def url_secrets(url: str) -> list[str]:
    """The secret parts of a webhook URL: the URL itself, its password, its query, and a path long
    enough to be a credential (Slack's ``/services/T…/B…/…``), not a short one like ``/alerts``."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [url, *password_of(url)]
    if parts.query:
        found.append(parts.query)
    if len(parts.path) >= SHORTEST_SECRET_PATH:
        found.append(parts.path)
    return found


def password_of(url: str) -> list[str]:
    """The password of a ``scheme://user:password@host`` URL, as written and percent-decoded."""
    password = urlsplit(url).password
    return [password, unquote(password)] if password else []


def secrets_of(settings: Settings, config: FileConfig | None = None) -> list[str]:
    """Every secret string a process built from ``settings`` (and ``config``) holds in clear."""
    found = [
        *password_of(settings.clickhouse_url),
        *password_of(settings.insert_url),
        *password_of(settings.read_url),
        *url_secrets(settings.webhook_url.get_secret_value()),
        *url_secrets(settings.slack_webhook_url.get_secret_value()),
        *password_of(settings.alertmanager_url),
        settings.api_token.get_secret_value(),
    ]
    if config is not None:
        notifications = config.sla.notifications
        found += url_secrets(notifications.webhook_url)
        found += url_secrets(notifications.slack_webhook_url)
        found += password_of(notifications.alertmanager_url)
    return found


class Redactor:
    """Replaces each secret in a text by ``***``; longer secrets first, so a URL is masked whole
    rather than around its masked path."""

    def __init__(self, secrets: Iterable[str]) -> None:
        unique = {secret for secret in secrets if len(secret) >= SHORTEST_SECRET}
        self.secrets = tuple(sorted(unique, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


def redact_log_records(redactor: Redactor) -> Callable[[], None]:
    """Mask secrets in every log record created from now on; returns the function that undoes it.

    A record factory rather than a handler filter, because uvicorn installs handlers of its own:
    the message (and the traceback of ``exc_info``) is formatted here once and masked.
    """
    previous = logging.getLogRecordFactory()
    if not redactor.secrets:
        return lambda: None

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        masked = redactor(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            traceback = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redactor(traceback)
        return record

    logging.setLogRecordFactory(masked_record)
    return lambda: logging.setLogRecordFactory(previous)
