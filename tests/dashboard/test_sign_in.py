"""The dashboard asks who you are: against a service with API tokens and a dashboard holding none,
Streamlit's AppTest sees a sign-in form, a wrong token refused, the pages once a viewer signs in,
the sidebar naming who signed in as the service names the token, and the Audit page acting with
each person's role (viewer told, auditor served, admin shown the access trail); against a
local-only service it asks nobody."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.api_session import SESSION_TOKEN
from tests.collector.test_hostile_input import invoice_request, post
from tests.service import Service, running_service, wait_until_inserted
from tests.syncsight.test_caller_api import short_hash

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
VIEWER_TOKEN = "dashboard-viewer-0123456789abcdef"
AUDITOR_TOKEN = "dashboard-auditor-0123456789abcdef"
ADMIN_TOKEN = "dashboard-admin-0123456789abcdef"
INGEST_TOKEN = "dashboard-ingest-0123456789abcdef"
AUDIT_SCOPE = {"period": "2026-10", "legal_entity": "LE-US01"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service with API tokens that has stored one invoice of LE-US01: the Audit page reports
    on an entity some business event names (another is refused by name)."""
    env = {
        "SYNCSIGHT_API_TOKENS": f"{VIEWER_TOKEN}:viewer,ada.auditor={AUDITOR_TOKEN}:auditor,"
        f"root.admin={ADMIN_TOKEN}:admin",
        "SYNCSIGHT_INGEST_TOKENS": INGEST_TOKEN,
    }
    with running_service(tmp_path_factory.mktemp("sign-in"), env=env) as service:
        body = invoice_request(["INV-SIGN-IN-1"], legal_entity=AUDIT_SCOPE["legal_entity"])
        ingest = {"Authorization": f"Bearer {INGEST_TOKEN}"}
        stored = post(service, body.SerializeToString(), "application/x-protobuf", **ingest)
        assert stored.status_code == 200, stored.text
        wait_until_inserted(service, headers={"Authorization": f"Bearer {VIEWER_TOKEN}"})
        yield service


def open_dashboard(service: Service, monkeypatch: pytest.MonkeyPatch, **query: str) -> AppTest:
    monkeypatch.setenv("SYNCSIGHT_API_URL", service.base_url)
    monkeypatch.delenv("SYNCSIGHT_API_TOKEN", raising=False)
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params.update(query)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def sign_in(app: AppTest, token: str) -> AppTest:
    app.text_input[0].set_value(token)
    app.button[0].click().run()
    assert not app.exception, [e.value for e in app.exception]
    return app


