"""Secrets stay secret: the ClickHouse password, the webhook and Slack URLs and tokens never reach
a repr, a log line or the CLI's output, whether the service starts, fails to start or a notifier
fails."""

from __future__ import annotations

import logging
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from slas.dispatch import Dispatcher
from slas.notifiers.slack import SlackChannel
from slas.notifiers.webhook import WebhookChannel
from syncsight.redaction import MASK, Redactor, redact_log_records, secrets_of, url_secrets
from syncsight.settings import Settings
from tests.service import SYNCSIGHT, running_service
from tests.slas.test_notifiers import NOW, make_alert

PASSWORD = "pw-Cl1ckhouse-7f3a9c"
SLACK_PATH = "/services/T0SECRET/B0SECRET/slackSecret0123456789"
WEBHOOK_PATH = "/hooks/webhookSecret0123456789?key=queryKey987654"
CLIENT_TOKEN = "client-api-token-0123456789abcdef"


def secret_env(receiver: str = "http://127.0.0.1:9") -> dict[str, str]:
    return {
        "SYNCSIGHT_SLACK_WEBHOOK_URL": f"{receiver}{SLACK_PATH}",
        "SYNCSIGHT_WEBHOOK_URL": f"{receiver}{WEBHOOK_PATH}",
        "SYNCSIGHT_API_TOKEN": CLIENT_TOKEN,
    }


