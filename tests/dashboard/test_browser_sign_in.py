"""Signing in from a link in a real browser: `syncsight dashboard` without a token of its own, in
front of a service with API tokens, opened in headless Chromium at a page other than the overview
(a link an auditor was sent); after the sign-in form the page the link names is shown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.dashboard.test_browser import browser_page, running_dashboard
from tests.dashboard.test_sign_in import AUDIT_SCOPE, AUDITOR_TOKEN, secured
from tests.service import Service

__all__ = ["browser_page", "secured"]  # fixtures this module uses


@pytest.fixture(scope="module")
def signed_out_dashboard(
    secured: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`syncsight dashboard` holding no token, reading the secured service, on a free port."""
    with running_dashboard(secured.base_url, tmp_path_factory.mktemp("dashboard-sign-in")) as url:
        yield url


def test_a_link_to_the_audit_page_opens_it_once_signed_in(
    signed_out_dashboard: str, browser_page: Page
) -> None:
    """The link asks for a token first; signing in lands on the Audit page with the link's
    period and legal entity, not on the overview."""
    query = "&".join(f"{key}={value}" for key, value in AUDIT_SCOPE.items())
    browser_page.goto(f"{signed_out_dashboard}/audit?{query}")
    browser_page.wait_for_selector('input[type="password"]', timeout=60_000)
    browser_page.fill('input[type="password"]', AUDITOR_TOKEN)
    browser_page.get_by_role("button", name="Sign in").click()
    browser_page.wait_for_selector("text=Signed in as", timeout=60_000)
    browser_page.wait_for_selector(  # the session lives in this tab: no reload
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=90_000
    )
    assert browser_page.locator('[data-testid="stMain"] h1').first.inner_text() == "Audit"
    assert browser_page.url.startswith(f"{signed_out_dashboard}/audit?")
    assert "legal_entity=LE-US01" in browser_page.url