class TestSignIn:
    def test_a_dashboard_without_a_token_asks_for_one(
        self, secured: Service, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Only the sign-in form is drawn: a password field and no page."""
        app = open_dashboard(secured, monkeypatch)
        assert [title.value for title in app.title] == ["Sign in to syncsight"]
        assert app.text_input[0].label == "API token"
        assert SESSION_TOKEN not in app.session_state

    def test_a_wrong_token_is_refused(
        self, secured: Service, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The API's 401 is shown; nothing is kept in the session."""
        app = sign_in(open_dashboard(secured, monkeypatch), "not-the-token-0123456789")
        assert "did not accept this token" in " ".join(str(e.value) for e in app.error)
        assert SESSION_TOKEN not in app.session_state

    def test_a_viewer_token_opens_the_pages(
        self, secured: Service, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After signing in, the overview is drawn with the user's token, the sidebar names
        the token as the service does, and offers to sign out."""
        app = sign_in(open_dashboard(secured, monkeypatch), VIEWER_TOKEN)
        assert app.session_state[SESSION_TOKEN] == VIEWER_TOKEN
        assert "Sign in to syncsight" not in [title.value for title in app.title]
        assert f"Signed in as **{short_hash(VIEWER_TOKEN)}** (viewer)" in sidebar_captions(app)
        assert "Sign out" in [button.label for button in app.sidebar.button]
        assert not app.error, [e.value for e in app.error]

    def test_a_named_token_is_signed_in_under_its_name(
        self, secured: Service, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The name SYNCSIGHT_API_TOKENS gives the auditor's token, and its role."""
        app = sign_in(open_dashboard(secured, monkeypatch), AUDITOR_TOKEN)
        assert "Signed in as **ada.auditor** (auditor)" in sidebar_captions(app)

    def test_signing_out_asks_for_a_token_again(
        self, secured: Service, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Sign out forgets the session's token and shows the form."""
        app = sign_in(open_dashboard(secured, monkeypatch), ADMIN_TOKEN)
        next(b for b in app.sidebar.button if b.label == "Sign out").click().run()
        assert SESSION_TOKEN not in app.session_state
        assert [title.value for title in app.title] == ["Sign in to syncsight"]


def sidebar_captions(app: AppTest) -> list[str]:
    return [caption.value for caption in app.sidebar.caption]


def audit_page_as(service: Service, monkeypatch: pytest.MonkeyPatch, token: str) -> AppTest:
    """A new session signed in with ``token`` on the Audit page for LE-US01's 2026-10."""
    app = sign_in(open_dashboard(service, monkeypatch, **AUDIT_SCOPE), token)
    app.switch_page("views/audit.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    return app


class TestAuditPageActsWithThePersonsRole:
    def test_a_viewer_is_told_the_report_needs_an_auditor(
        self, secured: Service, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The service names the viewer's own token and role (/api/v1/me): a notice; nothing
        is shown."""
        app = audit_page_as(secured, monkeypatch, VIEWER_TOKEN)
        notice = " ".join(str(i.value) for i in app.info)
        assert "needs the **auditor** or **admin** role" in notice
        assert f"this session acts as **{short_hash(VIEWER_TOKEN)}** (viewer)" in notice
        assert not app.dataframe
        assert not app.get("download_button")

    def test_an_auditor_reads_the_report_but_not_the_access_trail(
        self, secured: Service, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The report's interfaces as the API gives them to the auditor, three downloads, and a
        sentence instead of the admin-only trail."""
        app = audit_page_as(secured, monkeypatch, AUDITOR_TOKEN)
        expected = httpx.get(
            f"{secured.base_url}/api/v1/audit/report",
            params=AUDIT_SCOPE,
            headers={"Authorization": f"Bearer {AUDITOR_TOKEN}"},
            timeout=60,
        ).json()
        interfaces = app.dataframe[0].value
        assert list(interfaces["interface"]) == [i["interface"] for i in expected["interfaces"]]
        assert len(app.get("download_button")) == 3
        assert any("listed for admins only" in c.value for c in app.caption)

    def test_an_admin_sees_the_auditors_read_on_the_access_trail(
        self, secured: Service, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each person's reads are recorded under their own token's name, not a shared one."""
        httpx.get(
            f"{secured.base_url}/api/v1/audit/report",
            params=AUDIT_SCOPE,
            headers={"Authorization": f"Bearer {AUDITOR_TOKEN}"},
            timeout=60,
        ).raise_for_status()
        app = audit_page_as(secured, monkeypatch, ADMIN_TOKEN)
        trail = app.dataframe[-1].value
        assert {"ada.auditor", "root.admin"} <= set(trail["token"])
        assert set(trail[trail["token"] == "ada.auditor"]["role"]) == {"auditor"}
        assert not any("admins only" in c.value for c in app.caption)


@pytest.fixture(scope="module")
def local_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("no-sign-in")) as service:
        yield service


def test_a_local_only_service_needs_no_sign_in(
    local_only: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without API tokens the service lets reads through, so the dashboard asks nobody."""
    app = open_dashboard(local_only, monkeypatch)
    assert "Sign in to syncsight" not in [title.value for title in app.title]
    assert not app.text_input or app.text_input[0].label != "API token"
    assert "Local-only service: no API tokens, nobody signs in." in sidebar_captions(app)
