"""The dashboard in a real browser: `syncsight dashboard` against a service holding the small
quarter, every page opened in headless Chromium (Debian's package, driven by Playwright), no error
box anywhere, the overview's blocked value equal to the API's total, and the Audit page's report
table with a CSV download the access trail records. Saves screenshots."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from dashboard.figures.money import format_money
from dashboard.launcher import wait_until_healthy
from tests.quarter import LoadedQuarter
from tests.service import SYNCSIGHT, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "dashboard"
README_SCREENSHOT = ROOT / "docs" / "screenshots" / "overview.png"
AS_OF = "2026-10-30T17:00:00Z"
PAGES = {
    "": "How much money is stuck",
    "blocked_invoices": "Blocked invoices",
    "close_risk": "Close risk",
    "slas": "Business SLAs",
    "lineage_explorer": "Lineage explorer",
    "audit": "Audit",
    "alerts": "Alerts",
}

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail("Debian's chromium is missing; `make test` installs it", pytrace=False)
    pytest.skip("no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)


@contextmanager
def running_dashboard(api_url: str, workdir: Path) -> Iterator[str]:
    """`syncsight dashboard` reading ``api_url`` (holding no token of its own), on a free port,
    until the block ends; its URL."""
    assert SYNCSIGHT
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCSIGHT_", "STREAMLIT_"))}
    env |= {"SYNCSIGHT_API_URL": api_url, "SYNCSIGHT_DASHBOARD_PORT": str(port)}
    log_path = workdir / "dashboard.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SYNCSIGHT, "dashboard"], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_healthy(process, url, timeout=60), log_path.read_text(errors="replace")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def dashboard_url(
    quarter: LoadedQuarter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`syncsight dashboard` reading the quarter's service, on a free port."""
    with running_dashboard(quarter.service.base_url, tmp_path_factory.mktemp("dashboard")) as url:
        yield url


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """A fresh headless Chromium profile and one tab."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1600},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def open_rendered(page: Page, url: str) -> None:
    """Load a page and wait until its script has finished and its title is drawn."""
    page.goto(url)
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=60_000)
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=90_000
    )
    page.wait_for_timeout(1_000)  # let plotly finish drawing


def error_boxes(page: Page) -> list[str]:
    boxes = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    return [boxes.nth(i).inner_text() for i in range(boxes.count())]


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_without_an_error_box(
    dashboard_url: str, browser_page: Page, path: str
) -> None:
    """Each page draws its title and no exception or error message; a screenshot is kept."""
    open_rendered(browser_page, f"{dashboard_url}/{path}?as_of={AS_OF}")
    title = browser_page.locator('[data-testid="stMain"] h1').first.inner_text()
    assert PAGES[path] in title
    assert error_boxes(browser_page) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser_page.screenshot(path=str(ARTIFACTS / f"{path or 'overview'}.png"))


def test_overview_blocked_value_equals_the_api_total(
    dashboard_url: str, browser_page: Page, quarter: LoadedQuarter
) -> None:
    """What the executive reads first is exactly what the API says is blocked, per currency."""
    total = httpx.get(
        f"{quarter.service.base_url}/api/v1/impact/blocked-invoices", timeout=60
    ).json()["total"]
    open_rendered(browser_page, f"{dashboard_url}/?as_of={AS_OF}")
    metrics = browser_page.locator('[data-testid="stMetric"]')
    shown = {
        metrics.nth(i).locator('[data-testid="stMetricLabel"]').inner_text().strip(): metrics.nth(i)
        .locator('[data-testid="stMetricValue"]')
        .inner_text()
        .strip()
        for i in range(metrics.count())
    }
    assert total
    for currency, amount in total.items():
        value = shown[f"Blocked · {currency}"]
        assert value == format_money(Decimal(amount), currency)
        assert Decimal(re.sub(r"[^\d.]", "", value)) == Decimal(amount)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser_page.screenshot(path=str(ARTIFACTS / "overview.png"))
    if os.environ.get("UPDATE_SCREENSHOTS") or not README_SCREENSHOT.exists():
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "overview.png", README_SCREENSHOT)


def test_a_top_failure_opens_its_lineage_in_one_click(
    dashboard_url: str, browser_page: Page
) -> None:
    """From the overview, the first failure's link lands on its lineage graph and downloads."""
    open_rendered(browser_page, f"{dashboard_url}/?as_of={AS_OF}")
    browser_page.locator('[data-testid="stPageLink"] a').first.click()
    browser_page.wait_for_selector("text=Path across systems", timeout=60_000)
    browser_page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=90_000
    )
    # The downloads render after the evidence and OCEL fetches of the same run: wait for them
    # rather than for a script state that can be read between two reruns.
    downloads = browser_page.locator('[data-testid="stDownloadButton"]')
    downloads.nth(1).wait_for(timeout=90_000)
    assert error_boxes(browser_page) == []
    assert downloads.count() == 2
    assert browser_page.locator(".js-plotly-plot").count() >= 1


def test_the_audit_page_shows_the_report_and_its_csv_download_is_on_the_access_trail(
    dashboard_url: str, browser_page: Page, quarter: LoadedQuarter
) -> None:
    """The interface table is drawn; the CSV button fetches the service's rendering of the report
    shown (its root hash), and the trail records that download with its format."""
    open_rendered(browser_page, f"{dashboard_url}/audit?as_of={AS_OF}")
    tables = browser_page.locator('[data-testid="stDataFrame"]')
    tables.first.wait_for(timeout=90_000)
    assert error_boxes(browser_page) == []
    assert tables.count() >= 3  # interfaces, differences, ledger heads
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser_page.screenshot(path=str(ARTIFACTS / "audit.png"))
    trail_url = f"{quarter.service.base_url}/api/v1/ledger/downloads"
    [shown] = [
        d for d in httpx.get(trail_url, params={"limit": 20}, timeout=60).json()["downloads"]
        if d["kind"] == "report"
    ][:1]  # fmt: skip
    with browser_page.expect_download(timeout=90_000) as download:
        browser_page.get_by_role("button", name="Report (CSV)").click()
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert shown["root_hash"] in content
    assert download.value.suggested_filename.endswith(".csv")
    newest = httpx.get(trail_url, params={"limit": 1}, timeout=60).json()["downloads"][0]
    assert (newest["kind"], newest["parameters"]["format"]) == ("report", "csv")
    assert newest["parameters"]["known_at"] == shown["parameters"]["known_at"]
    assert newest["root_hash"] == shown["root_hash"]