def assert_no_secret(text: str) -> None:
    for secret in (PASSWORD, "slackSecret0123456789", "webhookSecret0123456789", "queryKey987654"):
        assert secret not in text
    assert CLIENT_TOKEN not in text


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert SYNCSIGHT, "the syncsight console script is not installed in this environment"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSIGHT_")}
    return subprocess.run(
        [SYNCSIGHT, *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=cwd,
        timeout=120,
        check=False,
    )


class TestRepr:
    def test_settings_repr_masks_password_urls_and_tokens(self) -> None:
        """repr/str of Settings: the URL keeps its host but not its password; secrets are stars."""
        settings = Settings(
            clickhouse_url=f"http://syncsight:{PASSWORD}@clickhouse:8123/syncsight",
            **{
                key.removeprefix("SYNCSIGHT_").lower(): value for key, value in secret_env().items()
            },  # type: ignore[arg-type]
        )
        for text in (repr(settings), str(settings)):
            assert_no_secret(text)
            assert "http://syncsight:***@clickhouse:8123/syncsight" in text


class TestCommandLine:
    def test_an_unreachable_server_is_named_without_its_password(self, tmp_path: Path) -> None:
        """`migrate` against a closed port: one error line with the host, the password masked."""
        url = f"http://syncsight:{PASSWORD}@127.0.0.1:9/syncsight"
        result = run_cli("migrate", env={"SYNCSIGHT_CLICKHOUSE_URL": url}, cwd=tmp_path)
        assert result.returncode == 2
        assert "cannot open ClickHouse at 'http://syncsight:***@127.0.0.1:9/syncsight'" in (
            " ".join(result.stderr.split())
        )
        assert_no_secret(result.stdout + result.stderr)

    def test_an_unknown_scheme_is_named_without_the_password(self, tmp_path: Path) -> None:
        """A typo in the scheme stops serve naming the value, with its password masked."""
        url = f"htp://syncsight:{PASSWORD}@clickhouse:8123/db"
        result = run_cli("serve", env={"SYNCSIGHT_CLICKHOUSE_URL": url}, cwd=tmp_path)
        assert result.returncode == 2
        assert "unsupported scheme 'htp'" in result.stderr
        assert_no_secret(result.stdout + result.stderr)

    def test_a_failed_start_logs_no_secret(self, tmp_path: Path) -> None:
        """serve whose ClickHouse refuses connections: the traceback and log carry no secret."""
        env = {
            **secret_env(),
            "SYNCSIGHT_CLICKHOUSE_URL": f"http://syncsight:{PASSWORD}@127.0.0.1:9/db",
            "SYNCSIGHT_PORT": "0",
            "SYNCSIGHT_GRPC_PORT": "0",
        }
        result = run_cli("serve", "--verbose", env=env, cwd=tmp_path)
        assert result.returncode != 0
        assert "Connection refused" in result.stderr
        assert_no_secret(result.stdout + result.stderr)


class TestRunningService:
    def test_start_up_and_shutdown_log_no_secret(self, tmp_path: Path) -> None:
        """A verbose service with both notifiers configured logs their names, never their URLs."""
        with running_service(tmp_path, env=secret_env(), args=("--verbose",)) as service:
            assert httpx.get(f"{service.base_url}/readyz").status_code == 200
        log = service.log()
        assert "notifiers: webhook, slack" in log
        assert_no_secret(log)


class TestFailingNotifier:
    @pytest.mark.parametrize(
        "channel",
        [
            SlackChannel(f"http://hooks.test{SLACK_PATH}"),
            WebhookChannel(f"http://hooks.test{WEBHOOK_PATH}"),
        ],
    )
    def test_the_warning_names_the_host_not_the_url(
        self, channel: SlackChannel | WebhookChannel, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A channel answering 500: the warning says which channel and host, not the secret path."""
        transport = httpx.MockTransport(lambda request: httpx.Response(500, text="no such hook"))
        dispatcher = Dispatcher(
            [channel],
            None,
            grace=timedelta(minutes=5),
            resend=timedelta(minutes=1),
            http=httpx.Client(transport=transport),
        )
        alert = make_alert("BE-1")
        with caplog.at_level(logging.WARNING, logger="slas.dispatch"):
            dispatcher.dispatch({alert.fingerprint: alert}, now=NOW)
        assert (
            f"notifier {channel.name} failed (POST http://hooks.test/… answered 500" in caplog.text
        )
        assert_no_secret(caplog.text)


class TestRedactor:
    def test_third_party_log_lines_are_masked(self, caplog: pytest.LogCaptureFixture) -> None:
        """httpx logs every request URL at INFO; with the redactor installed the path is masked."""
        settings = Settings(
            **{k.removeprefix("SYNCSIGHT_").lower(): v for k, v in secret_env().items()}
        )  # type: ignore[arg-type]
        undo = redact_log_records(Redactor(secrets_of(settings)))
        transport = httpx.MockTransport(lambda request: httpx.Response(204))
        try:
            with caplog.at_level(logging.INFO, logger="httpx"):
                httpx.Client(transport=transport).post(f"http://hooks.test{SLACK_PATH}")
                try:
                    raise RuntimeError(f"failed on {WEBHOOK_PATH}")
                except RuntimeError:
                    logging.getLogger("httpx").exception("delivery failed")
        finally:
            undo()
        text = caplog.text
        assert "HTTP Request: POST" in text
        assert MASK in text
        assert_no_secret(text)

    def test_short_strings_are_not_masked(self) -> None:
        """A one-letter password would garble every line; only strings of 4+ characters count."""
        assert Redactor(["ab", "secret"])("ab secret") == f"ab {MASK}"

    def test_a_whole_url_is_masked_before_its_parts(self) -> None:
        """The longest secret goes first, so the URL disappears entirely."""
        url = f"https://hooks.slack.com{SLACK_PATH}"
        assert Redactor([SLACK_PATH, url])(f"POST {url} failed") == f"POST {MASK} failed"


class TestUrlSecrets:
    def test_a_slack_path_and_a_query_are_secret_a_short_path_is_not(self) -> None:
        """Credentials live in long paths and queries; /alerts alone would mask every mention."""
        assert SLACK_PATH in url_secrets(f"https://hooks.test{SLACK_PATH}")
        assert "key=abcd1234" in url_secrets("https://hooks.test/alerts?key=abcd1234")
        assert "/alerts" not in url_secrets("https://hooks.test/alerts")
